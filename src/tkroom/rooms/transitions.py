"""The atomic state transitions of one room, as pure functions over ``RoomData``.

Each function is one atomic operation of ``tkroom.state.RoomState``: the memory backend calls
it directly (one event loop = no interleaving), and the Redis backend implements the same
function as one Lua script. Hypothesis tests run random sequences of them and check the room's
invariants (one teacher, limits, saved-message order and cascades, replay window).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tkroom.rooms.model import STUDENT, SUPER_ROLES, TEACHER, VIEWER, Event, Member

OK = 0
ERR_WRONG_PARAM = 63          # a second teacher
ERR_STUDENT_LIMIT = 64
ERR_VIEWER_LIMIT = 5011
ERR_ALREADY_LOGGED_IN = 5208


@dataclass(frozen=True, slots=True)
class JoinPolicy:
    """The limits a join is checked against, taken from the room's settings."""

    maxusers: int = 0                 # students; 0 = no limit
    maxviewers: int | None = None     # live viewers; None = no limit, 0 = none allowed
    singlelogin: bool = False         # True: refuse a second login (5208) instead of evicting


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    """``code`` 0 or the refusal; on success the member, the session it replaced, the count."""

    code: int
    member: Member | None = None
    replaced: Member | None = None
    count: int = 0


@dataclass(frozen=True, slots=True)
class LeaveOutcome:
    """The member that left (None: it was not there / another session), the saved messages
    its leaving removed (``associatedUserID`` cascade, in ``seq`` order), whether the room is
    now empty, and the saved messages cleared because it emptied (``seq`` order)."""

    member: Member | None
    removed: list[dict[str, Any]] = field(default_factory=list)
    empty: bool = False
    cleared: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """The saved message with its new ``seq``, and the copy it replaced (same ``id``)."""

    message: dict[str, Any]
    replaced: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a joiner needs, read atomically: members, saved messages (``seq`` order), ``s``."""

    members: list[Member]
    messages: list[dict[str, Any]]
    s: int


@dataclass(slots=True)
class RoomData:
    """Everything a room's state backend keeps for one room."""

    members: dict[str, Member] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> msg, seq order
    seq: int = 0
    s: int = 0
    window: deque[Event] = field(default_factory=deque)
    lastchat: dict[str, int] = field(default_factory=dict)
    shown: dict[str, None] = field(default_factory=dict)  # super users + on stage, join order
    roles: dict[int, int] = field(default_factory=dict)    # members per role


def _track_shown(room: RoomData, m: Member) -> None:
    """Keep ``shown`` (what a big room lists) current without scanning every member."""
    if m.role in SUPER_ROLES or m.on_stage:
        room.shown[m.userid] = None
    else:
        room.shown.pop(m.userid, None)


_LIMIT_CODES = {TEACHER: ERR_WRONG_PARAM, STUDENT: ERR_STUDENT_LIMIT, VIEWER: ERR_VIEWER_LIMIT}


def count_role(room: RoomData, role: int) -> int:
    return room.roles.get(role, 0)


def _limit_for(role: int, policy: JoinPolicy) -> int | None:
    """How many members of ``role`` a room may hold (None: no limit)."""
    if role == TEACHER:
        return 1
    if role == STUDENT:
        return policy.maxusers or None
    if role == VIEWER:
        return policy.maxviewers
    return None


def add_member(room: RoomData, member: Member, policy: JoinPolicy) -> JoinOutcome:
    """Admit ``member`` if the limits allow; a same-id member is replaced or refuses it."""
    old = room.members.get(member.userid)
    if old is not None and policy.singlelogin:
        return JoinOutcome(ERR_ALREADY_LOGGED_IN)
    limit = _limit_for(member.role, policy)
    if limit is not None:
        taken = count_role(room, member.role) - (old is not None and old.role == member.role)
        if taken >= limit:
            return JoinOutcome(_LIMIT_CODES[member.role])
    room.members[member.userid] = member
    if old is not None:
        room.roles[old.role] -= 1
    room.roles[member.role] = room.roles.get(member.role, 0) + 1
    _track_shown(room, member)
    return JoinOutcome(OK, member, old, len(room.members))


def remove_member(room: RoomData, userid: str, session: str, keepstate: bool) -> LeaveOutcome:
    """Remove the member if it still lives in ``session``, cascading its saved messages."""
    m = room.members.get(userid)
    if m is None or (session and m.session != session):
        return LeaveOutcome(None, [], not room.members)
    del room.members[userid]
    room.lastchat.pop(userid, None)
    room.shown.pop(userid, None)
    room.roles[m.role] -= 1
    removed: list[dict[str, Any]] = []
    for mid in [k for k, v in room.messages.items() if v.get("associatedUserID") == userid]:
        removed.extend(delete_message(room, mid))
    removed.sort(key=lambda v: v["seq"])
    empty = not room.members
    cleared: list[dict[str, Any]] = []
    if empty and not keepstate:
        cleared = sorted(room.messages.values(), key=lambda v: v["seq"])
        room.messages.clear()
    return LeaveOutcome(m, removed, empty, cleared)


def update_properties(room: RoomData, userid: str, props: dict[str, Any]) -> Member | None:
    """Merge ``props`` into the member's properties (``role`` never changes this way)."""
    m = room.members.get(userid)
    if m is None:
        return None
    m.merge(props)
    _track_shown(room, m)
    return m


def save_message(room: RoomData, msg: dict[str, Any]) -> SaveOutcome:
    """Keep ``msg`` under its ``id`` with the next ``seq``; an earlier same-id copy goes."""
    room.seq += 1
    saved = {**msg, "seq": room.seq}
    old = room.messages.pop(msg["id"], None)
    room.messages[msg["id"]] = saved
    return SaveOutcome(saved, old)


def delete_message(room: RoomData, msgid: str) -> list[dict[str, Any]]:
    """Remove a saved message and, transitively, those with ``associatedMsgID`` on it."""
    removed: list[dict[str, Any]] = []
    todo = [msgid]
    while todo:
        mid = todo.pop()
        msg = room.messages.pop(mid, None)
        if msg is None:
            continue
        removed.append(msg)
        todo.extend(k for k, v in room.messages.items() if v.get("associatedMsgID") == mid)
    removed.sort(key=lambda v: v["seq"])
    return removed


def chat_gate(room: RoomData, userid: str, now_ms: int, min_gap_ms: int) -> bool:
    """Record a chat at ``now_ms`` unless the user's last one is ``min_gap_ms`` or less ago."""
    last = room.lastchat.get(userid)
    if last is not None and now_ms - last <= min_gap_ms:
        return False
    room.lastchat[userid] = now_ms
    return True


def append_event(room: RoomData, event: Event, window: int) -> Event:
    """Give ``event`` the room's next ``s`` and keep it in the replay window."""
    room.s += 1
    stamped = Event(event.ev, event.data, event.target, room.s)
    room.window.append(stamped)
    while len(room.window) > window:
        room.window.popleft()
    return stamped


def replay(room: RoomData, after: int) -> list[Event] | None:
    """Events with ``s`` > ``after``; None when some of them already left the window."""
    if after >= room.s:
        return []
    if not room.window or room.window[0].s > after + 1:
        return None
    return [e for e in room.window if e.s > after]


def snapshot(room: RoomData, bigroom: bool) -> Snapshot:
    """Members (in big-room mode only super users and users on stage), messages, ``s``."""
    shown = room.shown if bigroom else room.members
    members = [room.members[u] for u in shown]
    msgs = sorted(room.messages.values(), key=lambda v: v["seq"])
    return Snapshot(members, msgs, room.s)
