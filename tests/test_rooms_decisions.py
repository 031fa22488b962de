"""The events each outcome causes, decided without sockets."""

from __future__ import annotations

from tkroom.rooms import decisions as dec
from tkroom.rooms import transitions as t
from tkroom.rooms.model import ALL, Target, new_member


def member(uid, role=2, stage=0, session=""):
    m = new_member(uid, role, uid.upper(), session or f"s-{uid}", {}, 0)
    m.properties["publishstate"] = stage
    return m


def test_join_announced_unless_invisible():
    assert [e.ev for e in dec.joined(member("a"), None, big=False)] == ["participantJoined"]
    assert dec.joined(member("a"), None, big=True) == []
    assert dec.joined(member("i", 4), None, big=False) == []
    assert [e.ev for e in dec.joined(member("t", 0), None, big=True)] == ["participantJoined"]
    ev = dec.joined(member("a", session="new"), member("a", session="old"), False)
    assert ev[0].ev == "participantEvicted" and ev[0].target == Target("session", ids=("old",))
    assert ev[0].data["reason"] == {"code": 5208}
    # the old session's media goes; the user is announced again, never as having left
    assert [e.ev for e in ev] == ["participantEvicted", "_departed", "participantJoined"]
    assert ev[1].data == {"id": "a", "session": "old"}
    assert ev[2].target.matches("a", 2, None, "new") is False        # not to the joiner


def test_big_room_switch_once():
    assert dec.needs_big_room(101, 100, False)
    assert not dec.needs_big_room(100, 100, False)
    assert not dec.needs_big_room(500, 100, True)
    assert not dec.needs_big_room(500, 0, False)
    room = t.RoomData()
    first = t.save_message(room, dec.big_room_message(1))
    again = t.save_message(room, dec.big_room_message(2))
    assert [e.ev for e in dec.entered_big_room(first)] == ["pubMsg", "roomModeChanged"]
    assert dec.entered_big_room(again) == []


def test_leaving_cascades_and_ends_class():
    room = t.RoomData()
    t.add_member(room, member("t", 0), t.JoinPolicy())
    t.add_member(room, member("s"), t.JoinPolicy())
    t.save_message(room, {"id": "ClassBegin", "name": "ClassBegin"})
    t.save_message(room, {"id": "hand", "name": "hand", "associatedUserID": "s"})
    events, cls = dec.left(t.remove_member(room, "s", "", False), False, 9)
    assert [(e.ev, e.data["id"]) for e in events] == [("participantLeft", "s"), ("delMsg", "hand")]
    assert events[1].data["fromID"] == "__server" and events[1].target == ALL
    assert cls is None
    events, cls = dec.left(t.remove_member(room, "t", "", False), False, 9)
    assert cls == dec.CLASS_ENDED and [e.ev for e in events] == ["participantLeft"]
    assert dec.left(t.remove_member(room, "t", "", False), False, 9) == ([], None)


def test_pub_and_del_class_state():
    room = t.RoomData()
    msg = {"id": "ClassBegin", "name": "ClassBegin"}
    _, cls = dec.published(msg, ALL, t.save_message(room, msg))
    assert cls == dec.CLASS_BEGAN
    _, cls = dec.published(msg, ALL, t.save_message(room, msg))
    assert cls is None                                   # replacing is not a new class
    t.save_message(room, {"id": "q", "name": "q", "associatedMsgID": "ClassBegin"})
    events, cls = dec.deleted(msg, ALL, t.delete_message(room, "ClassBegin"), 5)
    assert cls == dec.CLASS_ENDED and [e.data["id"] for e in events] == ["ClassBegin", "q"]
    assert dec.published({"id": "x"}, ALL, None)[0][0].data == {"id": "x"}


def test_class_end_clears_the_stage_but_not_the_teachers():
    t_, a = member("t", 0, stage=3), member("a", 1, stage=1)
    on, off, v = member("on", stage=3), member("off"), member("v", 3, stage=2)
    hand, both = member("hand"), member("both", stage=4)
    a.properties["raisehand"] = hand.properties["raisehand"] = True
    both.properties["raisehand"] = True
    changes = dec.stage_cleared([t_, a, on, off, v, hand, both])
    assert [(m.userid, props) for m, props in changes] == [
        ("on", {"publishstate": 0}),
        ("v", {"publishstate": 0}),
        ("hand", {"raisehand": False}),
        ("both", {"publishstate": 0, "raisehand": False}),
    ]
    assert dec.stage_cleared([off, t_]) == []


def test_going_on_stage_in_a_big_room():
    s = member("s", stage=2)
    evs = dec.property_changed(False, s, {"publishstate": 2}, "t", ALL, big=True)
    assert [e.ev for e in evs] == ["setProperty", "participantPublished"]
    assert len(dec.property_changed(True, s, {"publishstate": 3}, "t", ALL, big=True)) == 1
    assert len(dec.property_changed(False, s, {"publishstate": 2}, "t", ALL, big=False)) == 1


def test_missed_and_resolved():
    ms = [member("t", 0), member("s1"), member("s2"), member("v", 3)]
    s1 = ms[1]
    events = [dec.chatted({}, Target("user", ids=("s1",))), dec.chatted({}, Target("user", ids=("s2",))),
              dec.taken_over("x", "y"), dec.evicted(s1, None, "t"), dec.chatted({}, ALL)]
    assert dec.missed_for(events, s1) == [events[0], events[3], events[4]]
    assert dec.resolve(Target("except_auditor"), ms) == ["t", "s1", "s2"]
    assert dec.resolve(Target("none"), ms) == []
