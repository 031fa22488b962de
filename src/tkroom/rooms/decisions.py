"""What each outcome means for the others: the events a state change causes, decided purely.

The server applies an atomic state operation (``tkroom.state``), hands its outcome here and
publishes the events returned — so who is told what, and when the class begins or ends, is
decided without sockets or a clock, and is tested that way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tkroom.rooms.board import compact
from tkroom.rooms.model import ALL, INSPECTOR, SUPER_ROLES, Event, Member, Target
from tkroom.rooms.rules import BIG_ROOM_ID, CLASS_BEGIN_ID, SERVER_ID, server_delmsg, visible
from tkroom.rooms.transitions import ClearOutcome, LeaveOutcome, SaveOutcome, Snapshot

CLASS_BEGAN, CLASS_ENDED = 0, 1


def joined(member: Member, replaced: Member | None, big: bool) -> list[Event]:
    """A join evicts an earlier session of the same user and is announced to the others.
    The user never left: no ``participantLeft``, its saved messages stay; only what the old
    session held elsewhere (its media) is released (``_departed``)."""
    events = []
    if replaced is not None:
        events.append(Event("participantEvicted",
                            {"id": replaced.userid, "reason": {"code": 5208}, "fromID": SERVER_ID},
                            Target("session", ids=(replaced.session,))))
        events.append(departed(replaced))
    if visible(member, big):
        events.append(Event("participantJoined", member.public(),
                            Target("except_sender", member.userid)))
    return events


def needs_big_room(count: int, threshold: int, big: bool) -> bool:
    """Whether this join takes the room past its big-room threshold (0 = never)."""
    return not big and threshold > 0 and count > threshold


def big_room_message(now_ms: int) -> dict[str, Any]:
    """The saved ``BigRoom`` pubMsg that marks the room's switch for good."""
    return {"name": BIG_ROOM_ID, "id": BIG_ROOM_ID, "toID": "__all", "data": {},
            "fromID": SERVER_ID, "ts": now_ms, "save": True}


def entered_big_room(out: SaveOutcome) -> list[Event]:
    """Announce the switch once: only the node whose save was the first one does."""
    if out.replaced is not None:
        return []
    return [Event("pubMsg", out.message, ALL),
            Event("roomModeChanged", {"mode": "bigRoom"}, ALL)]


def join_answer(member: Member, room: dict[str, Any], snap: Snapshot, big: bool, sid: str,
                token: str) -> dict[str, Any]:
    """The ``joinRoom`` ack: self, room, visible users, saved messages (the board's shapes
    compacted per page in ``board``, docs/board.md), session and ``s``."""
    mode = "bigRoom" if big else "normalRoom"
    msglist, board = compact(snap.messages)
    return {
        "self": member.public(),
        "room": {**room, "mode": mode},
        "userlist": [m.public() for m in snap.members if m.role != INSPECTOR],
        "msglist": msglist,
        "board": board,
        "mode": mode,
        "session": {"id": sid, "token": token},
        "s": snap.s,
    }


def left(out: LeaveOutcome, big: bool, now_ms: int) -> tuple[list[Event], int | None]:
    """A member left (or was evicted, or expired): who is told, what saved messages went with
    it, and whether that ended the class (``CLASS_ENDED``, else None)."""
    if out.member is None:
        return [], None
    ended = any(m["id"] == CLASS_BEGIN_ID for m in out.removed + out.cleared)
    classstate = CLASS_ENDED if ended else None
    events = []
    if visible(out.member, big):
        events.append(Event("participantLeft", {"id": out.member.userid},
                            Target("except_sender", out.member.userid)))
    events += [Event("delMsg", server_delmsg(m, now_ms), ALL) for m in out.removed]
    return events, classstate


def evicted(victim: Member, reason: Any, by: str) -> Event:
    """Tell the evicted session (only it: a newer session of the same user stays)."""
    return Event("participantEvicted", {"id": victim.userid, "reason": reason, "fromID": by},
                 Target("session", ids=(victim.session,)))


