"""The SDK's local copy of a room, event by event, without a socket: ``RoomMirror`` answers the
application events each server event causes and keeps users, messages and mode as the server
said."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tkroom.client.mirror import RoomMirror


def joined(mode: str = "normalRoom") -> RoomMirror:
    m = RoomMirror()
    m.load({
        "self": {"id": "me", "properties": {"role": 2, "group": "g1"}},
        "userlist": [{"id": "t", "properties": {"role": 0}}, {"id": "s2", "properties": {"role": 2}}],
        "room": {"serial": "r1"},
        "msglist": [{"id": "b", "name": "B", "seq": 7}, {"id": "a", "name": "A", "seq": 3}],
        "mode": mode, "s": 10, "session": {"id": "sess", "token": "tok"},
    })
    return m


def names(applied) -> list[str]:
    return [name for name, _ in applied.events]


def test_a_join_answer_becomes_the_whole_copy() -> None:
    m = joined()
    assert set(m.all_users()) == {"me", "t", "s2"}
    assert m.myself() == {"id": "me", "properties": {"role": 2, "group": "g1"}}
    assert [msg["id"] for msg in m.messages()] == ["a", "b"]  # seq order, not list order
    assert m.group == "g1" and m.mode == "normalRoom" and m.room == {"serial": "r1"}
    assert m.session == {"id": "sess", "token": "tok"} and m.last_s == 10


def test_events_already_applied_are_dropped_once_resumed() -> None:
    m = joined()
    assert m.apply("pubMsg", {"id": "x", "name": "X", "save": True}, 10) is None
    assert m.apply("pubMsg", {"id": "x", "name": "X", "save": True}, 9) is None
    assert "x" not in m.msgs
    out = m.apply("pubMsg", {"id": "x", "name": "X", "save": True}, 11)
    assert names(out) == ["room-pubmsg"] and m.last_s == 11
    assert m.apply("notice", {"kind": "info"}, None) is not None  # unnumbered: always applied
    assert m.last_s == 11


def test_people_come_and_go() -> None:
    m = joined()
    out = m.apply("participantJoined", {"id": "new", "properties": {"role": 2}}, None)
    assert out.events == [("room-participant_join", {"user": {"id": "new",
                                                              "properties": {"role": 2}}})]
    out.events[0][1]["user"]["properties"]["role"] = 0  # the application's copy, not ours
    assert m.user("new")["properties"]["role"] == 2
    out = m.apply("participantLeft", {"id": "t"}, None)
    assert out.events == [("room-participant_leave", {"user": {"id": "t",
                                                               "properties": {"role": 0}},
                                                      "id": "t"})]
    assert m.user("t") is None
    out = m.apply("participantLeft", {"id": "ghost"}, None)
    assert out.events[0][1]["user"] == {"id": "ghost", "properties": {}}
    assert names(m.apply("participantJoined", {"properties": {}}, None)) == []


def test_eviction_of_oneself_ends_the_stay_and_of_others_is_a_leave() -> None:
    m = joined()
    other = m.apply("participantEvicted", {"id": "s2", "reason": 1}, None)
    assert names(other) == ["room-participant_leave"] and not other.evicted
    assert m.user("s2") is None
    me = m.apply("participantEvicted", {"id": "me", "reason": 1, "fromID": "t"}, None)
    assert me.evicted
    assert me.events == [("room-participant_evicted", {"reason": 1, "fromID": "t"})]


def test_property_changes_update_the_user_and_our_group() -> None:
    m = joined()
    out = m.apply("setProperty", {"id": "s2", "properties": {"raisehand": True},
                                  "fromID": "s2"}, None)
    assert out.events == [("room-userproperty-changed", {
        "user": {"id": "s2", "properties": {"role": 2, "raisehand": True}},
        "message": {"raisehand": True}, "fromID": "s2"})]
    m.apply("setProperty", {"id": "me", "properties": {"group": "g2"}}, None)
    assert m.group == "g2" and m.myself()["properties"]["group"] == "g2"
    assert names(m.apply("setProperty", {"id": "s2", "properties": "nope"}, None)) == []


def test_big_room_tracks_only_the_stage_and_the_teachers() -> None:
    m = joined("bigRoom")
    m.apply("setProperty", {"id": "far", "properties": {"publishstate": 3, "role": 2}}, None)
    assert m.user("far") == {"id": "far", "properties": {"publishstate": 3, "role": 2}}
    m.apply("setProperty", {"id": "far", "properties": {"publishstate": 0}}, None)
    assert m.user("far") is None
    m.apply("setProperty", {"id": "t", "properties": {"publishstate": 0}}, None)
    assert m.user("t") is not None  # the teacher stays known off stage
    out = m.apply("setProperty", {"id": "unknown", "properties": {"raisehand": True}}, None)
    assert names(out) == ["room-userproperty-changed"] and m.user("unknown") is None


def test_saved_messages_mode_and_notices() -> None:
    m = joined()
    m.apply("pubMsg", {"id": "a", "name": "A", "seq": 12, "save": True}, None)
    assert [msg["id"] for msg in m.messages()] == ["b", "a"]  # re-saved: now the latest
    m.apply("pubMsg", {"id": "tmp", "name": "T"}, None)
    assert "tmp" not in m.msgs  # not saved
    assert names(m.apply("delMsg", {"id": "b", "name": "B"}, None)) == ["room-delmsg"]
    assert [msg["id"] for msg in m.messages()] == ["a"]
    out = m.apply("msgList", {"msglist": [{"id": "z", "seq": 2}, {"id": "y", "seq": 1},
                                          {"seq": 3}]}, None)
    assert out.events == [("room-msglist", {"message": [{"id": "y", "seq": 1},
                                                        {"id": "z", "seq": 2}]})]
    m.apply("pubMsg", {"id": "BigRoom", "name": "BigRoom"}, None)
    assert m.mode == "bigRoom"
    assert m.apply("roomModeChanged", {"mode": "normalRoom"}, None).events == [
        ("room-mode-changed", {"mode": "normalRoom"})]
    kinds = [names(m.apply("notice", {"kind": k}, None)) for k in ("error", "warn", "info", "?")]
    assert kinds == [["room-error-notice"], ["room-warn-notice"], ["room-info-notice"],
                     ["room-info-notice"]]
    assert m.apply("forceReconnect", {}, None).events == []  # the session's business


def test_after_a_fresh_join_the_difference_is_announced() -> None:
    m = joined()
    before = m.users
    m.load({"self": {"id": "me", "properties": {"role": 2}},
            "userlist": [{"id": "t", "properties": {"role": 0}},
                         {"id": "late", "properties": {"role": 2}}], "s": 1})
    assert m.diff(before) == [
        ("room-participant_leave", {"user": {"id": "s2", "properties": {"role": 2}}, "id": "s2"}),
        ("room-participant_join", {"user": {"id": "late", "properties": {"role": 2}}}),
    ]
    assert m.group is None and m.last_s == 1
    m.set_group("g1")
    assert m.myself()["properties"]["group"] == "g1"


def test_readers_hand_out_copies() -> None:
    m = joined()
    m.all_users()["me"]["properties"]["role"] = 0
    m.myself()["properties"]["role"] = 0
    assert m.user("me")["properties"]["role"] == 2


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)
_EVENTS = ["participantJoined", "participantLeft", "participantEvicted", "setProperty",
           "sendMessage", "pubMsg", "delMsg", "msgList", "roomModeChanged", "notice"]


@settings(max_examples=400, deadline=None)
@given(ev=st.sampled_from(_EVENTS),
       data=st.fixed_dictionaries({}, optional={
           "id": _json, "properties": _json, "msglist": _json, "mode": _json, "kind": _json,
           "name": _json, "save": _json, "seq": _json}))
def test_a_malformed_event_is_ignored_not_fatal(ev: str, data: dict) -> None:
    """An event the SDK cannot make sense of (an id that is not text, a message list of
    anything) must not raise: the socket reader would die with it and the room reconnect."""
    m = joined()
    m.apply(ev, data, None)
    assert m.user("me") is not None
    assert all(isinstance(uid, str) for uid in m.all_users())
    assert all(isinstance(mid, str) for mid in m.msgs)
