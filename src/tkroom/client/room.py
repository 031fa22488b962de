"""``Room``: the public API of the Python SDK, shaped like the original TKRoomSDK ``TK.Room``.

A ``Room`` is initialised once (``init``), joins a class (``joinroom``: HTTP ``checkroom`` and
``getconfig``, then the WebSocket ``joinRoom``), keeps a local copy of the room (users, their
properties, saved messages) up to date from the server's events, and re-emits those events
under the original SDK's names. When the socket drops it reconnects by itself: it resumes the
session (nobody in the room notices) or, when the server has forgotten it, joins again.

This module is the facade: it checks the application's arguments and answers from the local
copy. The copy is ``mirror.RoomMirror`` (pure), the connection and its recovery
``session.Session``; the board's calls are ``room.board`` (``whiteboard.RoomBoard``).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from tkroom.client import events as E
from tkroom.client.errors import (
    BAD_PARAMETERS,
    INVALID_STATUS,
    NO_THIS_USER,
    NOT_INITIALIZED,
    ROOM_NOT_CONNECT,
    ClientError,
    JoinGroupError,
)
from tkroom.client.events import Callback, EventBus, Subscription
from tkroom.client.mirror import RoomMirror
from tkroom.client.session import (
    JoinArgs,
    Options,
    RawListener,
    Session,
    State,
)
from tkroom.client.whiteboard import RoomBoard
from tkroom.roles import ROLES

MSG_TO_ALLUSER = "__all"
MSG_TO_ALLEXCEPTSENDER = "__allExceptSender"
MSG_TO_ALLEXCEPTAUDITOR = "__allExceptAuditor"
MSG_TO_NONEUSER = "__none"
MSG_TO_ALLSUPERUSERS = "__allSuperUsers"


class Room:
    """A participant's view of one class. Create it, ``init`` it, then ``await joinroom(...)``."""

    def __init__(self) -> None:
        self._bus = EventBus()
        self._mirror = RoomMirror()
        self._session = Session(self._bus, self._mirror)
        self.appkey = ""
        self.board = RoomBoard(self._request, self._mirror, self._require_init,
                               self._require_room)
        """The board (docs/client.md, *The board*): pages, shapes, undo, laser."""

    # ---- setup -------------------------------------------------------------------------------

    def init(self, appkey: str = "", **options: Any) -> None:
        """Initialise the SDK. Options (all keyword): see ``Options``; unknown ones are 103."""
        unknown = set(options) - set(Options.__dataclass_fields__)
        if unknown:
            raise ClientError(BAD_PARAMETERS, f"unknown init options: {sorted(unknown)}")
        if self.state not in (State.UNINITIALIZED, State.IDLE):
            raise ClientError(INVALID_STATUS, "init while in a room: leaveroom first")
        self._session.configure(Options(**options))
        self.appkey = appkey

    async def __aenter__(self) -> Room:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """``async with Room() as room:`` leaves the class on the way out, whatever happened."""
        if self.state not in (State.UNINITIALIZED, State.IDLE):
            await self.leaveroom()

    def checkInit(self) -> bool:
        return self.state is not State.UNINITIALIZED

    @property
    def state(self) -> State:
        return self._session.state

    # ---- events ------------------------------------------------------------------------------

    def on(self, name: str, callback: Callback) -> None:
        """Call ``callback(event)`` on every event ``name`` (``"*"`` for all); may be async."""
        self._bus.on(name, callback)

    def off(self, name: str, callback: Callback | None = None) -> None:
        self._bus.off(name, callback)

    def events(self, *names: str) -> Subscription:
        """Async iterator over events (only ``names`` when given); ends after the room is left.

        Subscribe before the events happen: ``it = room.events()`` then ``joinroom``.
        """
        return self._bus.iterate(frozenset(names) if names else None)

    # ---- joining and leaving -----------------------------------------------------------------

    async def joinroom(
        self,
        host: str,
        port: int,
        nickname: str,
        userid: str | None,
        params: Mapping[str, Any],
        properties: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Enter a class: ``params`` is ``{"serial", "password"}`` or ``{"serial", "loginkey"}``
        (optionally ``"userrole"``). ``properties`` are the custom user properties to start with.

        Returns the join answer (``self``, ``room``, ``userlist``, ``msglist``, ...) and emits
        ``room-connected``. Raises ClientError: 101, 102, 103, 111, 2600, or the server's code.
        """
        self._require_init()
        if self.state is not State.IDLE:
            raise ClientError(INVALID_STATUS, f"joinroom while {self.state.value}")
        serial = params.get("serial") if isinstance(params, Mapping) else None
        if not host or not isinstance(port, int) or not (0 < port < 65536):
            raise ClientError(BAD_PARAMETERS, "joinroom needs a host and a port in 1..65535")
        if not isinstance(serial, str | int) or not str(serial):
            raise ClientError(BAD_PARAMETERS, "joinroom needs params['serial']")
        if not (params.get("password") is not None) ^ (params.get("loginkey") is not None):
            raise ClientError(BAD_PARAMETERS, "give exactly one of params['password'/'loginkey']")
        if not isinstance(nickname, str) or not nickname:
            raise ClientError(BAD_PARAMETERS, "joinroom needs a nickname")
        if properties is not None and not isinstance(properties, Mapping):
            raise ClientError(BAD_PARAMETERS, "properties must be a mapping")
        scheme = "https" if self._session.opts.secure else "http"
        base = host if "://" in host else f"{scheme}://{host}:{port}"
        args = JoinArgs(
            serial=str(serial),
            nickname=nickname,
            userid=userid,
            password=params.get("password"),
            loginkey=params.get("loginkey"),
            userrole=params.get("userrole"),
            properties=dict(properties or {}),
        )
        return await self._session.enter_http(base, args)

    async def joinroomEx(
        self,
        url: str,
        ticket: str | Callable[[], Awaitable[str]],
        properties: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Join with a ticket the application got elsewhere (its own backend called
        ``checkroom``), straight on the signalling socket ``url``; no HTTP.

        ``ticket`` may be a coroutine function: it is called again whenever the SDK has to
        join afresh after a lost session (a ticket is short-lived).
        """
        self._require_init()
        if self.state is not State.IDLE:
            raise ClientError(INVALID_STATUS, f"joinroomEx while {self.state.value}")
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ClientError(BAD_PARAMETERS, "joinroomEx needs a ws:// or wss:// url")
        if not (callable(ticket) or (isinstance(ticket, str) and ticket)):
            raise ClientError(BAD_PARAMETERS, "joinroomEx needs a ticket")
        args = JoinArgs(ticket=ticket, properties=dict(properties or {}))
        return await self._session.enter_ticket(url, args)

    async def leaveroom(self) -> None:
        """Leave the class (``room-leaveroom``). Raises 101 before init, 2508 when not in one."""
        self._require_init()
        if self.state is State.IDLE:
            raise ClientError(ROOM_NOT_CONNECT, "leaveroom: not in a room")
        await self._session.leave()
        self._bus.emit(E.ROOM_LEAVEROOM, {"reason": "leaveroom"})

    # ---- requests ----------------------------------------------------------------------------

    def _require_init(self) -> None:
        if self.state is State.UNINITIALIZED:
            raise ClientError(NOT_INITIALIZED, "call init() first")

    def _require_room(self) -> None:
        """101 before init, 2508 out of a room (for calls answered without the server)."""
        self._require_init()
        if self.state in (State.IDLE, State.CONNECTING):
            raise ClientError(ROOM_NOT_CONNECT, "not in a room")

    async def _request(self, ev: str, data: dict[str, Any]) -> Any:
        """Send once connected; waits out a reconnection (up to the request timeout)."""
        self._require_init()
        return await self._session.request(ev, data)

    async def request(self, ev: str, data: dict[str, Any]) -> Any:
        """Send any request of the protocol (e.g. the media plane's ``publish``) and return
        its ack data; the same codes as every call (2508 when not in a room, the ack's code)."""
        self._require_init()
        if not isinstance(ev, str) or not ev or not isinstance(data, dict):
            raise ClientError(BAD_PARAMETERS, "request needs an event name and a dict")
        return await self._request(ev, data)

    def on_server_event(self, listener: RawListener) -> None:
        """Also hand every server event (name, data, s) to ``listener``, after the SDK has
        applied it and dropped replays: the hook for planes built on the SDK (media)."""
        self._session.add_listener(listener)

    async def sendMessage(
        self,
        message: str | Mapping[str, Any],
        toID: str | list[str] | Mapping[str, Any] = MSG_TO_ALLUSER,
        extendJson: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Chat. With ``extendJson`` the message is ``{"msg": message, **extendJson}``.

        Raises 61 (1024 characters or more), 62 (too fast), 4108 (chat banned).
        """
        self._require_init()
        if not isinstance(message, str | Mapping):
            raise ClientError(BAD_PARAMETERS, "message must be text or a mapping")
        _check_to(toID)
        body: Any = dict(message) if isinstance(message, Mapping) else message
        if extendJson is not None:
            body = {"msg": body, **dict(extendJson)}
        return await self._request("sendMessage", {"toID": toID, "message": body}) or {}

    async def pubMsg(self, params: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Publish a room message: ``name``, ``id``, ``toID``, ``data``, ``save``,
        ``associatedMsgID``, ``associatedUserID``, ``expires``. Answers ``{"seq": n}``."""
        self._require_init()
        msg = _message(params, kw)
        msg.setdefault("toID", MSG_TO_ALLUSER)
        msg.setdefault("data", {})
        msg["save"] = bool(msg.get("save", False))
        return await self._request("pubMsg", msg) or {}

    async def delMsg(self, params: Mapping[str, Any] | None = None, **kw: Any) -> None:
        """Delete a (saved) room message by ``name``/``id``, telling ``toID``."""
        self._require_init()
        msg = _message(params, kw)
        msg.setdefault("toID", MSG_TO_ALLUSER)
        await self._request("delMsg", msg)

    async def changeUserProperty(
        self, id: str, tellWhom: Any, properties: Mapping[str, Any]
    ) -> None:
        """Set ``properties`` of user ``id`` and tell ``tellWhom`` (a toID)."""
        self._require_init()
        if not isinstance(id, str) or not id:
            raise ClientError(BAD_PARAMETERS, "changeUserProperty needs a user id")
        await self._set_property(id, tellWhom, properties)

    async def changeUserPropertyByRole(
        self, roles: Iterable[int], tellWhom: Any, properties: Mapping[str, Any]
    ) -> None:
        """Set ``properties`` of every user having one of ``roles``."""
        self._require_init()
        await self._set_property({"roles": _roles(roles)}, tellWhom, properties)

    async def batchChangeUserProperty(
        self, ids: Iterable[str], tellWhom: Any, properties: Mapping[str, Any]
    ) -> None:
        """Set the same ``properties`` on several users at once."""
        self._require_init()
        il = list(ids) if isinstance(ids, list | tuple | set | frozenset) else None
        if not il or not all(isinstance(i, str) and i for i in il):
            raise ClientError(BAD_PARAMETERS, "ids must be a non-empty list of user ids")
        await self._set_property({"ids": il}, tellWhom, properties)

    async def changeUserPublish(self, id: str, publishstate: int) -> None:
        """Bring a user on or off stage: 0 none, 1 audio, 2 video, 3 both, 4 muted."""
        self._require_init()
        if not isinstance(publishstate, int) or not 0 <= publishstate <= 4:
            raise ClientError(BAD_PARAMETERS, "publishstate must be 0..4")
        await self.changeUserProperty(id, MSG_TO_ALLUSER, {"publishstate": publishstate})

    async def _set_property(self, target: Any, to: Any, properties: Mapping[str, Any]) -> None:
        if not isinstance(properties, Mapping) or not properties:
            raise ClientError(BAD_PARAMETERS, "properties must be a non-empty mapping")
        _check_to(to)
        await self._request("setProperty", {"id": target, "toID": to, "properties": dict(properties)})

    async def evictUser(self, id: str, causeJson: Any = None) -> None:
        """Send a user out of the class (teacher and assistant only: 4108 otherwise)."""
        self._require_init()
        if not isinstance(id, str) or not id:
            raise ClientError(BAD_PARAMETERS, "evictUser needs a user id")
        data: dict[str, Any] = {"id": id}
        if causeJson is not None:
            data["reason"] = causeJson
        await self._request("evictParticipant", data)

    async def joinGroup(self, groupid: str) -> list[dict[str, Any]]:
        """Move into a group; the group's user list. JoinGroupError (2511) when refused."""
        self._require_init()
        if not isinstance(groupid, str) or not groupid:
            raise ClientError(BAD_PARAMETERS, "joinGroup needs a group id")
        try:
            answer = await self._request("joinGroup", {"groupid": groupid}) or {}
        except ClientError as exc:
            if exc.code in (155, 156):
                self._bus.emit(E.ERROR_NOTICE, {"code": exc.code, "msg": exc.message})
                raise JoinGroupError(exc.code, exc.message) from exc
            raise
        self._mirror.set_group(groupid)
        return list(answer.get("userlist") or [])

    async def leaveGroup(self) -> None:
        """Leave the current group (102 when in none)."""
        await self._request("leaveGroup", {})
        self._mirror.set_group(None)

    async def getRoomUsers(
        self,
        start: int = 0,
        max: int = 200,
        roles: Iterable[int] | None = None,
        search: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the room's users from the server (big rooms): ``(userlist, total)``."""
        self._require_init()
        if not isinstance(start, int) or start < 0 or not isinstance(max, int) or max <= 0:
            raise ClientError(BAD_PARAMETERS, "start must be >= 0 and max > 0")
        data: dict[str, Any] = {"start": start, "max": max}
        if roles is not None:
            data["roles"] = _roles(roles)
        if search is not None:
            if not isinstance(search, str):
                raise ClientError(BAD_PARAMETERS, "search must be text")
            data["search"] = search
        answer = await self._request("getRoomUsers", data) or {}
        return list(answer.get("userlist") or []), int(answer.get("total", 0))

    async def getRoomUserNum(self, roles: Iterable[int] | None = None) -> int:
        """How many users are in the room (of ``roles`` when given), counted by the server."""
        self._require_init()
        data: dict[str, Any] = {} if roles is None else {"roles": _roles(roles)}
        answer = await self._request("getRoomUserNum", data) or {}
        return int(answer.get("num", 0))

    async def fetchUser(self, id: str) -> dict[str, Any]:
        """A user as the server knows it now (also users not pushed to us in big rooms)."""
        self._require_init()
        if not isinstance(id, str) or not id:
            raise ClientError(BAD_PARAMETERS, "fetchUser needs a user id")
        answer = await self._request("getUser", {"ids": [id]}) or {}
        users = answer.get("users") or []
        if not users:
            raise ClientError(NO_THIS_USER, f"no user {id!r} in the room")
        return users[0]

    # ---- local state -------------------------------------------------------------------------

    def getUser(self, id: str) -> dict[str, Any]:
        """A user of the local copy; ``ERR_NO_THIS_USER`` 104 when not in it."""
        self._require_init()
        user = self._mirror.user(id)
        if user is None:
            raise ClientError(NO_THIS_USER, f"no user {id!r} in the room")
        return user

    def getUsers(self) -> dict[str, dict[str, Any]]:
        """Every user of the local copy, by id (in big rooms: those the server pushes)."""
        self._require_init()
        return self._mirror.all_users()

    @property
    def iceServers(self) -> list[dict[str, Any]]:  # noqa: N802 - the SDK's public name
        """The TURN servers (and this user's credentials) the node's getconfig gave."""
        return list(self._session.ice_servers)

    def getMySelf(self) -> dict[str, Any] | None:
        self._require_init()
        return self._mirror.myself()

    def getRoomProperties(self) -> dict[str, Any]:
        self._require_init()
        return dict(self._mirror.room)

    def getMsgList(self) -> list[dict[str, Any]]:
        """The room's saved messages, in ``seq`` order."""
        self._require_init()
        return copy.deepcopy(self._mirror.messages())

    @property
    def mode(self) -> str:
        return self._mirror.mode

    def drop_connection(self) -> None:
        """Cut the socket as a network failure would (reconnection follows). For tests/demos."""
        self._session.drop_connection()


def _check_to(to: Any) -> None:
    ok = (
        (isinstance(to, str) and to)
        or (isinstance(to, list) and to and all(isinstance(i, str) and i for i in to))
        or (isinstance(to, Mapping) and (set(to) in ({"roles"}, {"group"})))
    )
    if not ok:
        raise ClientError(BAD_PARAMETERS, f"bad toID {to!r}")


def _roles(roles: Any) -> list[int]:
    """A non-empty list of roles 0..4, or 103."""
    rl = list(roles) if isinstance(roles, list | tuple | set | frozenset) else None
    if not rl or not all(isinstance(r, int) and not isinstance(r, bool) and r in ROLES
                         for r in rl):
        raise ClientError(BAD_PARAMETERS, "roles must be a non-empty list of roles 0..4")
    return rl


def _message(params: Any, kw: dict[str, Any]) -> dict[str, Any]:
    """pubMsg/delMsg take a mapping and/or keywords; anything else is 103."""
    if params is not None and not isinstance(params, Mapping):
        raise ClientError(BAD_PARAMETERS, "the message must be a mapping")
    msg = {**dict(params or {}), **kw}
    _check_msg(msg)
    return msg


def _check_msg(msg: Mapping[str, Any]) -> None:
    for key in ("name", "id"):
        if not isinstance(msg.get(key), str) or not msg[key]:
            raise ClientError(BAD_PARAMETERS, f"the message needs a non-empty {key!r}")
    if "toID" in msg:
        _check_to(msg["toID"])
