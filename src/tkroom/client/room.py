"""``Room``: the public API of the Python SDK, shaped like the original TKRoomSDK ``TK.Room``.

A ``Room`` is initialised once (``init``), joins a class (``joinroom``: HTTP ``checkroom`` and
``getconfig``, then the WebSocket ``joinRoom``), keeps a local copy of the room (users, their
properties, saved messages) up to date from the server's events, and re-emits those events
under the original SDK's names. When the socket drops it reconnects by itself: it resumes the
session (nobody in the room notices) or, when the server has forgotten it, joins again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tkroom.client import events as E
from tkroom.client.connection import Connection
from tkroom.client.errors import (
    BAD_PARAMETERS,
    INVALID_STATUS,
    MAX_ATTEMPTS_EXCEEDED,
    NO_THIS_USER,
    NOT_INITIALIZED,
    ROOM_NOT_CONNECT,
    ClientError,
    JoinGroupError,
)
from tkroom.client.events import Callback, EventBus, Subscription
from tkroom.client.http import ClientAPI

log = logging.getLogger(__name__)

MSG_TO_ALLUSER = "__all"
MSG_TO_ALLEXCEPTSENDER = "__allExceptSender"
MSG_TO_ALLEXCEPTAUDITOR = "__allExceptAuditor"
MSG_TO_NONEUSER = "__none"
MSG_TO_ALLSUPERUSERS = "__allSuperUsers"

ROLE_TEACHER, ROLE_ASSISTANT, ROLE_STUDENT, ROLE_AUDIT, ROLE_PATROL = range(5)

RESUMABLE_GONE = 102  # the server no longer knows the session: join again

# room-connect-fail's ``source``, as in the original SDK: which step of joining failed
SOURCE_SOCKET, SOURCE_GETCONFIG, SOURCE_CHECKROOM = 0, 1, 3


class State(enum.Enum):
    UNINITIALIZED = "uninitialized"
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


@dataclass(slots=True)
class Options:
    """What ``init`` sets. ``max_reconnect_attempts`` None means: try for ever (the original)."""

    request_timeout: float = 10.0
    http_timeout: float = 10.0
    connect_timeout: float = 5.0
    reconnect: bool = True
    max_reconnect_attempts: int | None = None
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    secure: bool = False
    signal_urls: tuple[str, ...] = ()  # other nodes to try when ours is gone (a cluster)


class Room:
    """A participant's view of one class. Create it, ``init`` it, then ``await joinroom(...)``."""

    def __init__(self) -> None:
        self._bus = EventBus()
        self._state = State.UNINITIALIZED
        self._opts = Options()
        self.appkey = ""
        self._conn: Connection | None = None
        self._api: ClientAPI | None = None
        self._join_args: dict[str, Any] = {}
        self._signal_url = ""
        self._alternates: list[str] = []  # every node's signalling URL we have been told of
        self._session: dict[str, str] = {}
        self._last_s = -1
        self._self_id = ""
        self._users: dict[str, dict[str, Any]] = {}
        self._room: dict[str, Any] = {}
        self._msgs: dict[str, dict[str, Any]] = {}
        self._mode = "normalRoom"
        self._group: str | None = None
        self._connected = asyncio.Event()
        self._reconnector: asyncio.Task[None] | None = None
        self._raw_listeners: list[Callable[[str, dict[str, Any], int | None], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- setup -------------------------------------------------------------------------------

    def init(self, appkey: str = "", **options: Any) -> None:
        """Initialise the SDK. Options (all keyword): see ``Options``; unknown ones are 103."""
        unknown = set(options) - set(Options.__dataclass_fields__)
        if unknown:
            raise ClientError(BAD_PARAMETERS, f"unknown init options: {sorted(unknown)}")
        if self._state not in (State.UNINITIALIZED, State.IDLE):
            raise ClientError(INVALID_STATUS, "init while in a room: leaveroom first")
        self._opts = Options(**options)
        self.appkey = appkey
        self._state = State.IDLE

    async def __aenter__(self) -> Room:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """``async with Room() as room:`` leaves the class on the way out, whatever happened."""
        if self._state not in (State.UNINITIALIZED, State.IDLE):
            await self.leaveroom()

    def checkInit(self) -> bool:
        return self._state is not State.UNINITIALIZED

    @property
    def state(self) -> State:
        return self._state

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
        if self._state is not State.IDLE:
            raise ClientError(INVALID_STATUS, f"joinroom while {self._state.value}")
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
        scheme = "https" if self._opts.secure else "http"
        base = host if "://" in host else f"{scheme}://{host}:{port}"
        self._join_args = {
            "serial": str(serial),
            "nickname": nickname,
            "userid": userid,
            "password": params.get("password"),
            "loginkey": params.get("loginkey"),
            "userrole": params.get("userrole"),
            "properties": dict(properties or {}),
        }
        self._api = ClientAPI(base, timeout=self._opts.http_timeout)
        return await self._enter()

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
        if self._state is not State.IDLE:
            raise ClientError(INVALID_STATUS, f"joinroomEx while {self._state.value}")
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ClientError(BAD_PARAMETERS, "joinroomEx needs a ws:// or wss:// url")
        if not (callable(ticket) or (isinstance(ticket, str) and ticket)):
            raise ClientError(BAD_PARAMETERS, "joinroomEx needs a ticket")
        self._join_args = {"ticket": ticket, "properties": dict(properties or {})}
        self._signal_url = url
        return await self._enter()

    async def _enter(self) -> dict[str, Any]:
        self._state = State.CONNECTING
        try:
            answer = await self._join_fresh()
        except ClientError as exc:
            await self._teardown()
            self._bus.emit(E.ROOM_CONNECT_FAIL, {"code": exc.code, "error": exc.message,
                                                 "source": exc.extra.get("source", SOURCE_SOCKET)})
            raise
        except BaseException:
            await self._teardown()
            raise
        self._state = State.CONNECTED
        self._connected.set()
        self._bus.emit(
            E.ROOM_CONNECTED,
            {"message": list(self._msgs.values()), "userlist": self.getUsers(),
             "self": self.getMySelf()},
        )
        return answer

    async def _credentials(self) -> tuple[str, dict[str, Any]]:
        """Where to connect and the joinRoom proof: checkroom + getconfig, or the given ticket."""
        a, api = self._join_args, self._api
        join: dict[str, Any] = {"properties": a["properties"]}
        if api is None:
            tk = a["ticket"]
            join["ticket"] = tk if isinstance(tk, str) else await tk()
            return self._signal_url, join
        try:
            checked = await api.checkroom(
                a["serial"], a["nickname"], password=a["password"], loginkey=a["loginkey"],
                userid=a["userid"], userrole=a["userrole"],
            )
        except ClientError as exc:
            exc.extra.setdefault("source", SOURCE_CHECKROOM)
            raise
        try:
            config = await api.getconfig(a["serial"], checked.get("roomrole"))
        except ClientError as exc:
            exc.extra.setdefault("source", SOURCE_GETCONFIG)
            raise
        url = self._learn_urls(config)
        if not url:
            raise ClientError(INVALID_STATUS, "getconfig gave no signal url")
        if checked.get("ticket"):
            join["ticket"] = checked["ticket"]
        elif a["loginkey"]:
            join.update(serial=a["serial"], loginkey=a["loginkey"])
        else:
            raise ClientError(INVALID_STATUS, "checkroom gave no join ticket")
        return url, join

    def _learn_urls(self, config: Mapping[str, Any]) -> str:
        """The signalling URL of a getconfig answer; its ``signal.urls`` (other nodes of a
        cluster) are kept to fall back on."""
        sig = config.get("signal") or {}
        url = sig.get("url") if isinstance(sig, Mapping) else None
        others = sig.get("urls") if isinstance(sig, Mapping) else None
        for u in [url, *(others if isinstance(others, list) else [])]:
            if isinstance(u, str) and u and u not in self._alternates:
                self._alternates.append(u)
        return url if isinstance(url, str) else ""

    async def _join_fresh(self) -> dict[str, Any]:
        """Socket + joinRoom with fresh credentials; replaces the local state."""
        url, join = await self._credentials()
        self._signal_url = url
        conn = await self._open_socket(url)
        try:
            answer = await conn.request("joinRoom", join, self._opts.request_timeout)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._apply_join(answer)
        return answer

    async def _open_socket(self, url: str) -> Connection:
        conn = Connection(self._on_event, self._on_closed)
        await conn.connect(url, self._opts.connect_timeout)
        return conn

    def _apply_join(self, answer: Mapping[str, Any]) -> None:
        me = answer.get("self") or {}
        self._self_id = str(me.get("id", ""))
        self._users = {u["id"]: _user(u) for u in answer.get("userlist") or ()}
        if self._self_id:
            self._users[self._self_id] = _user(me)
        self._room = dict(answer.get("room") or {})
        msgs = sorted(answer.get("msglist") or (), key=lambda m: m.get("seq", 0))
        self._msgs = {m["id"]: m for m in msgs}
        self._mode = answer.get("mode", "normalRoom")
        self._session = dict(answer.get("session") or {})
        self._last_s = int(answer.get("s", -1))
        self._group = self._users.get(self._self_id, {}).get("properties", {}).get("group")

    async def leaveroom(self) -> None:
        """Leave the class (``room-leaveroom``). Raises 101 before init, 2508 when not in one."""
        self._require_init()
        if self._state is State.IDLE:
            raise ClientError(ROOM_NOT_CONNECT, "leaveroom: not in a room")
        conn = self._conn
        if conn is not None and conn.open:
            with contextlib.suppress(ClientError):
                await conn.request("leaveRoom", {}, self._opts.request_timeout)
        await self._teardown()
        self._bus.emit(E.ROOM_LEAVEROOM, {"reason": "leaveroom"})

    async def _teardown(self) -> None:
        self._state = State.IDLE
        self._connected.clear()
        task, self._reconnector = self._reconnector, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        api, self._api = self._api, None
        if api is not None:
            await api.aclose()
        self._session = {}
        self._alternates = []

    # ---- requests ----------------------------------------------------------------------------

    def _require_init(self) -> None:
        if self._state is State.UNINITIALIZED:
            raise ClientError(NOT_INITIALIZED, "call init() first")

    async def _request(self, ev: str, data: dict[str, Any]) -> Any:
        """Send once connected; waits out a reconnection (up to the request timeout)."""
        self._require_init()
        if self._state in (State.IDLE, State.CONNECTING):
            raise ClientError(ROOM_NOT_CONNECT, f"{ev}: not in a room")
        if self._state is State.RECONNECTING:
            try:
                await asyncio.wait_for(self._connected.wait(), self._opts.request_timeout)
            except TimeoutError as exc:
                raise ClientError(ROOM_NOT_CONNECT, f"{ev}: still reconnecting") from exc
        if self._conn is None:
            raise ClientError(ROOM_NOT_CONNECT, f"{ev}: not in a room")
        return await self._conn.request(ev, data, self._opts.request_timeout)

    async def request(self, ev: str, data: dict[str, Any]) -> Any:
        """Send any request of the protocol (e.g. the media plane's ``publish``) and return
        its ack data; the same codes as every call (2508 when not in a room, the ack's code)."""
        self._require_init()
        if not isinstance(ev, str) or not ev or not isinstance(data, dict):
            raise ClientError(BAD_PARAMETERS, "request needs an event name and a dict")
        return await self._request(ev, data)

    def on_server_event(self, listener: Callable[[str, dict[str, Any], int | None], None]) -> None:
        """Also hand every server event (name, data, s) to ``listener``, after the SDK has
        applied it and dropped replays: the hook for planes built on the SDK (media)."""
        self._raw_listeners.append(listener)

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
        self._group = groupid
        me = self._users.get(self._self_id)
        if me is not None:
            me["properties"]["group"] = groupid
        return list(answer.get("userlist") or [])

    async def leaveGroup(self) -> None:
        """Leave the current group (102 when in none)."""
        await self._request("leaveGroup", {})
        self._group = None
        me = self._users.get(self._self_id)
        if me is not None:
            me["properties"]["group"] = None

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
        user = self._users.get(id)
        if user is None:
            raise ClientError(NO_THIS_USER, f"no user {id!r} in the room")
        return copy.deepcopy(user)

    def getUsers(self) -> dict[str, dict[str, Any]]:
        """Every user of the local copy, by id (in big rooms: those the server pushes)."""
        self._require_init()
        return copy.deepcopy(self._users)

    def getMySelf(self) -> dict[str, Any] | None:
        self._require_init()
        me = self._users.get(self._self_id)
        return copy.deepcopy(me) if me is not None else None

    def getRoomProperties(self) -> dict[str, Any]:
        self._require_init()
        return dict(self._room)

    def getMsgList(self) -> list[dict[str, Any]]:
        """The room's saved messages, in ``seq`` order."""
        self._require_init()
        return copy.deepcopy(list(self._msgs.values()))

    @property
    def mode(self) -> str:
        return self._mode

    # ---- server events -----------------------------------------------------------------------

    def _on_event(self, ev: str, data: Any, s: int | None) -> None:
        if s is not None:
            if s <= self._last_s:
                return  # already processed (replayed by a resume)
            self._last_s = s
        body = data if isinstance(data, dict) else {}
        handler = _HANDLERS.get(ev)
        if handler is not None:
            handler(self, body)
        for listener in self._raw_listeners:
            try:
                listener(ev, body, s)
            except Exception:
                log.exception("listener for %s failed", ev)

    def _ev_joined(self, d: dict[str, Any]) -> None:
        if "id" not in d:
            return
        user = _user(d)
        self._users[user["id"]] = user
        self._bus.emit(E.PARTICIPANT_JOIN, {"user": copy.deepcopy(user)})

    def _ev_left(self, d: dict[str, Any]) -> None:
        uid = d.get("id")
        user = self._users.pop(uid, None) or {"id": uid, "properties": {}}
        self._bus.emit(E.PARTICIPANT_LEAVE, {"user": user, "id": uid})

    def _ev_evicted(self, d: dict[str, Any]) -> None:
        if d.get("id") not in (None, self._self_id):
            self._ev_left(d)
            return
        self._bus.emit(E.PARTICIPANT_EVICTED, {"reason": d.get("reason"), "fromID": d.get("fromID")})
        self._state = State.IDLE
        self._connected.clear()
        self._spawn(self._finish_evicted())

    def _spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_evicted(self) -> None:
        await self._teardown()
        self._bus.emit(E.ROOM_LEAVEROOM, {"reason": "evicted"})

    def _ev_property(self, d: dict[str, Any]) -> None:
        uid, props = d.get("id"), d.get("properties")
        if not isinstance(props, dict):
            return
        on_stage = isinstance(props.get("publishstate"), int) and props["publishstate"] > 0
        user = self._users.get(uid)
        if user is None:  # big room: someone we do not track, pushed because of the stage
            user = {"id": uid, "properties": {}}
            if on_stage:
                self._users[uid] = user
        user["properties"].update(props)
        if (self._mode == "bigRoom" and uid != self._self_id and props.get("publishstate") == 0
                and user["properties"].get("role") not in (ROLE_TEACHER, ROLE_ASSISTANT)):
            self._users.pop(uid, None)  # off stage in a big room: no longer pushed to us
        if uid == self._self_id and "group" in props:
            self._group = props["group"]
        self._bus.emit(
            E.USERPROPERTY_CHANGED,
            {"user": copy.deepcopy(user), "message": props, "fromID": d.get("fromID")},
        )

    def _ev_text(self, d: dict[str, Any]) -> None:
        self._bus.emit(
            E.TEXT_MESSAGE,
            {
                "userid": d.get("fromID"),
                "nickname": d.get("nickname"),
                "role": d.get("role"),
                "message": d.get("message"),
                "toID": d.get("toID"),
                "ts": d.get("ts"),
            },
        )

    def _ev_pubmsg(self, d: dict[str, Any]) -> None:
        if d.get("save") and isinstance(d.get("id"), str):
            self._msgs.pop(d["id"], None)
            self._msgs[d["id"]] = d
        if d.get("name") == "BigRoom" or d.get("id") == "BigRoom":
            self._mode = "bigRoom"
        self._bus.emit(E.PUBMSG, d)

    def _ev_delmsg(self, d: dict[str, Any]) -> None:
        self._msgs.pop(d.get("id"), None)
        self._bus.emit(E.DELMSG, d)

    def _ev_msglist(self, d: dict[str, Any]) -> None:
        msgs = sorted(d.get("msglist") or (), key=lambda m: m.get("seq", 0))
        self._msgs = {m["id"]: m for m in msgs if "id" in m}
        self._bus.emit(E.MSGLIST, {"message": list(self._msgs.values())})

    def _ev_mode(self, d: dict[str, Any]) -> None:
        self._mode = d.get("mode", self._mode)
        self._bus.emit(E.MODE_CHANGED, {"mode": self._mode})

    def _ev_notice(self, d: dict[str, Any]) -> None:
        kind = {"error": E.ERROR_NOTICE, "warn": E.WARN_NOTICE, "info": E.INFO_NOTICE}
        self._bus.emit(kind.get(d.get("kind"), E.INFO_NOTICE), d)

    def _ev_force_reconnect(self, d: dict[str, Any]) -> None:
        log.info("server asks to reconnect: %s", d.get("reason"))
        if self._conn is not None:
            self._conn.abort()

    # ---- reconnection ------------------------------------------------------------------------

    def _on_closed(self, conn: Connection, reason: str) -> None:
        if conn is not self._conn or self._state is not State.CONNECTED:
            return
        self._connected.clear()
        if not self._opts.reconnect:
            self._conn = None
            self._spawn(self._give_up(ROOM_NOT_CONNECT, reason))
            return
        self._state = State.RECONNECTING
        self._reconnector = asyncio.create_task(self._reconnect(reason), name="tkroom-reconnect")

    async def _give_up(self, code: int, reason: str) -> None:
        await self._teardown()
        self._bus.emit(E.ERROR_NOTICE, {"code": code, "msg": reason})
        self._bus.emit(E.ROOM_DISCONNECTED, {"code": code, "reason": reason})

    async def _reconnect(self, reason: str) -> None:
        """Resume the session on a new socket; rejoin when the server forgot it."""
        delay = self._opts.backoff_initial
        attempt = 0
        last_error = reason
        while True:
            attempt += 1
            limit = self._opts.max_reconnect_attempts
            if limit is not None and attempt > limit:
                self._reconnector = None
                await self._give_up(
                    MAX_ATTEMPTS_EXCEEDED, f"gave up after {limit} attempts: {last_error}"
                )
                return
            self._bus.emit(E.ROOM_RECONNECTING, {"number": attempt, "reason": last_error})
            try:
                resumed = await self._reconnect_once(attempt)
            except ClientError as exc:
                last_error = f"{exc.code}: {exc.message}"
                log.info("reconnect attempt %d failed: %s", attempt, last_error)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._opts.backoff_max)
                continue
            self._reconnector = None
            self._state = State.CONNECTED
            self._connected.set()
            self._bus.emit(
                E.ROOM_RECONNECTED,
                {"resumed": resumed, "number": attempt, "userlist": self.getUsers(),
                 "message": list(self._msgs.values())},
            )
            return

    async def _reconnect_once(self, attempt: int) -> bool:
        """One attempt: True when the session resumed, False when it had to join afresh.

        The URL: what getconfig says now (or the node we were on) first, then the other nodes
        we know of in turn, so that the users of a stopped node move to another one.
        """
        old = self._conn
        self._conn = None
        if old is not None:
            await old.close()
        first = self._signal_url
        if self._api is not None:
            with contextlib.suppress(ClientError):
                first = self._learn_urls(await self._api.getconfig(self._join_args["serial"]))
                first = first or self._signal_url
        known = [first] + [u for u in (*self._alternates, *self._opts.signal_urls) if u != first]
        url = known[(attempt - 1) % len(known)]
        self._signal_url = url
        conn = await self._open_socket(url)
        try:
            if self._session:
                try:
                    self._conn = conn
                    await conn.request(
                        "resume",
                        {"session": self._session.get("id"), "token": self._session.get("token"),
                         "last": self._last_s},
                        self._opts.request_timeout,
                    )
                    return True
                except ClientError as exc:
                    if exc.code != RESUMABLE_GONE:
                        raise
                    self._conn = None
            await conn.close()
            before, group = self._users, self._group
            await self._join_fresh()
            if group and self._conn is not None:  # a fresh session starts in no group
                with contextlib.suppress(ClientError):
                    await self._conn.request("joinGroup", {"groupid": group},
                                             self._opts.request_timeout)
                    self._group = group
                    me = self._users.get(self._self_id)
                    if me is not None:
                        me["properties"]["group"] = group
            self._announce_diff(before)
            return False
        except BaseException:
            self._conn = None
            await conn.close()
            raise

    def _announce_diff(self, before: dict[str, dict[str, Any]]) -> None:
        """After a fresh join, tell the app who came and went while we were away."""
        for uid, user in before.items():
            if uid not in self._users:
                self._bus.emit(E.PARTICIPANT_LEAVE, {"user": user, "id": uid})
        for uid, user in self._users.items():
            if uid not in before:
                self._bus.emit(E.PARTICIPANT_JOIN, {"user": copy.deepcopy(user)})

    def drop_connection(self) -> None:
        """Cut the socket as a network failure would (reconnection follows). For tests/demos."""
        if self._conn is not None:
            self._conn.abort()


_HANDLERS = {
    "participantJoined": Room._ev_joined,
    "participantLeft": Room._ev_left,
    "participantEvicted": Room._ev_evicted,
    "setProperty": Room._ev_property,
    "sendMessage": Room._ev_text,
    "pubMsg": Room._ev_pubmsg,
    "delMsg": Room._ev_delmsg,
    "msgList": Room._ev_msglist,
    "roomModeChanged": Room._ev_mode,
    "notice": Room._ev_notice,
    "forceReconnect": Room._ev_force_reconnect,
}


def _user(u: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(u.get("id")), "properties": dict(u.get("properties") or {})}


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
    if not rl or not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= 4
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
