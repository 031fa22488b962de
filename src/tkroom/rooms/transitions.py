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

from tkroom.rooms.model import (
    INHERITED_PROPS,
    STUDENT,
    SUPER_ROLES,
    TEACHER,
    VIEWER,
    Event,
    Member,
)

OK = 0
ERR_WRONG_PARAM = 63          # a second teacher
ERR_STUDENT_LIMIT = 64
ERR_VIEWER_LIMIT = 5011
ERR_ALREADY_LOGGED_IN = 5208
ERR_EVICTED = 4108            # "No permission": evicted, and the room's evictseconds not over
ERR_SAVED_LIMIT = 2601        # "the number of posts exceeds the limit": too many saved messages


@dataclass(frozen=True, slots=True)
class JoinPolicy:
    """The limits a join is checked against, taken from the room's settings."""

    maxusers: int = 0                 # students; 0 = no limit
    maxviewers: int | None = None     # live viewers; None = no limit, 0 = none allowed
    singlelogin: bool = False         # True: refuse a second login (5208) instead of evicting


@dataclass(frozen=True, slots=True)
class SavePolicy:
    """How many saved messages a room keeps: in all, associated with one user (those go
    when the user leaves, so this bounds the work of a leave), and associated with one
    message (``associatedMsgID``: e.g. the shapes of one board page). 0 = no limit."""

    max_room: int = 0
    max_user: int = 0
    max_children: int = 0


NO_LIMITS = SavePolicy()


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    """``code`` 0 or the refusal; on success the member, the session it replaced, the count;
    ``until_ms``: when refused as evicted, the time from which the user may join again."""

    code: int
    member: Member | None = None
    replaced: Member | None = None
    count: int = 0
    until_ms: int = 0


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
    """The saved message with its new ``seq``, and the copy it replaced (same ``id``).
    ``refused`` says why nothing changed: "author" (the same-id copy is someone else's; then
    ``message`` is that copy, which stays), or the ``SavePolicy`` limit that kept it from being
    saved ("room", "user" or "children"; then ``message`` is the message as given, unsaved)."""

    message: dict[str, Any]
    replaced: dict[str, Any] | None = None
    refused: str = ""


@dataclass(frozen=True, slots=True)
class ClearOutcome:
    """A ``delete_children``: how many messages hung directly on the parent (all gone), and
    the further messages their removal took along (``seq`` order), to be announced."""

    count: int
    cascaded: list[dict[str, Any]] = field(default_factory=list)


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
    barred: dict[str, int] = field(default_factory=dict)   # evicted uid -> may rejoin at (ms)
    # indexes that keep cascades linear: associatedUserID / associatedMsgID -> message ids
    by_user: dict[str, dict[str, None]] = field(default_factory=dict)
    children: dict[str, dict[str, None]] = field(default_factory=dict)


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


def inherit(old: Member | None, member: Member) -> None:
    """A new session of the same user in the same role keeps what the class gave it (on
    stage, raised hand, drawing, chat ban, group): a reload must neither take the teacher's
    grants away nor lift a ban."""
    if old is not None and old.role == member.role:
        for k in INHERITED_PROPS:
            if k in old.properties:
                member.properties[k] = old.properties[k]


def add_member(room: RoomData, member: Member, policy: JoinPolicy) -> JoinOutcome:
    """Admit ``member`` if the limits allow and it is not barred (evicted) at its
    ``joined_ms``; a same-id member is replaced (its new session inherits the class's grants,
    and its saved messages stay) or refuses it."""
    barred = room.barred.get(member.userid)
    if barred is not None:
        if barred > member.joined_ms:
            return JoinOutcome(ERR_EVICTED, until_ms=barred)
        del room.barred[member.userid]
    old = room.members.get(member.userid)
    if old is not None and policy.singlelogin:
        return JoinOutcome(ERR_ALREADY_LOGGED_IN)
    limit = _limit_for(member.role, policy)
    if limit is not None:
        taken = count_role(room, member.role) - (old is not None and old.role == member.role)
        if taken >= limit:
            return JoinOutcome(_LIMIT_CODES[member.role])
    inherit(old, member)
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
    for mid in list(room.by_user.get(userid, ())):
        _delete_tree(room, mid, removed)
    removed.sort(key=lambda v: v["seq"])
    empty = not room.members
    cleared: list[dict[str, Any]] = []
    if empty and not keepstate:
        cleared = list(room.messages.values())      # kept in seq order
        room.messages.clear()
        room.by_user.clear()
        room.children.clear()
    return LeaveOutcome(m, removed, empty, cleared)


def bar(room: RoomData, userid: str, until_ms: int, now_ms: int) -> None:
    """An eviction: ``userid`` may not join again before ``until_ms`` (a later bar of the same
    user never shortens an earlier one). Bars already over are forgotten here."""
    for uid in [u for u, t in room.barred.items() if t <= now_ms]:
        del room.barred[uid]
    if until_ms > max(now_ms, room.barred.get(userid, 0)):
        room.barred[userid] = until_ms


