"""Hypothesis properties of the room core: thousands of cases, no sockets, no clock."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tkroom.errors import CodeError
from tkroom.rooms import rules
from tkroom.rooms import transitions as t
from tkroom.rooms.model import ALL, INHERITED_PROPS, Event, Target, new_member

USERS = [f"u{i}" for i in range(8)]
MSG_IDS = [f"m{i}" for i in range(6)]


class RoomMachine(RuleBasedStateMachine):
    """Random joins, leaves, saves, deletes and events; the invariants must always hold."""

    def __init__(self) -> None:
        super().__init__()
        self.room = t.RoomData()
        self.policy = t.JoinPolicy(maxusers=3, maxviewers=1)
        self.keep = False
        self.sessions = 0
        self.published: list[Event] = []
        self.now = 0
        self.bars: dict[str, int] = {}       # the model: uid -> may join again from

    @rule(uid=st.sampled_from(USERS), role=st.integers(0, 4),
          single=st.booleans())
    def join(self, uid, role, single):
        self.sessions += 1
        before = dict(self.room.members)
        m = new_member(uid, role, uid, f"s{self.sessions}", {}, self.now)
        out = t.add_member(self.room, m, t.JoinPolicy(3, 1, single))
        barred = self.bars.get(uid, 0) > self.now
        assert (out.code == t.ERR_EVICTED) == barred
        if out.code:
            assert self.room.members == before
            assert out.code in (63, 64, 5011, 5208, t.ERR_EVICTED)
            if out.code == 5208:
                assert single and uid in before
        else:
            assert self.room.members[uid] is m
            assert out.replaced is before.get(uid)
            old = before.get(uid)
            if old is not None and old.role == role:    # a reload keeps what the class gave
                assert all(m.properties[k] == old.properties[k] for k in INHERITED_PROPS)

    @rule(ms=st.integers(0, 40))
    def tick(self, ms):
        self.now += ms

    @rule(uid=st.sampled_from(USERS), ms=st.integers(0, 60))
    def evict(self, uid, ms):
        t.bar(self.room, uid, self.now + ms, self.now)
        if ms:
            self.bars[uid] = max(self.bars.get(uid, 0), self.now + ms)
        assert all(until > self.now for until in self.room.barred.values())

    @rule(uid=st.sampled_from(USERS), own=st.booleans())
    def leave(self, uid, own):
        m = self.room.members.get(uid)
        sid = (m.session if own else "other") if m else "x"
        out = t.remove_member(self.room, uid, sid, self.keep)
        if m is None or not own:
            assert out.member is None
            return
        assert uid not in self.room.members
        assert all(v.get("associatedUserID") != uid for v in self.room.messages.values())
        assert all(r.get("associatedUserID") == uid or r.get("associatedMsgID")
                   for r in out.removed)
        if not self.room.members and not self.keep:
            assert self.room.messages == {}

    @rule(mid=st.sampled_from(MSG_IDS), amsg=st.none() | st.sampled_from(MSG_IDS),
          auser=st.none() | st.sampled_from(USERS), by=st.sampled_from(USERS[:2]),
          author=st.sampled_from(["", "", "u0", "u1"]), max_room=st.integers(0, 5),
          max_user=st.integers(0, 3), max_children=st.integers(0, 2))
    def save(self, mid, amsg, auser, by, author, max_room, max_user, max_children):
        msg = {"id": mid, "name": mid, "fromID": by}
        if amsg:
            msg["associatedMsgID"] = amsg
        if auser:
            msg["associatedUserID"] = auser
        old = self.room.messages.get(mid)
        seq = self.room.seq
        before = dict(self.room.messages)
        count = len(self.room.messages)
        owned = sum(1 for v in before.values() if auser and v.get("associatedUserID") == auser)
        siblings = sum(1 for v in before.values() if amsg and v.get("associatedMsgID") == amsg)
        out = t.save_message(self.room, msg, t.SavePolicy(max_room, max_user, max_children),
                             author=author)
        if old is not None and author and old["fromID"] != author:
            assert out.refused == "author" and self.room.messages[mid] is old
            assert self.room.seq == seq and self.room.messages == before
            return
        if out.refused:
            assert self.room.messages == before and out.replaced is None
            if out.refused == "room":
                assert old is None and count >= max_room > 0
            elif out.refused == "children":
                assert siblings >= max_children > 0 and amsg
                assert old is None or old.get("associatedMsgID") != amsg
            else:
                assert owned >= max_user > 0 and auser
                assert old is None or old.get("associatedUserID") != auser
            return
        assert out.replaced == old
        assert self.room.messages[mid]["seq"] == self.room.seq
        assert not max_room or old is not None or count < max_room
        assert not (max_user and auser) or owned < max_user or (
            old is not None and old.get("associatedUserID") == auser)
        assert not (max_children and amsg) or siblings < max_children or (
            old is not None and old.get("associatedMsgID") == amsg)

    @rule(parent=st.sampled_from(MSG_IDS))
    def clear(self, parent):
        before = dict(self.room.messages)
        direct = {k for k, v in before.items() if v.get("associatedMsgID") == parent}
        out = t.delete_children(self.room, parent)
        gone = set(before) - set(self.room.messages)
        assert out.count == len(direct) and direct <= gone
        assert {r["id"] for r in out.cascaded} == gone - direct      # the rest: cascades
        if parent in gone:      # only as the cascade of a child it hangs on
            assert before[parent].get("associatedMsgID") in gone
        assert all(v.get("associatedMsgID") not in gone | {parent}
                   for v in self.room.messages.values())
        assert [r["seq"] for r in out.cascaded] == sorted(r["seq"] for r in out.cascaded)

    @rule(keep=st.booleans())
    def set_keep(self, keep):
        self.keep = keep

    @rule(n=st.integers(1, 3))
    def publish(self, n):
        for _ in range(n):
            self.published.append(t.append_event(self.room, Event("x", {}, ALL), 5))

    @rule(after=st.integers(0, 40))
    def replay(self, after):
        got = t.replay(self.room, after)
        want = [e for e in self.published if e.s > after]
        if got is None:
            assert want and want[0].s < self.room.window[0].s
        else:
            assert got == want

    @invariant()
    def limits_hold(self):
        roles = [m.role for m in self.room.members.values()]
        assert all(t.count_role(self.room, r) == roles.count(r) for r in range(5))
        assert roles.count(0) <= 1
        assert roles.count(2) <= self.policy.maxusers
        assert roles.count(3) <= self.policy.maxviewers

    @invariant()
    def saved_in_seq_order(self):
        seqs = [v["seq"] for v in t.snapshot(self.room, False).messages]
        assert seqs == sorted(set(seqs))
        assert all(v["seq"] <= self.room.seq for v in self.room.messages.values())
        assert list(self.room.messages) == [v["id"] for v in
                                            sorted(self.room.messages.values(),
                                                   key=lambda v: v["seq"])]

    @invariant()
    def cascade_indexes_match_the_messages(self):
        by_user: dict[str, dict[str, None]] = {}
        children: dict[str, dict[str, None]] = {}
        for v in self.room.messages.values():
            if "associatedUserID" in v:
                by_user.setdefault(v["associatedUserID"], {})[v["id"]] = None
            if "associatedMsgID" in v:
                children.setdefault(v["associatedMsgID"], {})[v["id"]] = None
        assert {k: set(v) for k, v in self.room.by_user.items()} == {
            k: set(v) for k, v in by_user.items()}
        assert {k: set(v) for k, v in self.room.children.items()} == {
            k: set(v) for k, v in children.items()}

    @invariant()
    def big_room_list_is_super_users_and_stage(self):
        want = [m for m in self.room.members.values() if m.role <= 1 or m.on_stage]
        assert sorted(m.userid for m in t.snapshot(self.room, True).members) == sorted(
            m.userid for m in want)

    @rule(uid=st.sampled_from(USERS), stage=st.integers(0, 4))
    def stage(self, uid, stage):
        t.update_properties(self.room, uid, {"publishstate": stage})

    @invariant()
    def events_numbered(self):
        assert [e.s for e in self.published] == list(range(1, len(self.published) + 1))


RoomMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40,
                                         deadline=None)
TestRoom = RoomMachine.TestCase


members = st.lists(st.tuples(st.sampled_from(USERS), st.integers(0, 4),
                             st.none() | st.sampled_from(["g1", "g2"])),
                   unique_by=lambda x: x[0])
toids = (st.sampled_from(list(rules.NAMED_TARGETS)) | st.sampled_from(USERS)
         | st.lists(st.sampled_from(USERS), max_size=4)
         | st.builds(lambda r: {"roles": r}, st.lists(st.integers(0, 4), max_size=5))
         | st.builds(lambda g: {"group": g}, st.sampled_from(["g1", "g2"])))


@settings(max_examples=600, deadline=None)
@given(members, toids, st.sampled_from(USERS))
def test_routing_matches_its_definition(people, toid, sender):
    target = rules.parse_target(toid, sender)
    got = {u for u, r, g in people if target.matches(u, r, g)}
    everyone = {u for u, _, _ in people}
    by = {u: (r, g) for u, r, g in people}
    want = {
        "__all": everyone,
        "__allExceptSender": everyone - {sender},
        "__allExceptAuditor": {u for u in everyone if by[u][0] != 3},
        "__none": set(),
        "__allSuperUsers": {u for u in everyone if by[u][0] in (0, 1)},
    }.get(toid) if isinstance(toid, str) and toid.startswith("__") else None
    if want is None:
        if isinstance(toid, str):
            want = everyone & {toid}
        elif isinstance(toid, list):
            want = everyone & set(toid)
        elif "roles" in toid:
            want = {u for u in everyone if by[u][0] in toid["roles"]}
        else:
            want = {u for u in everyone if by[u][0] in (0, 1) or by[u][1] == toid["group"]}
    assert got == want


PROP_KEYS = ["publishstate", "candraw", "disablechat", "raisehand", "group", "custom"]


def test_property_permissions_exhaustive():
    """Every sender role x subject role x own/other x key subset x value x stage state."""
    cases = 0
    for sender_role, subject_role, same, on_stage, value in itertools.product(
            range(5), range(5), (True, False), (0, 2), (0, 1)):
        for n in range(1, len(PROP_KEYS) + 1):
            for keys in itertools.combinations(PROP_KEYS, n):
                props = dict.fromkeys(keys, value)
                sender = new_member("a", sender_role, "A", "s1", {}, 0)
                sender.properties["publishstate"] = on_stage
                subject = sender if same else new_member("b", subject_role, "B", "s2", {}, 0)
                try:
                    rules.check_properties(sender, subject, props)
                    allowed = True
                except CodeError as exc:
                    assert exc.code == 4108
                    allowed = False
                cases += 1
                if sender_role in (0, 1):
                    assert allowed
                elif sender_role == 4 or not same:
                    assert not allowed
                else:
                    going_on_stage = bool(props.get("publishstate")) and not on_stage
                    viewer_publishing = sender_role == 3 and bool(props.get("publishstate"))
                    forbidden = {"candraw", "disablechat", "group"} & props.keys()
                    assert allowed == (not forbidden and not going_on_stage
                                       and not viewer_publishing), (sender_role, props, on_stage)
    assert cases == 5 * 5 * 2 * 2 * 2 * 63


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 4), st.sampled_from(list(rules.NAMED_TARGETS) + ["u1", ["u1", "u2"],
                                                                       {"roles": [2]}]),
       st.booleans(), st.none() | st.sampled_from(["a", "b"]))
def test_pubmsg_permissions(role, toid, save, assoc_user):
    sender = new_member("a", role, "A", "s", {}, 0)
    data = {"name": "N", "toID": toid, "save": save, "associatedUserID": assoc_user}
    try:
        msg, target = rules.check_pubmsg(sender, data, 5)
    except CodeError as exc:
        assert exc.code == 4108
        broad = target_kind(toid) not in rules.STUDENT_TARGETS or isinstance(toid, list)
        assert role in (3, 4) or (role == 2 and (broad or (save and assoc_user != "a")))
        return
    assert role in (0, 1) or (role == 2 and target.kind in rules.STUDENT_TARGETS
                              and len(target.ids) <= rules.STUDENT_LIST_MAX)
    assert msg["fromID"] == "a" and msg["ts"] == 5 and msg["id"] == "N"


def target_kind(toid) -> str:
    return rules.parse_target(toid, "a").kind


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 4), st.text(max_size=1100) | st.integers(1000, 1100).map("x".__mul__),
       st.booleans(), st.booleans())
def test_chat_rules(role, text, banned, disabled):
    sender = new_member("a", role, "A", "s", {"custom": 1}, 0)
    sender.properties["disablechat"] = disabled
    try:
        chat = rules.check_chat(sender, {"message": {"msg": text}}, banned, 0)
    except CodeError as exc:
        if role == 4 or (role > 1 and (banned or disabled)):
            assert exc.code == 4108
        else:
            assert exc.code == 61 and len(text) >= 1024
        return
    assert len(text) < 1024 and role != 4
    assert chat.gated == (role > 1)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=30).map(sorted))
def test_chat_gate_spacing(times):
    room = t.RoomData()
    accepted = [ms for ms in times if t.chat_gate(room, "u", ms, 1000)]
    assert all(b - a > 1000 for a, b in zip(accepted, accepted[1:], strict=False))
    # every refused time is within 1000 ms of the last accepted one before it
    for ms in times:
        if ms not in accepted:
            assert any(0 <= ms - a <= 1000 for a in accepted)


@pytest.mark.parametrize("toid", [5, {"x": 1}, {"roles": "2"}, [1], "", {"roles": [9]}])
def test_bad_targets(toid):
    with pytest.raises(CodeError) as exc:
        rules.parse_target(toid, "a")
    assert exc.value.code == 103


def test_target_session_kind():
    tg = Target("session", ids=("s1",))
    assert tg.matches("u", 2, None, "s1") and not tg.matches("u", 2, None, "s2")
