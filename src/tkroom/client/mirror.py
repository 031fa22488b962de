"""The SDK's local copy of a room: server events in, state and application events out.

Pure: no socket, no task, no clock. ``RoomMirror.apply`` takes one server event (name, data,
``s``) and answers the application events it causes (the original TKRoomSDK's names), or None
when the event is a replay already applied; the session and the ``Room`` facade do the I/O.
Keeping it apart lets the room's bookkeeping be tested event by event without a server. The
board's part of it (pages, shapes, strokes) is ``board.Board``, fed from here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tkroom.client import events as E
from tkroom.client.board import Board, expand
from tkroom.client.tools import ToolsModel
from tkroom.roles import SUPER_ROLES

AppEvent = tuple[str, dict[str, Any]]


@dataclass(slots=True)
class Applied:
    """What one server event did: the application events to emit, in order, and whether it
    evicted us (the session then leaves the room)."""

    events: list[AppEvent] = field(default_factory=list)
    evicted: bool = False


class RoomMirror:
    """Users, their properties, saved messages, room mode and resume position of one room."""

    def __init__(self) -> None:
        self.self_id = ""
        self.users: dict[str, dict[str, Any]] = {}
        self.room: dict[str, Any] = {}
        self.msgs: dict[str, dict[str, Any]] = {}
        self.mode = "normalRoom"
        self.group: str | None = None
        self.session: dict[str, str] = {}
        self.last_s = -1
        self.board = Board()
        self.tools = ToolsModel()

    # ---- whole-room updates ------------------------------------------------------------------

    def load(self, answer: Mapping[str, Any]) -> None:
        """Replace everything with a ``joinRoom`` answer."""
        me = answer.get("self") or {}
        self.self_id = str(me.get("id", ""))
        self.users = {u["id"]: _user(u) for u in answer.get("userlist") or ()}
        if self.self_id:
            self.users[self.self_id] = _user(me)
        self.room = dict(answer.get("room") or {})
        self.msgs = _saved_with_board(answer.get("msglist"), answer.get("board"))
        self.board.load(self.msgs.values(), self.self_id)
        self.tools.load(self.msgs.values(), self.users)
        self.mode = answer.get("mode", "normalRoom")
        self.session = dict(answer.get("session") or {})
        self.last_s = int(answer.get("s", -1))
        self.group = _group(self.users.get(self.self_id, {}).get("properties", {}).get("group"))

    def set_group(self, group: str | None) -> None:
        """We moved into ``group`` (None: out of any), as acknowledged by the server."""
        self.group = group
        me = self.users.get(self.self_id)
        if me is not None:
            me["properties"]["group"] = group

    def diff(self, before: Mapping[str, dict[str, Any]]) -> list[AppEvent]:
        """Who left and who came between ``before`` (the users of an earlier copy) and now:
        after a fresh join the application hears of the changes it missed."""
        out: list[AppEvent] = []
        for uid, user in before.items():
            if uid not in self.users:
                out.append((E.PARTICIPANT_LEAVE, {"user": user, "id": uid}))
        for uid, user in self.users.items():
            if uid not in before:
                out.append((E.PARTICIPANT_JOIN, {"user": copy.deepcopy(user)}))
        return out

    # ---- reading (copies, so the application cannot alter the mirror) ------------------------

    def user(self, uid: str) -> dict[str, Any] | None:
        user = self.users.get(uid)
        return copy.deepcopy(user) if user is not None else None

    def all_users(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.users)

    def myself(self) -> dict[str, Any] | None:
        return self.user(self.self_id)

    def messages(self) -> list[dict[str, Any]]:
        """The saved messages in ``seq`` order (the mirror's own dicts: copy before handing out)."""
        return list(self.msgs.values())

    # ---- one server event --------------------------------------------------------------------

    def apply(self, ev: str, data: Any, s: int | None) -> Applied | None:
        """Apply one server event; None when its ``s`` was already applied (a resume replay)."""
        if s is not None:
            if s <= self.last_s:
                return None
            self.last_s = s
        body = data if isinstance(data, dict) else {}
        out = Applied()
        handler = _HANDLERS.get(ev)
        if handler is not None:
            handler(self, body, out)
        return out

    def _joined(self, d: dict[str, Any], out: Applied) -> None:
        if _id(d) is None:
            return
        user = _user(d)
        self.users[user["id"]] = user
        out.events.append((E.PARTICIPANT_JOIN, {"user": copy.deepcopy(user)}))

    def _left(self, d: dict[str, Any], out: Applied) -> None:
        uid = _id(d)
        if uid is None:
            return
        user = self.users.pop(uid, None) or {"id": uid, "properties": {}}
        self.board.forget_user(uid)
        out.events.append((E.PARTICIPANT_LEAVE, {"user": user, "id": uid}))

    def _evicted(self, d: dict[str, Any], out: Applied) -> None:
        if d.get("id") not in (None, self.self_id):
            self._left(d, out)
            return
        out.events.append((E.PARTICIPANT_EVICTED, {"reason": d.get("reason"),
                                                   "fromID": d.get("fromID")}))
        out.evicted = True

    def _property(self, d: dict[str, Any], out: Applied) -> None:
        uid, props = _id(d), d.get("properties")
        if uid is None or not isinstance(props, dict):
            return
        on_stage = isinstance(props.get("publishstate"), int) and props["publishstate"] > 0
        user = self.users.get(uid)
        if user is None:  # big room: someone we do not track, pushed because of the stage
            user = {"id": uid, "properties": {}}
            if on_stage:
                self.users[uid] = user
        user["properties"].update(props)
        if (self.mode == "bigRoom" and uid != self.self_id and props.get("publishstate") == 0
                and not _is_super(user["properties"].get("role"))):
            self.users.pop(uid, None)  # off stage in a big room: no longer pushed to us
        if uid == self.self_id and "group" in props:
            self.group = _group(props["group"])
        out.events.append((E.USERPROPERTY_CHANGED, {"user": copy.deepcopy(user), "message": props,
                                                    "fromID": d.get("fromID")}))

    def _text(self, d: dict[str, Any], out: Applied) -> None:
        out.events.append((E.TEXT_MESSAGE, {
            "userid": d.get("fromID"),
            "nickname": d.get("nickname"),
            "role": d.get("role"),
            "message": d.get("message"),
            "toID": d.get("toID"),
            "ts": d.get("ts"),
        }))

    def _pubmsg(self, d: dict[str, Any], out: Applied) -> None:
        mid = _id(d)
        if d.get("save") and mid is not None:
            self.msgs.pop(mid, None)
            self.msgs[mid] = d
        if d.get("name") == "BigRoom" or mid == "BigRoom":
            self.mode = "bigRoom"
        out.events.append((E.PUBMSG, d))
        for cleared in self.board.pub(d, out.events):  # a clear removed the page's shapes
            self.msgs.pop(cleared, None)
        self.tools.pub(d, out.events)
        body = d.get("data")
        totals = body.get("totals") if d.get("name") == "sendgift" and isinstance(body, dict) \
            else None
        if isinstance(totals, dict):       # trophies: the receivers' giftnumber property
            for uid, n in totals.items():
                if uid in self.users:
                    self.users[uid]["properties"]["giftnumber"] = n

    def _delmsg(self, d: dict[str, Any], out: Applied) -> None:
        mid = _id(d)
        if mid is not None:
            self.msgs.pop(mid, None)
        out.events.append((E.DELMSG, d))
        self.board.delete(d, out.events)
        self.tools.delete(d, out.events)

    def _msglist(self, d: dict[str, Any], out: Applied) -> None:
        self.msgs = _saved_with_board(d.get("msglist"), d.get("board"))
        self.board.load(self.msgs.values(), self.self_id)
        self.tools.load(self.msgs.values(), self.users)
        out.events.append((E.MSGLIST, {"message": list(self.msgs.values())}))

    def _mode(self, d: dict[str, Any], out: Applied) -> None:
        mode = d.get("mode")
        if isinstance(mode, str):
            self.mode = mode
        out.events.append((E.MODE_CHANGED, {"mode": self.mode}))

    def _notice(self, d: dict[str, Any], out: Applied) -> None:
        kind = d.get("kind")
        name = _NOTICES.get(kind, E.INFO_NOTICE) if isinstance(kind, str) else E.INFO_NOTICE
        out.events.append((name, d))


_HANDLERS: dict[str, Callable[[RoomMirror, dict[str, Any], Applied], None]] = {
    "participantJoined": RoomMirror._joined,
    "participantLeft": RoomMirror._left,
    "participantEvicted": RoomMirror._evicted,
    "setProperty": RoomMirror._property,
    "sendMessage": RoomMirror._text,
    "pubMsg": RoomMirror._pubmsg,
    "delMsg": RoomMirror._delmsg,
    "msgList": RoomMirror._msglist,
    "roomModeChanged": RoomMirror._mode,
    "notice": RoomMirror._notice,
}


_NOTICES = {"error": E.ERROR_NOTICE, "warn": E.WARN_NOTICE, "info": E.INFO_NOTICE}


def _id(d: Mapping[str, Any]) -> str | None:
    """A user's or message's id; None when the event carries none that can be one."""
    v = d.get("id")
    return v if isinstance(v, str) else None


def _user(u: Mapping[str, Any]) -> dict[str, Any]:
    props = u.get("properties")
    return {"id": str(u.get("id")), "properties": dict(props) if isinstance(props, dict) else {}}


def _group(g: Any) -> str | None:
    return g if isinstance(g, str) else None


def _is_super(role: Any) -> bool:
    return isinstance(role, int) and role in SUPER_ROLES


def _saved_with_board(msgs: Any, board: Any) -> dict[str, dict[str, Any]]:
    """The saved messages of an answer: its ``msglist`` and the shapes of its compact
    ``board`` (docs/board.md) as the messages they stand for."""
    shapes = expand(board)
    if not shapes:
        return _saved(msgs)
    return _saved([*(msgs if isinstance(msgs, list) else ()), *shapes])


def _saved(msgs: Any) -> dict[str, dict[str, Any]]:
    """Saved messages by id in ``seq`` order, leaving out any without a text id."""
    good = [m for m in msgs if isinstance(m, dict) and _id(m) is not None] \
        if isinstance(msgs, list) else []

    def seq(m: dict[str, Any]) -> int:
        v = m.get("seq")
        return v if isinstance(v, int) else 0

    return {m["id"]: m for m in sorted(good, key=seq)}