def published(msg: dict[str, Any], target: Target,
              saved: SaveOutcome | None) -> tuple[list[Event], int | None]:
    """A pubMsg goes to its target; a newly saved ``ClassBegin`` begins the class."""
    if saved is None:
        return [Event("pubMsg", msg, target)], None
    began = saved.message["id"] == CLASS_BEGIN_ID and saved.replaced is None
    return [Event("pubMsg", saved.message, target)], CLASS_BEGAN if began else None


def deleted(msg: dict[str, Any], target: Target, removed: list[dict[str, Any]],
            now_ms: int) -> tuple[list[Event], int | None]:
    """A delMsg goes to its target; what it took with it is announced to everyone."""
    events = [Event("delMsg", msg, target)]
    events += [Event("delMsg", server_delmsg(r, now_ms), ALL) for r in removed
               if r["id"] != msg["id"]]
    ended = any(r["id"] == CLASS_BEGIN_ID for r in removed)
    return events, CLASS_ENDED if ended else None


def cleared(msg: dict[str, Any], target: Target, out: ClearOutcome,
            now_ms: int) -> tuple[list[Event], int | None]:
    """A page clear is announced as its one ``clearEvent`` (clients drop the page's shapes);
    only what hung on those shapes (not the page's own shapes) is announced one by one."""
    events = [Event("pubMsg", msg, target)]
    events += [Event("delMsg", server_delmsg(r, now_ms), ALL) for r in out.cascaded]
    ended = any(r["id"] == CLASS_BEGIN_ID for r in out.cascaded)
    return events, CLASS_ENDED if ended else None


def stage_cleared(members: Iterable[Member]) -> list[tuple[Member, dict[str, Any]]]:
    """When the class ends, the stage empties whoever ended it (a teacher's page, an SDK, a
    bot, the teacher leaving): each student, viewer or inspector on stage (``publishstate``
    > 0) goes off it, and raised hands go down, as the properties that change for each. The
    teacher and assistants are always on stage and keep theirs."""
    changes = []
    for m in members:
        if m.role in SUPER_ROLES:
            continue
        props: dict[str, Any] = {}
        if m.on_stage:
            props["publishstate"] = 0
        if m.properties.get("raisehand"):
            props["raisehand"] = False
        if props:
            changes.append((m, props))
    return changes


def property_changed(before_on_stage: bool, updated: Member, props: dict[str, Any], by: str,
                     target: Target, big: bool) -> list[Event]:
    """One ``setProperty`` per changed user; in big rooms going on stage also introduces the
    user to everyone (``participantPublished``), since joins were not announced."""
    events = [Event("setProperty", {"id": updated.userid, "properties": props, "fromID": by},
                    target)]
    if big and not before_on_stage and updated.on_stage and updated.role not in SUPER_ROLES:
        events.append(Event("participantPublished", updated.public(), ALL))
    return events


def group_changed(userid: str, gid: str | None) -> Event:
    """Everyone learns a user's group (the teacher reaches every group, others route by it)."""
    return Event("setProperty", {"id": userid, "properties": {"group": gid}, "fromID": userid},
                 ALL)


def missed_for(events: list[Event], member: Member) -> list[Event]:
    """Of the room's events since a resume point, those the member would have received."""
    return [e for e in events if e.target.matches(member.userid, member.role, member.group,
                                                  member.session)]


def resolve(target: Target, members: list[Member]) -> list[str]:
    """The ids of the members an event for ``target`` reaches."""
    return [m.userid for m in members if target.matches(m.userid, m.role, m.group, m.session)]


def departed(member: Member) -> Event:
    """Internal: a member left, expired or was evicted. Every departure, hidden ones included
    (inspectors, big-room members get no ``participantLeft``), so that other planes (media)
    release what the member held; addressed to nobody, so no client receives or replays it."""
    return Event("_departed", {"id": member.userid, "session": member.session}, Target("none"))


def taken_over(sid: str, cid: str) -> Event:
    """Internal: a session was resumed on socket ``cid``; every node closes older sockets of
    it (addressed to nobody, so no client ever receives or replays it)."""
    return Event("_takeover", {"sid": sid, "cid": cid}, Target("none"))


def chatted(data: dict[str, Any], target: Target) -> Event:
    """A chat message goes to its target."""
    return Event("sendMessage", data, target)