def update_properties(room: RoomData, userid: str, props: dict[str, Any]) -> Member | None:
    """Merge ``props`` into the member's properties (``role`` never changes this way)."""
    m = room.members.get(userid)
    if m is None:
        return None
    m.merge(props)
    _track_shown(room, m)
    return m


def authored_by(saved: dict[str, Any] | None, author: str) -> bool:
    """Whether a saved message may be replaced or deleted by ``author`` ("" = anyone)."""
    return saved is None or not author or saved.get("fromID") == author


def _links(msg: dict[str, Any]) -> tuple[str | None, str | None]:
    """The message's ``associatedMsgID`` and ``associatedUserID`` (strings only)."""
    am, au = msg.get("associatedMsgID"), msg.get("associatedUserID")
    return (am if isinstance(am, str) else None), (au if isinstance(au, str) else None)


def _index(room: RoomData, msg: dict[str, Any]) -> None:
    am, au = _links(msg)
    if am is not None:
        room.children.setdefault(am, {})[msg["id"]] = None
    if au is not None:
        room.by_user.setdefault(au, {})[msg["id"]] = None


def _unindex(room: RoomData, msg: dict[str, Any]) -> None:
    am, au = _links(msg)
    for index, key in ((room.children, am), (room.by_user, au)):
        if key is None:
            continue
        ids = index.get(key)
        if ids is not None:
            ids.pop(msg["id"], None)
            if not ids:
                del index[key]


def save_refusal(room_count: int, user_count: int | None, exists: bool,
                 same_user: bool, policy: SavePolicy, child_count: int | None = None,
                 same_parent: bool = False) -> str:
    """Which limit a save breaks ("" = none): a new message beyond ``max_room``, one more
    message associated with a user who has ``max_user``, or one more associated with a
    message that has ``max_children`` (replacing a message with the same id and the same
    associated user, or message, adds nothing). Checked in that order."""
    if policy.max_room and not exists and room_count >= policy.max_room:
        return "room"
    if policy.max_user and user_count is not None and not same_user \
            and user_count >= policy.max_user:
        return "user"
    if policy.max_children and child_count is not None and not same_parent \
            and child_count >= policy.max_children:
        return "children"
    return ""


def save_message(room: RoomData, msg: dict[str, Any], policy: SavePolicy = NO_LIMITS, *,
                 author: str = "") -> SaveOutcome:
    """Keep ``msg`` under its ``id`` with the next ``seq``; an earlier same-id copy goes.
    Refused (nothing changes) when ``author`` is given and that copy is not its own, or beyond
    the policy's limits."""
    old = room.messages.get(msg["id"])
    if not authored_by(old, author):
        assert old is not None
        return SaveOutcome(old, None, "author")
    am, au = _links(msg)
    owned = None if au is None else len(room.by_user.get(au, ()))
    siblings = None if am is None else len(room.children.get(am, ()))
    same_user = old is not None and _links(old)[1] == au
    same_parent = old is not None and _links(old)[0] == am
    refused = save_refusal(len(room.messages), owned, old is not None, same_user, policy,
                           siblings, same_parent)
    if refused:
        return SaveOutcome(msg, None, refused)
    room.seq += 1
    saved = {**msg, "seq": room.seq}
    if old is not None:
        del room.messages[msg["id"]]
        _unindex(room, old)
    room.messages[msg["id"]] = saved
    _index(room, saved)
    return SaveOutcome(saved, old)


def _delete_tree(room: RoomData, msgid: str, out: list[dict[str, Any]]) -> None:
    """Remove a saved message and, transitively, those with ``associatedMsgID`` on it:
    each removed message costs O(1), whatever the room holds."""
    todo = [msgid]
    while todo:
        mid = todo.pop()
        msg = room.messages.pop(mid, None)
        if msg is None:
            continue
        _unindex(room, msg)
        out.append(msg)
        todo.extend(room.children.get(mid, ()))


def delete_message(room: RoomData, msgid: str, author: str = "") -> list[dict[str, Any]] | None:
    """Remove a saved message and its ``associatedMsgID`` cascade, in ``seq`` order; None
    (nothing removed) when ``author`` is given and the message is not its own."""
    if not authored_by(room.messages.get(msgid), author):
        return None
    removed: list[dict[str, Any]] = []
    _delete_tree(room, msgid, removed)
    removed.sort(key=lambda v: v["seq"])
    return removed


def delete_children(room: RoomData, parent: str) -> ClearOutcome:
    """Remove every saved message associated with ``parent`` (``associatedMsgID``, e.g. a
    board page's shapes), then what hung on those (their cascades), in one atomic step (a page
    clear). Only the cascades come back as messages: a page's thousands of shapes are only
    counted, so a clear costs the state no more than removing them."""
    count = 0
    kids: list[str] = []
    for mid in list(room.children.get(parent, ())):
        msg = room.messages.pop(mid, None)
        if msg is None:
            continue
        count += 1
        kids.extend(room.children.get(mid, ()))
        _unindex(room, msg)
    cascaded: list[dict[str, Any]] = []
    for kid in kids:
        _delete_tree(room, kid, cascaded)
    cascaded.sort(key=lambda v: v["seq"])
    return ClearOutcome(count, cascaded)


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
