"""Who may touch class state and saved messages, decided without sockets: a student cannot
begin or end the class, ban chat, switch the room's mode, or take over others' messages."""

from __future__ import annotations

import pytest

from tkroom.errors import CodeError
from tkroom.rooms import decisions as dec
from tkroom.rooms import rules
from tkroom.rooms import transitions as t
from tkroom.rooms.model import new_member

CLASS_STATE = ("ClassBegin", "EveryoneBanChat", "OnlyAudioRoom", "BigRoom")
HOSTILE = {"toID": "__none", "save": True, "associatedUserID": "s", "data": {"record": True}}


def member(uid: str, role: int = 2):
    return new_member(uid, role, uid.upper(), f"sess-{uid}", {}, 0)


def code(fn, *args) -> int:
    with pytest.raises(CodeError) as exc:
        fn(*args)
    return exc.value.code


@pytest.mark.parametrize("mid", CLASS_STATE)
@pytest.mark.parametrize("toid", ["__none", "__allSuperUsers", "t", ["t"]])
def test_class_state_is_the_super_users_alone(mid, toid):
    student = member("s")
    for data in ({"name": mid, "id": mid}, {"name": mid, "id": "x"}, {"name": "x", "id": mid}):
        assert code(rules.check_pubmsg, student, {**data, **HOSTILE, "toID": toid}, 1) == 4108
        assert code(rules.check_pubmsg, student, {**data, "toID": toid}, 1) == 4108
        assert code(rules.check_delmsg, student, {**data, "toID": toid}, 1) == 4108
    with pytest.raises(CodeError) as exc:
        rules.check_pubmsg(student, {"name": mid, **HOSTILE}, 1)
    assert mid in exc.value.message and "teacher" in exc.value.message
    for role in (0, 1):
        msg, _ = rules.check_pubmsg(member("t", role), {"name": mid, "toID": "__all",
                                                        "save": True}, 1)
        assert msg["id"] == mid
        rules.check_delmsg(member("t", role), {"name": mid, "toID": "__all"}, 1)


def test_a_students_list_is_one_user_id():
    student = member("s")
    for toid in (["t", "a"], ["t", "s", "s2"], ["s2"] * 2):
        assert code(rules.check_pubmsg, student, {"name": "n", "toID": toid}, 1) == 4108
        assert code(rules.check_delmsg, student, {"name": "n", "toID": toid}, 1) == 4108
    _, target = rules.check_pubmsg(student, {"name": "n", "toID": ["t"]}, 1)
    assert target.ids == ("t",)
    _, target = rules.check_pubmsg(member("t", 0), {"name": "n", "toID": ["a", "b", "c"]}, 1)
    assert target.ids == ("a", "b", "c")


def test_saved_author():
    assert rules.saved_author(member("s")) == "s"
    assert rules.saved_author(member("t", 0)) == ""
    assert rules.saved_author(member("a", 1)) == ""


def test_a_student_cannot_replace_or_delete_the_teachers_messages():
    room = t.RoomData()
    for m in (member("t", 0), member("s")):
        t.add_member(room, m, t.JoinPolicy())
    teacher, student = member("t", 0), member("s")
    doc, _ = rules.check_pubmsg(teacher, {"name": "DocumentChange", "toID": "__all",
                                          "save": True, "data": {"page": 3}}, 1)
    kept = t.save_message(room, doc, author=rules.saved_author(teacher)).message
    note, _ = rules.check_pubmsg(teacher, {"name": "Note", "toID": "__all", "save": True,
                                           "associatedMsgID": "DocumentChange"}, 2)
    t.save_message(room, note, author=rules.saved_author(teacher))
    hand, _ = rules.check_pubmsg(teacher, {"name": "Hand", "toID": "__all", "save": True,
                                           "associatedUserID": "s"}, 3)
    t.save_message(room, hand, author=rules.saved_author(teacher))
    fake, _ = rules.check_pubmsg(student, {"name": "DocumentChange", **HOSTILE}, 4)
    out = t.save_message(room, fake, author=rules.saved_author(student))
    assert out.refused and room.messages["DocumentChange"] == kept
    assert t.delete_message(room, "DocumentChange", rules.saved_author(student)) is None
    assert t.delete_message(room, "Hand", rules.saved_author(student)) is None
    # its own message, it may replace and delete
    own, _ = rules.check_pubmsg(student, {"name": "Mine", **HOSTILE}, 5)
    assert not t.save_message(room, own, author="s").refused
    assert not t.save_message(room, {**own, "ts": 6}, author="s").refused
    assert [m["id"] for m in t.delete_message(room, "Mine", "s")] == ["Mine"]
    t.save_message(room, own, author="s")
    # its leaving takes its own message and the teacher's message associated with it, no other
    events, classstate = dec.left(t.remove_member(room, "s", "", False), False, 7)
    assert [e.data["id"] for e in events if e.ev == "delMsg"] == ["Hand", "Mine"]
    assert classstate is None
    assert list(room.messages) == ["DocumentChange", "Note"]
    assert room.messages["DocumentChange"] == kept
    # the teacher replaces and deletes anyone's
    t.save_message(room, own, author="s")
    assert t.save_message(room, {**doc, "fromID": "a"}, author="").replaced == kept
    assert [m["id"] for m in t.delete_message(room, "Mine", "")] == ["Mine"]


def test_a_student_saves_only_messages_associated_with_itself():
    student = member("s")
    for assoc in (None, "t", "s2"):
        data = {"name": "n", "toID": "__none", "save": True, "associatedUserID": assoc}
        assert code(rules.check_pubmsg, student, data, 1) == 4108


def test_an_eviction_bars_the_user_id_until_its_time():
    room = t.RoomData()
    t.add_member(room, member("t", 0), t.JoinPolicy())
    t.bar(room, "s", 180_000, 0)
    for at in (0, 179_999):
        out = t.add_member(room, new_member("s", 2, "S", f"x{at}", {}, at), t.JoinPolicy())
        assert (out.code, out.until_ms) == (t.ERR_EVICTED, 180_000) and "s" not in room.members
    assert t.add_member(room, new_member("s2", 2, "S2", "y", {}, 1), t.JoinPolicy()).code == 0
    t.bar(room, "s", 60_000, 1_000)                        # never shortened
    assert t.add_member(room, new_member("s", 2, "S", "z", {}, 90_000), t.JoinPolicy()).code
    assert t.add_member(room, new_member("s", 2, "S", "z", {}, 180_000), t.JoinPolicy()).code == 0
    assert room.barred == {}                               # a bar that is over is forgotten
    t.bar(room, "s2", 5_000, 1_000)
    t.bar(room, "s3", 9_000, 6_000)
    assert room.barred == {"s3": 9_000}
