"""The acceptance test of a ``RoomState`` backend: each atomic operation's observable result.

A new backend (Redis) adds itself to the ``state`` fixture's params and must pass unchanged.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from tkroom.rooms.model import ALL, Event, Target, new_member
from tkroom.rooms.transitions import ClearOutcome, JoinPolicy, SavePolicy
from tkroom.state import open_state
from tkroom.state.base import Session


@pytest.fixture(params=["memory", "redis"])
async def state(request):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    st = open_state(url, window=8, **({"prefix": f"t{secrets.token_hex(4)}"} if url else {}))
    await st.start()
    yield st
    await st.stop()


async def poll(pred, wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def member(uid: str, role: int = 2, session: str = ""):
    return new_member(uid, role, uid.upper(), session or f"s-{uid}", {}, 0)


async def test_limits_hold_under_concurrent_joins(state):
    policy = JoinPolicy(maxusers=5, maxviewers=2)
    joins = [state.add_member("r", member(f"st{i}"), policy) for i in range(20)]
    joins += [state.add_member("r", member(f"v{i}", 3), policy) for i in range(6)]
    joins += [state.add_member("r", member(f"t{i}", 0), policy) for i in range(3)]
    out = await asyncio.gather(*joins)
    codes = [o.code for o in out]
    assert codes[:20].count(0) == 5 and codes[:20].count(64) == 15
    assert codes[20:26].count(0) == 2 and codes[20:26].count(5011) == 4
    assert codes[26:].count(0) == 1 and codes[26:].count(63) == 2
    assert await state.count_members("r") == 8


async def test_second_login_replaces_or_is_refused(state):
    first = member("u", session="a")
    assert (await state.add_member("r", first, JoinPolicy())).code == 0
    out = await state.add_member("r", member("u", session="b"), JoinPolicy())
    assert out.code == 0 and out.replaced.session == "a"
    out = await state.add_member("r", member("u", session="c"), JoinPolicy(singlelogin=True))
    assert out.code == 5208
    # the replaced session can no longer remove the member
    assert (await state.remove_member("r", "u", "a", False)).member is None
    assert (await state.remove_member("r", "u", "b", False)).member.session == "b"


async def test_saved_messages_replace_cascade_and_clear(state):
    await state.add_member("r", member("t", 0), JoinPolicy())
    await state.add_member("r", member("s"), JoinPolicy())
    a = await state.save_message("r", {"id": "A", "name": "A"})
    await state.save_message("r", {"id": "B", "name": "B", "associatedMsgID": "A"})
    await state.save_message("r", {"id": "C", "name": "C", "associatedMsgID": "B"})
    await state.save_message("r", {"id": "D", "name": "D", "associatedUserID": "s"})
    again = await state.save_message("r", {"id": "A", "name": "A2"})
    assert again.replaced == a.message and again.message["seq"] > a.message["seq"]
    assert [m["id"] for m in await state.messages("r")] == ["B", "C", "D", "A"]
    removed = await state.delete_message("r", "A")
    assert [m["id"] for m in removed] == ["B", "C", "A"]
    left = await state.remove_member("r", "s", "", False)
    assert [m["id"] for m in left.removed] == ["D"] and not left.empty
    await state.save_message("r", {"id": "E", "name": "E"})
    assert (await state.remove_member("r", "t", "", False)).empty
    assert await state.messages("r") == []


async def test_saved_messages_guarded_by_author(state):
    """With an ``author``, a same-id copy written by someone else is neither replaced nor
    deleted (atomically: a student cannot take over the teacher's message)."""
    await state.add_member("r", member("t", 0), JoinPolicy())
    await state.add_member("r", member("s"), JoinPolicy())
    doc = await state.save_message("r", {"id": "Doc", "name": "Doc", "fromID": "t",
                                         "data": {"p": 3}})
    await state.save_message("r", {"id": "Note", "name": "Note", "fromID": "t",
                                   "associatedMsgID": "Doc"})
    out = await state.save_message("r", {"id": "Doc", "name": "Doc", "fromID": "s",
                                         "associatedUserID": "s"}, author="s")
    assert out.refused and out.message == doc.message and out.replaced is None
    assert await state.delete_message("r", "Doc", "s") is None
    mine = await state.save_message("r", {"id": "Mine", "name": "Mine", "fromID": "s",
                                          "associatedUserID": "s"}, author="s")
    again = await state.save_message("r", {"id": "Mine", "name": "Mine", "fromID": "s",
                                           "associatedUserID": "s"}, author="s")
    assert not again.refused and again.replaced == mine.message
    assert [m["id"] for m in await state.delete_message("r", "Mine", "s")] == ["Mine"]
    assert await state.delete_message("r", "Ghost", "s") == []
    left = await state.remove_member("r", "s", "", False)
    assert left.removed == []
    assert [m["id"] for m in await state.messages("r")] == ["Doc", "Note"]
    assert (await state.messages("r"))[0]["data"] == {"p": 3}
    # anyone ("" = a super user) may replace and delete
    assert (await state.save_message("r", {"id": "Doc", "name": "Doc", "fromID": "a"})).replaced
    assert [m["id"] for m in await state.delete_message("r", "Doc")] == ["Note", "Doc"]


async def test_evicted_user_is_barred_until_its_time(state):
    """An eviction bars the user id (whatever its ticket) until ``until_ms``; the bar holds
    over the room emptying, is never shortened, and ends at its time."""
    await state.add_member("r", member("t", 0), JoinPolicy())
    await state.add_member("r", member("s"), JoinPolicy())
    await state.bar_member("r", "s", 10_000, 1_000)
    await state.bar_member("r", "s", 5_000, 1_000)          # a shorter bar does not shorten it
    assert (await state.remove_member("r", "s", "", False)).member is not None
    assert (await state.remove_member("r", "t", "", False)).empty
    for at in (1_000, 9_999):
        out = await state.add_member("r", new_member("s", 2, "S", f"x{at}", {}, at), JoinPolicy())
        assert (out.code, out.until_ms) == (4108, 10_000)
    assert await state.count_members("r") == 0
    other = await state.add_member("r", new_member("s2", 2, "S2", "y", {}, 2_000), JoinPolicy())
    assert other.code == 0
    back = await state.add_member("r", new_member("s", 2, "S", "z", {}, 10_000), JoinPolicy())
    assert back.code == 0 and back.member.session == "z"
    # a bar that is over is forgotten: a later one starts afresh
    await state.bar_member("r", "s2", 20_000, 12_000)
    out = await state.add_member("r", new_member("s2", 2, "S2", "w", {}, 15_000), JoinPolicy())
    assert (out.code, out.until_ms) == (4108, 20_000)
    await state.bar_member("r", "s3", 100, 12_000)          # already over: no bar at all
    assert (await state.add_member("r", new_member("s3", 2, "S3", "v", {}, 12_001),
                                   JoinPolicy())).code == 0


async def test_keepstate_keeps_messages(state):
    await state.add_member("r", member("t", 0), JoinPolicy())
    await state.save_message("r", {"id": "A", "name": "A"})
    assert (await state.remove_member("r", "t", "", True)).empty
    assert [m["id"] for m in await state.messages("r")] == ["A"]


async def test_publish_stamps_delivers_and_replays(state):
    got, other = [], []
    await state.subscribe("r", got.append)
    await state.subscribe("r2", other.append)
    stamped = [await state.publish("r", Event("x", {"i": i}, ALL)) for i in range(12)]
    assert [e.s for e in stamped] == list(range(1, 13))
    await poll(lambda: len(got) >= 12)
    assert [e.s for e in got] == list(range(1, 13))
    assert got == stamped
    assert [e.data["i"] for e in await state.replay("r", 9)] == [9, 10, 11]
    assert await state.replay("r", 9) == stamped[9:]
    assert await state.replay("r", 12) == []
    assert await state.replay("r", 2) is None      # window of 8 no longer holds s=3
    state.unsubscribe("r", got.append)
    await state.publish("r", Event("x", {}, Target("none")))
    # events reach a node in publish order: once r2's arrives, r's would have arrived
    await state.publish("r2", Event("y", {}, ALL))
    await poll(lambda: len(other) == 1)
    assert len(got) == 12


async def test_sessions_detach_attach_expire(state):
    await state.add_member("r", member("u", session="S"), JoinPolicy())
    await state.open_session(Session("S", "tok", "r", "u"))
    assert await state.attach_session("S", "bad") is None
    assert await state.detach_session("S", 100.0)
    assert await state.expired_sessions(99.0) == []
    assert await state.expire_session("S", 99.0) is None
    assert (await state.attach_session("S", "tok")).deadline is None
    assert await state.detach_session("S", 100.0)
    assert await state.expired_sessions(100.0) == ["S"]
    assert (await state.expire_session("S", 100.0)).userid == "u"
    assert await state.attach_session("S", "tok") is None


async def test_chat_gate_and_properties(state):
    await state.add_member("r", member("u"), JoinPolicy())
    assert await state.chat_gate("r", "u", 1000, 1000)
    assert not await state.chat_gate("r", "u", 2000, 1000)
    assert await state.chat_gate("r", "u", 2001, 1000)
    m = await state.update_properties("r", "u", {"raisehand": True, "role": 0})
    assert m.properties["raisehand"] is True and m.role == 2 and m.properties["role"] == 2
    assert await state.update_properties("r", "nobody", {"x": 1}) is None


async def test_an_emptied_room_starts_afresh(state):
    await state.add_member("gone", member("u"), JoinPolicy())
    await state.publish("gone", Event("x", {}, ALL))
    assert (await state.remove_member("gone", "u", "", False)).empty
    assert (await state.snapshot("gone", False)).members == []
    assert await state.messages("gone") == []


async def test_saved_message_limits(state):
    policy = SavePolicy(max_room=4, max_user=2)
    await state.add_member("r", member("s"), JoinPolicy())
    for i in range(2):
        out = await state.save_message("r", {"id": f"s{i}", "name": "n", "associatedUserID": "s"},
                                       policy)
        assert not out.refused and out.message["seq"] == i + 1
    extra = {"id": "s2", "name": "n", "associatedUserID": "s"}
    assert (await state.save_message("r", extra, policy)).refused == "user"
    # replacing one of the user's own messages adds nothing: allowed at the limit
    again = await state.save_message("r", {"id": "s0", "name": "n2", "associatedUserID": "s"},
                                     policy)
    assert not again.refused and again.replaced["name"] == "n"
    # another user's messages are counted apart; the room total caps them all
    assert not (await state.save_message("r", {"id": "t0", "name": "n"}, policy)).refused
    assert not (await state.save_message("r", {"id": "v0", "name": "n", "associatedUserID": "v"},
                                         policy)).refused
    refused = await state.save_message("r", {"id": "t1", "name": "n"}, policy)
    assert refused.refused == "room" and "seq" not in refused.message
    assert not (await state.save_message("r", {"id": "t0", "name": "n3"}, policy)).refused
    # moving a message to a user at the limit is one more for that user
    moved = await state.save_message("r", {"id": "t0", "name": "n", "associatedUserID": "s"},
                                     policy)
    assert moved.refused == "user"
    assert [m["id"] for m in await state.messages("r")] == ["s1", "s0", "v0", "t0"]
    assert (await state.get_message("r", "t0"))["name"] == "n3"
    assert await state.get_message("r", "nope") is None
    # a leave frees the user's quota and the room's
    assert [m["id"] for m in (await state.remove_member("r", "s", "", True)).removed] == \
        ["s1", "s0"]
    assert not (await state.save_message("r", extra, policy)).refused
    assert not (await state.save_message("r", {"id": "t1", "name": "n"}, policy)).refused


async def test_cascades_follow_associations_after_replacements(state):
    await state.add_member("r", member("a"), JoinPolicy())
    await state.add_member("r", member("b"), JoinPolicy())
    await state.save_message("r", {"id": "P", "name": "P"})
    await state.save_message("r", {"id": "C1", "name": "C", "associatedMsgID": "P",
                                   "associatedUserID": "a"})
    await state.save_message("r", {"id": "C2", "name": "C", "associatedMsgID": "C1"})
    # C1 is now b's and hangs on nothing: P's delete and a's leave no longer take it
    await state.save_message("r", {"id": "C1", "name": "C", "associatedUserID": "b"})
    await state.save_message("r", {"id": "A1", "name": "A", "associatedUserID": "a"})
    assert [m["id"] for m in await state.delete_message("r", "P")] == ["P"]
    assert [m["id"] for m in (await state.remove_member("r", "a", "", False)).removed] == ["A1"]
    assert [m["id"] for m in (await state.remove_member("r", "b", "", False)).removed] == \
        ["C2", "C1"]
    assert await state.messages("r") == []


async def test_a_new_session_keeps_what_the_class_gave_the_user(state):
    await state.add_member("r", member("u", session="a"), JoinPolicy())
    await state.update_properties("r", "u", {"publishstate": 3, "candraw": True,
                                             "disablechat": True, "hat": "red"})
    again = new_member("u", 2, "U", "b", {"raisehand": True, "scarf": 1}, 0)
    out = await state.add_member("r", again, JoinPolicy())
    want = {"publishstate": 3, "candraw": True, "disablechat": True, "raisehand": False,
            "group": None, "scarf": 1, "role": 2, "nickname": "U"}
    assert out.member.properties == want and out.member.session == "b"
    assert (await state.get_members("r", ["u"]))[0].properties == want
    assert [m.userid for m in (await state.snapshot("r", True)).members] == ["u"]
    # in another role the user starts afresh
    out = await state.add_member("r", new_member("u", 3, "U", "c", {}, 0), JoinPolicy())
    assert out.member.properties["publishstate"] == 0
    assert (await state.snapshot("r", True)).members == []


async def test_children_limit_and_clear(state):
    """``max_children`` caps the messages associated with one message (a board page's
    shapes); ``delete_children`` removes them all at once, with their own cascades, and
    leaves the parent and everything else."""
    policy = SavePolicy(max_children=3)
    await state.add_member("r", member("t", 0), JoinPolicy())
    await state.save_message("r", {"id": "Other", "name": "O"})
    for i in range(3):
        out = await state.save_message("r", {"id": f"a{i}", "name": "S",
                                             "associatedMsgID": "Page_1"}, policy)
        assert not out.refused
    extra = {"id": "a3", "name": "S", "associatedMsgID": "Page_1"}
    assert (await state.save_message("r", extra, policy)).refused == "children"
    # replacing a child of the same parent adds nothing; another parent is counted apart
    again = await state.save_message("r", {"id": "a0", "name": "S2",
                                           "associatedMsgID": "Page_1"}, policy)
    assert not again.refused and again.replaced["name"] == "S"
    assert not (await state.save_message("r", {"id": "b0", "name": "S",
                                               "associatedMsgID": "Page_2"}, policy)).refused
    # moving a message to a full parent is one more for it
    moved = await state.save_message("r", {"id": "b0", "name": "S", "associatedMsgID": "Page_1"},
                                     policy)
    assert moved.refused == "children"
    # the room limit is checked first, then the user's, then the parent's
    both = SavePolicy(max_room=5, max_children=3)
    assert (await state.save_message("r", extra, both)).refused == "room"
    await state.save_message("r", {"id": "g", "name": "G", "associatedMsgID": "a1"})
    await state.save_message("r", {"id": "Page_1", "name": "P"})
    await state.save_message("r", {"id": "gg", "name": "G", "associatedMsgID": "g"})
    out = await state.delete_children("r", "Page_1")
    # the page's own messages are counted; only what hung on them comes back
    assert out.count == 3 and [m["id"] for m in out.cascaded] == ["g", "gg"]
    assert out.cascaded[0]["associatedMsgID"] == "a1"
    assert [m["id"] for m in await state.messages("r")] == ["Other", "b0", "Page_1"]
    assert (await state.delete_children("r", "Page_1")).count == 0
    assert await state.delete_children("r", "nothing") == ClearOutcome(0, [])
    # the page is empty again: its limit counts from zero
    for i in range(3):
        assert not (await state.save_message("r", {"id": f"c{i}", "name": "S",
                                                   "associatedMsgID": "Page_1"}, policy)).refused


def question(qid: str, n: int = 4, multiple: bool = False, **extra):
    return {"qid": qid, "options": [chr(65 + i) for i in range(n)], "multiple": multiple,
            "asked_at": 1000, **extra}


async def test_answer_card_tally_replaces_and_closes(state):
    assert await state.open_card("r", question("q1", right=[2])) == (0, None)
    assert (await state.open_card("r", question("q1")))[0] == 103      # a used id
    tallies = await asyncio.gather(*(state.answer_card("r", "q1", f"s{i}", (i % 4,), 2000)
                                     for i in range(40)))
    assert all(t.code == 0 for t in tallies)
    assert sorted(t.version for t in tallies) == list(range(1, 41))
    last = max(tallies, key=lambda t: t.version)
    assert last.counts == (10, 10, 10, 10) and last.answered == 40
    # a changed answer replaces the first
    again = await state.answer_card("r", "q1", "s0", (3,), 2000)
    assert again.counts == (9, 10, 10, 11) and again.answered == 40
    bad = await state.answer_card("r", "q1", "s0", (4,), 2000)          # no option 4
    assert bad.code == 103
    bad = await state.answer_card("r", "q1", "s0", (0, 1), 2000)        # single choice
    assert bad.code == 103
    assert (await state.answer_card("r", "nope", "s0", (0,), 2000)).code == 4105
    closed = await state.close_card("r", "q1")
    assert closed.qid == "q1" and closed.counts == [9, 10, 10, 11] and closed.answered == 40
    assert closed.answers["s0"] == [3] and closed.question["right"] == [2]
    assert await state.close_card("r", "q1") is None
    assert (await state.answer_card("r", "q1", "s1", (0,), 2000)).code == 4105


async def test_a_new_card_closes_the_open_one_and_time_limits_hold(state):
    await state.open_card("r", question("a", 3, True, limit_s=2))
    assert (await state.answer_card("r", "a", "s", (0, 2), 3000)).counts == (1, 0, 1)
    assert (await state.answer_card("r", "a", "t", (1,), 3001)).code == 4105   # after 1000+2000
    code, prev = await state.open_card("r", question("b"))
    assert code == 0 and prev.qid == "a" and prev.answers == {"s": [0, 2]}
    assert (await state.answer_card("r", "a", "s", (0,), 1000)).code == 4105
    assert (await state.answer_card("r", "b", "s", (1,), 10**12)).counts == (0, 1, 0, 0)
    await state.clear_tools("r")
    assert (await state.open_card("r", question("a"))) == (0, None)     # forgotten


async def test_buzzer_has_one_winner_per_round(state):
    assert (await state.press_buzzer("r", 1, "s0", 5)).code == 4105     # not armed
    assert await state.arm_buzzer("r") == (1, "")
    presses = await asyncio.gather(*(state.press_buzzer("r", 1, f"s{i}", 10 + i)
                                     for i in range(30)))
    winners = [p for p in presses if p.code == 0]
    assert len(winners) == 1
    assert all(p.code == 2602 and p.winner == winners[0].winner for p in presses
               if p.code != 0)
    assert (await state.press_buzzer("r", 2, "s0", 50)).code == 4105    # another round
    assert await state.arm_buzzer("r") == (2, winners[0].winner)
    assert (await state.press_buzzer("r", 1, "s0", 60)).code == 4105    # the old round
    assert (await state.press_buzzer("r", 2, "s3", 61)) .winner == "s3"
    assert await state.disarm_buzzer("r") == "s3"
    assert (await state.press_buzzer("r", 2, "s4", 62)).code == 4105
    assert await state.disarm_buzzer("r") == ""


async def test_gifts_count_atomically_and_set_the_property(state):
    await state.add_member("r", member("s1"), JoinPolicy())
    results = await asyncio.gather(*(state.give_gifts("r", ["s1", "gone"]) for _ in range(25)))
    assert sorted(r["s1"] for r in results) == list(range(1, 26))
    assert await state.gift_totals("r", ["s1", "gone", "none"]) == {"s1": 25, "gone": 25}
    (s1,) = await state.get_members("r", ["s1"])
    assert s1.properties["giftnumber"] == 25
    assert await state.get_members("r", ["gone"]) == []


async def test_clearing_the_tools_hands_back_the_open_card(state):
    await state.open_card("r", question("q"))
    await state.answer_card("r", "q", "s", (1,), 2000)
    await state.arm_buzzer("r")
    await state.give_gifts("r", ["s"])
    closed = await state.clear_tools("r")
    assert closed.qid == "q" and closed.answers == {"s": [1]}
    assert await state.clear_tools("r") is None
    assert await state.gift_totals("r", ["s"]) == {}
    assert await state.arm_buzzer("r") == (1, "")                       # the rounds start afresh
    assert await state.open_card("r", question("q")) == (0, None)


# ---- stream claims (tkroom.rooms.streams) ----------------------------------------------------

async def test_concurrent_stream_claims_never_pass_the_room_limits(state):
    cams = [state.claim_stream("r", f"u{i}:video:default", f"u{i}", True, False, 2, 0)
            for i in range(12)]
    mics = [state.claim_stream("r", f"u{i}:audio:default", f"u{i}", False, True, 2, 3)
            for i in range(12)]
    out = await asyncio.gather(*cams, *mics)
    assert out[:12].count(None) == 2 and out[:12].count("video") == 10
    assert out[12:].count(None) == 3 and out[12:].count("audio") == 9
    claims = await state.stream_claims("r")
    assert sum(c.has_video for c in claims.values()) == 2
    assert sum(c.has_audio for c in claims.values()) == 3
    # a shared media file carries both, and counts against both limits
    assert await state.claim_stream("r", "t:media:default", "t", True, True, 3, 3) == "audio"
    assert await state.claim_stream("r", "t:media:default", "t", True, True, 3, 4) is None
    assert await state.claim_stream("r", "x:video:default", "x", True, False, 3, 0) == "video"
    assert await state.claim_stream("r", "x:audio:default", "x", False, True, -1, 0) is None
    # no limit at all: maxvideo negative, maxaudio 0
    assert await state.claim_stream("r", "x:screen:default", "x", True, False, -1, 0) is None


async def test_a_released_claim_frees_its_place_and_a_stream_is_claimed_once(state):
    assert await state.claim_stream("r", "a:video:default", "a", True, False, 1, 0) is None
    assert await state.claim_stream("r", "a:video:default", "a", True, False, 5, 0) == "taken"
    assert await state.claim_stream("r", "b:video:default", "b", True, False, 1, 0) == "video"
    assert await state.release_stream("r", "a:video:default")
    assert not await state.release_stream("r", "a:video:default")
    assert await state.claim_stream("r", "b:video:default", "b", True, False, 1, 0) is None
    assert set(await state.stream_claims("r")) == {"b:video:default"}
    # other rooms count on their own
    assert await state.claim_stream("r2", "a:video:default", "a", True, False, 1, 0) is None


async def test_the_room_claims_go_only_once_nobody_is_left(state):
    await state.add_member("r", member("t", 0), JoinPolicy())
    assert await state.claim_stream("r", "t:video:default", "t", True, False, 1, 0) is None
    assert await state.release_streams("r") == 0
    assert "t:video:default" in await state.stream_claims("r")
    await state.remove_member("r", "t", "", False)
    assert await state.release_streams("r") == 1
    assert await state.stream_claims("r") == {}
    assert await state.claim_stream("r", "u:video:default", "u", True, False, 1, 0) is None
