"""Room state in Redis, shared by every node of a cluster (``tkroom serve --redis``).

Every operation is one Lua script (``tkroom.state.redis_lua``), so limits, ``seq`` and ``s``
hold exactly under concurrent requests on many nodes. ``publish`` stamps the event, keeps it in
the room's replay window and PUBLISHes it in the same script: one publish per event per room,
on the channel of the room, in ``s`` order. Each node keeps one subscriber connection and
subscribes to the rooms it has members in; its reader hands every event to the room's local
subscribers (the node's fan-out), which encode it once for all their sockets.

Sessions are recorded with the node they are attached to; nodes beat a heartbeat key. When a
node dies its sessions are detached with a fresh grace period by whichever node sweeps next, so
their users may resume on another node, and are removed when nobody comes back.

When Redis itself goes away, commands are retried with backoff on fresh connections, the
subscriber reconnects, resubscribes and fills the gap from each room's replay window. Each beat
also checks Redis's ``run_id``: a restarted (or failed-over) Redis may have lost recent writes,
or everything, so the node's restart hooks put back what the node knows (``restore``: the
members and sessions of the sockets it holds), and no room's event counter goes back below what
a node already delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tkroom import redisconn as redis_conn
from tkroom.rooms import tools
from tkroom.rooms import transitions as t
from tkroom.rooms.model import SUPER_ROLES, Event, Member, Target
from tkroom.rooms.streams import Refusal, StreamClaim
from tkroom.state import redis_lua as lua
from tkroom.state.base import Session, Subscriber

log = logging.getLogger(__name__)

# How often a node on Redis Sentinel asks where the primary is (three small queries).
FOLLOW_S = 0.25

_LIMIT_CODES = {0: t.ERR_WRONG_PARAM, 2: t.ERR_STUDENT_LIMIT, 3: t.ERR_VIEWER_LIMIT}


class NotReplicated(RuntimeError):
    """A write reached fewer replicas than ``wait_replicas`` in time: it is not acknowledged
    (it may or may not survive a failover)."""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _member(row: list[Any]) -> Member:
    """A member from ``{base JSON, {prop, value JSON, ...}}`` as the scripts return it."""
    base, flat = row
    props = {flat[i]: json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
    return Member(**json.loads(base), properties=props)


def _message(row: list[Any]) -> dict[str, Any]:
    """A saved message from ``{JSON, seq}``."""
    return {**json.loads(row[0]), "seq": int(row[1])}


def _messages(rows: list[Any]) -> list[dict[str, Any]]:
    return sorted((_message(r) for r in rows), key=lambda m: m["seq"])


def _event(entry: str) -> Event:
    """An event from its window/channel form ``"<s>\\n<JSON>"``."""
    s, _, body = entry.partition("\n")
    d = json.loads(body)
    return Event(d["ev"], d["data"], Target.from_list(d["target"]), int(s))


def _closed_card(row: list[Any]) -> tools.ClosedCard:
    """A closed card from ``{qid, question JSON, counts, {uid, "0,2", ...}}``."""
    qid, question, counts, flat = row
    answers = {flat[i]: [int(x) for x in flat[i + 1].split(",")]
               for i in range(0, len(flat), 2)}
    return tools.ClosedCard(qid, json.loads(question), [int(c) for c in counts], answers)


def _session(sid: str, row: list[Any]) -> Session:
    token, serial, userid, deadline, _node = row
    return Session(sid, token, serial, userid, float(deadline) if deadline else None)


def _recancel(result: Any) -> Any:
    """Re-raise a cancellation redis-py swallowed while the command ran (the task would
    otherwise go on with its cancel request lost, e.g. a loop that can then never stop)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    return result


def _visible(member: Member) -> bool:
    """Whether a big room shows the member to everyone (teacher, assistant, on stage)."""
    return member.role in SUPER_ROLES or bool(member.properties.get("publishstate"))


def _flat_props(props: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in props.items():
        out += [k, _dumps(v)]
    return out


class RedisState:
    """``RoomState`` on a Redis server shared by every node.

    ``prefix`` namespaces every key and channel (tests use a unique one), ``window`` is how
    many events a room keeps for resuming, ``node`` names this node (random by default),
    ``grace`` is the grace period given to the sessions of a node found dead, ``heartbeat``
    how often this node proves it is alive (it is dead after ``heartbeat * 5`` of silence) and
    checks that Redis did not restart, ``idle_ttl`` how long an emptied room without saved
    messages keeps its counters, ``retries`` how often a command is retried on a new connection
    (with jittered backoff, at most about 3.5 s in all) before its request fails.
    ``wait_replicas``: a saved message (or its deletion) is answered only once that many
    replicas have it (``WAIT``, at most ``wait_timeout`` s, else the request fails with
    ``NotReplicated``), so that a Sentinel failover, which promotes the replica with the most
    data, keeps every saved message a client was told is saved.
    """

    def __init__(self, url: str, *, prefix: str = "tkroom", window: int = 4096,
                 node: str | None = None, grace: float = 15.0, heartbeat: float = 1.0,
                 subscribe_timeout: float = 10.0, max_connections: int = 32,
                 idle_ttl: float = 86400.0, retries: int = 6, wait_replicas: int = 0,
                 wait_timeout: float = 1.0) -> None:
        self.url = url
        self.g = f"{prefix}:"
        self.window = window
        self.node = node or secrets.token_hex(6)
        self.grace = grace
        self.heartbeat = heartbeat
        self.subscribe_timeout = subscribe_timeout
        self.max_connections = max_connections
        self.idle_ttl = idle_ttl
        self.retries = retries
        self.wait_replicas = wait_replicas
        self.wait_timeout = wait_timeout
        self.redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._scripts: dict[str, AsyncScript] = {}
        self._subs: dict[str, list[Subscriber]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        self._commands: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._mine: set[str] = set()      # sessions attached through this node
        self._last: dict[str, int] = {}   # the last ``s`` delivered per subscribed room
        self._delivered: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}  # publishers
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._run_id = ""                  # which Redis process we talk to (INFO server)
        self._restart_hooks: list[Callable[[], Awaitable[None]]] = []
        self._restarting = asyncio.Lock()
        self._restarts = 0                 # how many restarts were handled
        self._down = False                 # Redis unreachable: said once in the log
        # the stream claims made through this node: (serial, stream id) -> (userid, video, audio)
        self._claims: dict[tuple[str, str], tuple[str, bool, bool]] = {}

    # life cycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._closing = False
        # a bounded pool that makes a burst of requests wait for a connection, not fail; a
        # connection Redis dropped (it restarted) is replaced and the command sent again
        tcp = {"socket_keepalive": True} if not self.url.startswith("unix:") else {}
        self.redis = redis_conn.client(
            self.url, blocking=True, decode_responses=True, max_connections=self.max_connections,
            timeout=30, retry=Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), self.retries),
            retry_on_error=[RedisConnectionError, RedisTimeoutError], health_check_interval=30,
            socket_connect_timeout=5, **tcp)
        for name in ("ADD_MEMBER", "REMOVE_MEMBER", "UPDATE_PROPERTIES", "GET_MEMBERS",
                     "SNAPSHOT", "MESSAGES", "SAVE_MESSAGE", "DELETE_MESSAGE", "DELETE_CHILDREN",
                     "GET_MESSAGE", "CHAT_GATE",
                     "PUBLISH", "REPLAY", "OPEN_SESSION", "DETACH_SESSION", "ATTACH_SESSION",
                     "EXPIRE_SESSION", "CLOSE_SESSION", "EXPIRED_SESSIONS", "HEARTBEAT",
                     "RECLAIM", "BAR_MEMBER", "RESTORE_MEMBER", "RELEASE_UNHELD",
                     "OPEN_CARD", "ANSWER_CARD", "CLOSE_CARD", "ARM_BUZZER", "PRESS_BUZZER",
                     "DISARM_BUZZER", "GIVE_GIFTS", "CLEAR_TOOLS",
                     "CLAIM_MEDIA_ROOM", "RELEASE_MEDIA_ROOM",
                     "CLAIM_RECORDING", "RENEW_RECORDING", "END_RECORDING"):
            # a Script sends EVALSHA and loads itself again when Redis answers NOSCRIPT
            self._scripts[name] = self.redis.register_script(getattr(lua, name))
        for name in _STREAM_SCRIPTS:
            self._scripts[name] = self.redis.register_script(getattr(lua, name))
        self._run_id = await self._server_run_id()
        await self._beat()
        self._pubsub = self.redis.pubsub()
        # the node's own channel keeps the subscriber connection open between rooms
        await self._pubsub.subscribe(f"{self.g}node:{self.node}:ch")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._write()),
                       loop.create_task(self._heartbeats())]
        if redis_conn.is_sentinel(self.redis):
            self._tasks.append(loop.create_task(self._follow()))

    async def stop(self) -> None:
        self._closing = True
        pending = set(self._tasks)
        while pending:
            # redis-py may swallow a cancellation that lands inside a command: cancel again
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.2)
        self._tasks = []
        self._subs.clear()
        for fut in self._ready.values():
            fut.cancel()
        self._ready.clear()
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        if self.redis is not None:
            with contextlib.suppress(Exception):
                # sessions still attached here are handed to the other nodes' sweepers
                await self.redis.delete(f"{self.g}hb:{self.node}")
            await redis_conn.close(self.redis)
            self.redis = None

    def _room(self, serial: str) -> str:
        """The key prefix of a room (length-prefixed: no serial can collide with another)."""
        return f"{self.g}r:{len(serial.encode())}:{serial}:"

    def _channel(self, serial: str) -> str:
        return f"{self._room(serial)}ev"

    async def _run(self, name: str, *args: Any) -> Any:
        return _recancel(await self._scripts[name](args=list(args)))

    async def _run_replicated(self, name: str, *args: Any) -> Any:
        """``_run``, then (with ``wait_replicas``) ``WAIT`` on the same connection: Redis
        replicates asynchronously, and only WAIT tells that this write reached the replicas."""
        if not self.wait_replicas:
            return await self._run(name, *args)
        assert self.redis is not None
        async with self.redis.pipeline(transaction=False) as pipe:
            await self._scripts[name](args=list(args), client=pipe)
            pipe.wait(self.wait_replicas, max(1, int(self.wait_timeout * 1000)))
            res, acked = _recancel(await pipe.execute())
        if int(acked) < self.wait_replicas:
            await redis_conn.follow_primary(self.redis)     # a primary already replaced?
            # not answered as done: a failover now (or a primary already replaced, still
            # taking writes until Sentinel demotes it) may lose it
            raise NotReplicated(f"{name} reached {acked} of {self.wait_replicas} replicas in "
                                f"{self.wait_timeout:.1f} s")
        return res

    # members -----------------------------------------------------------------------------
    async def add_member(self, serial: str, member: Member, policy: t.JoinPolicy) -> t.JoinOutcome:
        base = member.to_dict()
        props = base.pop("properties")
        limit = t._limit_for(member.role, policy)
        visible = _visible(member)
        res = await self._run(
            "ADD_MEMBER", self._room(serial), member.userid, str(member.role), _dumps(base),
            "1" if policy.singlelogin else "0", "" if limit is None else str(limit),
            str(_LIMIT_CODES.get(member.role, 0)), "1" if visible else "0", *_flat_props(props))
        if res[0]:
            return t.JoinOutcome(int(res[0]), until_ms=int(res[1]) if len(res) > 1 else 0)
        stored = Member(**base, properties=props)
        old = _member(res[2]) if res[2] else None
        t.inherit(old, stored)
        return t.JoinOutcome(t.OK, stored, old, int(res[1]))

    async def remove_member(self, serial: str, userid: str, session: str,
                            keepstate: bool) -> t.LeaveOutcome:
        m, removed, empty, cleared = await self._run(
            "REMOVE_MEMBER", self._room(serial), userid, session, "1" if keepstate else "0",
            int(self.idle_ttl * 1000))
        return t.LeaveOutcome(_member(m) if m else None, _messages(removed), bool(empty),
                              _messages(cleared))

    async def bar_member(self, serial: str, userid: str, until_ms: int, now_ms: int) -> None:
        await self._run("BAR_MEMBER", self._room(serial), userid, until_ms, now_ms)

    async def update_properties(self, serial: str, userid: str,
                                props: dict[str, Any]) -> Member | None:
        props = {k: v for k, v in props.items() if k != "role"}
        visible = "" if "publishstate" not in props else "1" if props["publishstate"] else "0"
        row = await self._run("UPDATE_PROPERTIES", self._room(serial), userid, visible,
                              *_flat_props(props))
        return _member(row) if row else None

    async def get_members(self, serial: str, userids: list[str] | None = None) -> list[Member]:
        if userids is not None and not userids:
            return []
        rows = await self._run("GET_MEMBERS", self._room(serial), *(userids or ()))
        return [_member(r) for r in rows]

    async def count_members(self, serial: str) -> int:
        assert self.redis is not None
        return int(_recancel(await self.redis.zcard(self._room(serial) + "order")))

    async def snapshot(self, serial: str, bigroom: bool) -> t.Snapshot:
        members, msgs, s = await self._run("SNAPSHOT", self._room(serial),
                                           "1" if bigroom else "0")
        return t.Snapshot([_member(r) for r in members], _messages(msgs), int(s))

    # the class's media room --------------------------------------------------------------
    async def claim_media_room(self, serial: str, record: dict[str, str],
                               replaces: int = 0) -> tuple[dict[str, Any] | None, bool]:
        res = await self._run("CLAIM_MEDIA_ROOM", self._room(serial), str(record["server"]),
                              str(record["room"]), int(replaces))
        if len(res) < 4:
            return None, False
        return {"server": res[1], "room": res[2], "epoch": int(res[3])}, bool(res[0])

    async def media_room(self, serial: str) -> dict[str, Any] | None:
        assert self.redis is not None
        server, room, epoch = _recancel(await self.redis.hmget(
            self._room(serial) + "media", ["server", "room", "epoch"]))
        return None if epoch is None else {"server": server, "room": room, "epoch": int(epoch)}

    async def release_media_room(self, serial: str) -> dict[str, Any] | None:
        res = await self._run("RELEASE_MEDIA_ROOM", self._room(serial))
        return {"server": res[0], "room": res[1], "epoch": int(res[2])} if res else None

    # the class's recording ---------------------------------------------------------------
    async def claim_recording(self, serial: str, node: str, now_ms: int, ttl_ms: int,
                              new_id: str) -> tuple[dict[str, Any] | None, bool]:
        res = await self._run_replicated("CLAIM_RECORDING", self._room(serial), node,
                                         int(now_ms), int(ttl_ms), new_id)
        rec = _recording(res)
        return rec, rec is not None and bool(int(res[6]))

    async def renew_recording(self, serial: str, node: str, rec_id: str, now_ms: int,
                              ttl_ms: int) -> bool:
        return bool(await self._run("RENEW_RECORDING", self._room(serial), node, rec_id,
                                    int(now_ms), int(ttl_ms)))

    async def recording(self, serial: str) -> dict[str, Any] | None:
        assert self.redis is not None
        res = _recancel(await self.redis.hmget(
            self._room(serial) + "rec",
            ["id", "started_ms", "holder", "segment", "lease_until", "previous"]))
        return _recording(res) if res[0] is not None else None

    async def end_recording(self, serial: str, rec_id: str) -> dict[str, Any] | None:
        return _recording(await self._run_replicated("END_RECORDING", self._room(serial),
                                                     rec_id))

    # saved messages ----------------------------------------------------------------------
    async def save_message(self, serial: str, msg: dict[str, Any],
                           policy: t.SavePolicy = t.NO_LIMITS, *,
                           author: str = "") -> t.SaveOutcome:
        am, au = msg.get("associatedMsgID"), msg.get("associatedUserID")
        seq, old, refused = await self._run_replicated(
            "SAVE_MESSAGE", self._room(serial), msg["id"], _dumps(msg),
            am if isinstance(am, str) else "", au if isinstance(au, str) else "",
            policy.max_room, policy.max_user, author, policy.max_children)
        if refused == "author":
            return t.SaveOutcome(_message(old), None, refused)
        if refused:
            return t.SaveOutcome(msg, None, refused)
        return t.SaveOutcome({**msg, "seq": int(seq)}, _message(old) if old else None)

    async def delete_message(self, serial: str, msgid: str,
                             author: str = "") -> list[dict[str, Any]] | None:
        rows = await self._run_replicated("DELETE_MESSAGE", self._room(serial), msgid, author)
        return None if rows is None else _messages(rows)

    async def delete_children(self, serial: str, parent: str) -> t.ClearOutcome:
        count, cascaded = await self._run_replicated("DELETE_CHILDREN", self._room(serial), parent)
        return t.ClearOutcome(int(count), _messages(cascaded))

    async def messages(self, serial: str) -> list[dict[str, Any]]:
        return _messages(await self._run("MESSAGES", self._room(serial)))

    async def get_message(self, serial: str, msgid: str) -> dict[str, Any] | None:
        row = await self._run("GET_MESSAGE", self._room(serial), msgid)
        return _message(row) if row else None

    async def has_message(self, serial: str, msgid: str) -> bool:
        assert self.redis is not None
        return bool(_recancel(await self.redis.hexists(self._room(serial) + "msg", msgid)))

    # chat ----------------------------------------------------------------------------------
    async def chat_gate(self, serial: str, userid: str, now_ms: int, min_gap_ms: int) -> bool:
        return bool(await self._run("CHAT_GATE", self._room(serial), userid, now_ms, min_gap_ms))

    # classroom tools -----------------------------------------------------------------------
    def _tools(self, serial: str) -> str:
        return self._room(serial) + "t:"

    @property
    def _idle_ms(self) -> int:
        return int(self.idle_ttl * 1000)

    async def open_card(self, serial: str, question: dict[str, Any]
                        ) -> tuple[int, tools.ClosedCard | None]:
        limit = question.get("limit_s")
        deadline = question["asked_at"] + limit * 1000 if limit else 0
        res = await self._run("OPEN_CARD", self._tools(serial), question["qid"],
                              _dumps(question), len(question["options"]),
                              "1" if question["multiple"] else "0", deadline, tools.MAX_CARDS,
                              self._idle_ms, ",".join(map(str, question.get("right", ()))))
        if int(res[0]):
            return int(res[0]), None
        return 0, _closed_card(res[1]) if res[1] else None

    async def answer_card(self, serial: str, qid: str, userid: str, answer: tuple[int, ...],
                          now_ms: int) -> tools.Tally:
        res = await self._run("ANSWER_CARD", self._tools(serial), qid, userid,
                              ",".join(map(str, answer)), max(answer), len(answer), now_ms,
                              self._idle_ms)
        code = int(res[0])
        if code == tools.NOT_OPEN:
            why = "took answers until its time limit" if res[1] == "late" else "is not open"
            return tools.Tally(code, detail=f"the card {qid!r} {why}")
        if code:
            return tools.Tally(code, detail="the answer does not fit the card's options")
        right = tuple(int(x) for x in res[4].split(",")) if res[4] else ()
        return tools.Tally(0, tuple(int(c) for c in res[1]), int(res[2]), int(res[3]),
                           right=right)

    async def close_card(self, serial: str, qid: str) -> tools.ClosedCard | None:
        res = await self._run("CLOSE_CARD", self._tools(serial), qid)
        return _closed_card(res) if res else None

    async def arm_buzzer(self, serial: str) -> tuple[int, str]:
        rnd, prev = await self._run("ARM_BUZZER", self._tools(serial), self._idle_ms)
        return int(rnd), str(prev)

    async def press_buzzer(self, serial: str, rnd: int, userid: str,
                           now_ms: int) -> tools.Press:
        code, winner, at = await self._run("PRESS_BUZZER", self._tools(serial), rnd, userid,
                                           now_ms, self._idle_ms)
        return tools.Press(int(code), str(winner), int(at))

    async def disarm_buzzer(self, serial: str) -> str:
        return str(await self._run("DISARM_BUZZER", self._tools(serial)))

    async def give_gifts(self, serial: str, receivers: list[str]) -> dict[str, int]:
        flat = await self._run("GIVE_GIFTS", self._room(serial), self._tools(serial),
                               self._idle_ms, *receivers)
        return {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def gift_totals(self, serial: str, userids: list[str]) -> dict[str, int]:
        assert self.redis is not None
        if not userids:
            return {}
        got = _recancel(await self.redis.hmget(self._tools(serial) + "gift", userids))
        return {u: int(n) for u, n in zip(userids, got, strict=True) if n is not None}

    async def clear_tools(self, serial: str) -> tools.ClosedCard | None:
        res = await self._run("CLEAR_TOOLS", self._tools(serial))
        return _closed_card(res) if res else None

    # events --------------------------------------------------------------------------------
    async def publish(self, serial: str, event: Event) -> Event:
        body = _dumps({"ev": event.ev, "data": event.data, "target": event.target.to_list()})
        s = int(await self._run("PUBLISH", self._room(serial), self._channel(serial),
                                self.window, body, self._last.get(serial, 0)))
        ready = self._ready.get(serial)
        if ready is not None and ready.done() and self._last.get(serial, s) < s:
            # like the memory backend, return once this node's members got it: the sender
            # sees its own event before the ack, as the protocol promises
            fut = asyncio.get_running_loop().create_future()
            self._delivered.setdefault(serial, []).append((s, fut))
            try:
                await asyncio.wait_for(fut, self.subscribe_timeout)
            except TimeoutError:
                log.warning("%s: event %d not back from Redis in time", serial, s)
        return Event(event.ev, event.data, event.target, s)

    async def replay(self, serial: str, after: int) -> list[Event] | None:
        res = await self._run("REPLAY", self._room(serial), after)
        if not res[0]:
            return None
        return [_event(e) for e in res[1]]

    async def subscribe(self, serial: str, callback: Subscriber) -> None:
        """Returns once Redis delivers the room's events to this node."""
        subs = self._subs.get(serial)
        if subs is None:
            subs = self._subs[serial] = []
            chan = self._channel(serial)
            fut = asyncio.get_running_loop().create_future()
            self._ready[serial] = fut
            self._waiting.setdefault(chan, deque()).append(fut)
            self._commands.put_nowait(("SUBSCRIBE", chan))
        subs.append(callback)
        ready = self._ready.get(serial)
        if ready is not None and not ready.done():
            await asyncio.wait_for(asyncio.shield(ready), self.subscribe_timeout)

    def unsubscribe(self, serial: str, callback: Subscriber) -> None:
        subs = self._subs.get(serial, [])
        if callback in subs:
            subs.remove(callback)
        if not subs and serial in self._subs:
            del self._subs[serial]
            self._ready.pop(serial, None)
            self._last.pop(serial, None)
            self._release(serial)
            self._commands.put_nowait(("UNSUBSCRIBE", self._channel(serial)))

    async def _write(self) -> None:
        """Send (un)subscriptions in the order they were asked for, so they never overtake;
        one that fails (Redis away) is sent again until it goes through."""
        while not self._closing:
            cmd, chan = await self._commands.get()
            while not self._closing:
                try:
                    if cmd == "SUBSCRIBE":
                        await self._pubsub.subscribe(chan)
                    else:
                        await self._pubsub.unsubscribe(chan)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._unreachable(f"could not {cmd.lower()} {chan}", exc)
                    await asyncio.sleep(0.2)

    async def _read(self) -> None:
        """The node's subscriber: each room event goes to the room's local subscribers."""
        g_len = len(self.g)
        while not self._closing:
            try:
                msg = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._unreachable("Redis subscriber connection lost; reconnecting", exc)
                await asyncio.sleep(0.1)
                continue
            if msg is None:
                continue
            kind, chan = msg["type"], msg["channel"]
            if kind == "subscribe":
                waiting = self._waiting.get(chan)
                if waiting:
                    fut = waiting.popleft()
                    if not waiting:
                        del self._waiting[chan]
                    await self._subscribed(_serial_of(chan, g_len), fut)
                elif chan.endswith(":ev"):
                    # subscribed again after a reconnection: deliver what was published meanwhile
                    await self._catch_up(_serial_of(chan, g_len))
            elif kind == "message" and chan.endswith(":ev"):
                serial = _serial_of(chan, g_len)
                if serial in self._subs:
                    await self._on_event(serial, _event(msg["data"]))

    async def _subscribed(self, serial: str, fut: asyncio.Future[None]) -> None:
        """The room's channel is live: every event after the room's current ``s`` will come
        through it (earlier ones are covered by the snapshot or replay of whoever waits)."""
        if fut.done():
            return
        if self._ready.get(serial) is not fut:      # unsubscribed meanwhile
            fut.set_result(None)
            return
        try:
            assert self.redis is not None
            s = await self.redis.get(self._room(serial) + "s")
        except Exception as exc:
            fut.set_exception(exc)
            return
        self._last[serial] = int(s or 0)
        fut.set_result(None)

    async def _on_event(self, serial: str, event: Event) -> None:
        """Deliver in ``s`` order, once: a gap (messages lost while the subscriber connection
        was reconnecting) is filled from the replay window first."""
        last = self._last.get(serial)
        if last is not None and event.s > last + 1:
            try:
                missed = await self.replay(serial, last)
            except Exception:
                log.exception("could not fetch the events %s lost", serial)
                missed = []
            if missed is None:
                log.warning("%s: events %d..%d lost beyond the replay window", serial,
                            last + 1, event.s - 1)
            for e in missed or ():
                if e.s < event.s:
                    self._deliver(serial, e)
        if last is None or event.s > last:
            self._last[serial] = event.s
            self._deliver(serial, event)
            self._release(serial, event.s)

    async def _catch_up(self, serial: str) -> None:
        """Deliver the room's events after the last one delivered here, from its window."""
        last = self._last.get(serial)
        if last is None or serial not in self._subs:
            return
        try:
            missed = await self.replay(serial, last)
        except Exception as exc:
            self._unreachable(f"could not catch up on {serial}", exc)
            return
        for e in missed or ():
            if e.s > self._last.get(serial, e.s):
                self._last[serial] = e.s
                self._deliver(serial, e)
                self._release(serial, e.s)

    def _release(self, serial: str, upto: int | None = None) -> None:
        """Let the ``publish`` calls whose event was delivered (or all: ``None``) return."""
        waiting = self._delivered.get(serial)
        if not waiting:
            return
        keep = []
        for s, fut in waiting:
            if upto is None or s <= upto:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((s, fut))
        if keep:
            self._delivered[serial] = keep
        else:
            del self._delivered[serial]

    def _deliver(self, serial: str, event: Event) -> None:
        subs = self._subs.get(serial)
        if not subs:
            return
        for cb in list(subs):
            try:
                cb(event)
            except Exception:
                log.exception("a subscriber of %s failed", serial)

    # sessions ------------------------------------------------------------------------------
    async def open_session(self, session: Session) -> None:
        self._mine.add(session.sid)     # before Redis records it: see ``restore``
        await self._run("OPEN_SESSION", self.g, session.sid, session.token, session.serial,
                        session.userid, self.node)

    async def detach_session(self, sid: str, deadline: float) -> bool:
        self._mine.discard(sid)
        return bool(await self._run("DETACH_SESSION", self.g, sid, repr(deadline), self.node))

    async def attach_session(self, sid: str, token: str) -> Session | None:
        had = sid in self._mine
        self._mine.add(sid)             # before Redis records it: see ``restore``
        row = None
        try:
            row = await self._run("ATTACH_SESSION", self.g, sid, token, self.node)
        finally:
            if not row and not had:
                self._mine.discard(sid)
        return _session(sid, row) if row else None

    async def expire_session(self, sid: str, now: float) -> Session | None:
        row = await self._run("EXPIRE_SESSION", self.g, sid, repr(now))
        if not row:
            return None
        self._mine.discard(sid)
        return _session(sid, row)

    async def close_session(self, sid: str) -> None:
        self._mine.discard(sid)
        await self._run("CLOSE_SESSION", self.g, sid)

    async def expired_sessions(self, now: float) -> list[str]:
        # the same sweep releases the stream claims of the nodes found dead
        return list(await self._run("SWEEP_SESSIONS_AND_STREAMS", self.g, repr(now),
                                    repr(self.grace)))

    # node liveness -------------------------------------------------------------------------
    async def _beat(self) -> None:
        alive = await self._run("HEARTBEAT", self.g, self.node, self._ttl_ms)
        if not alive and self._mine:
            log.warning("node %s was taken for dead; reclaiming %d sessions", self.node,
                        len(self._mine))
            await self._run("RECLAIM", self.g, self.node, *self._mine)
        if not alive:
            await self._reclaim_streams()

    @property
    def _ttl_ms(self) -> int:
        """How long the heartbeat key outlives a beat: a node silent that long is dead."""
        return max(1, int(self.heartbeat * 5 * 1000))

    async def dead_nodes(self, nodes: Iterable[str]) -> set[str]:
        """Which of ``nodes`` (other nodes' names) are dead: their heartbeat key expired, the
        sweep's criterion. None of them while Redis has been up for less than two heartbeat lives: a
        Redis that restarted empty has no key until each node beats again."""
        asked = sorted({n for n in nodes if n and n != self.node})
        if not asked:
            return set()
        assert self.redis is not None
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in asked:
                pipe.exists(f"{self.g}hb:{n}")
            found = _recancel(await pipe.execute())
        gone = {n for n, e in zip(asked, found, strict=True) if not e}
        if gone:
            info = _recancel(await self.redis.info("server"))
            if int(info.get("uptime_in_seconds", 0)) * 1000 < 2 * self._ttl_ms:
                return set()
        return gone

    async def share_media_server(self, record: dict[str, str] | None) -> None:
        """The hash ``janus``: node -> its server as JSON (the API secret included)."""
        assert self.redis is not None
        if record is None:
            await self.redis.hdel(f"{self.g}janus", self.node)
        else:
            await self.redis.hset(f"{self.g}janus", self.node, _dumps(record))

    async def shared_media_servers(self) -> dict[str, dict[str, str]]:
        assert self.redis is not None
        rows = _recancel(await self.redis.hgetall(f"{self.g}janus"))
        return {node: json.loads(raw) for node, raw in rows.items()}

    async def forget_media_server(self, node: str) -> None:
        assert self.redis is not None
        await self.redis.hdel(f"{self.g}janus", node)

    async def _heartbeats(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.check_restart()
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._unreachable("heartbeat to Redis failed", exc)
            else:
                if self._down:
                    self._down = False
                    log.warning("Redis is reachable again")

    async def _follow(self) -> None:
        """With Sentinel: ask the sentinels often where the primary is, so that every node
        moves to a new one (and restores what it lost) together, within ``FOLLOW_S``: a node
        still on the demoted primary neither sees the others' events nor they its own."""
        while not self._closing:
            await asyncio.sleep(FOLLOW_S)
            try:
                assert self.redis is not None
                if await redis_conn.follow_primary(self.redis):
                    log.warning("Redis Sentinel names a new primary: reconnecting to it")
                    await self.check_restart()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._unreachable("asking Redis Sentinel for the primary failed", exc)

    def _unreachable(self, what: str, exc: Exception) -> None:
        """Log a failure; while Redis is away only its first, without the traceback."""
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
            if not self._down:
                self._down = True
                log.warning("%s: Redis unreachable (%s)", what, exc)
        else:
            log.error("%s", what, exc_info=exc)

    # Redis restarts ------------------------------------------------------------------------
    async def _server_run_id(self) -> str:
        assert self.redis is not None
        info = _recancel(await self.redis.info("server"))
        return str(info.get("run_id", ""))

    def on_restart(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Await ``hook()`` when Redis restarted, before anything else learns of it."""
        self._restart_hooks.append(hook)

    async def ping(self) -> dict[str, Any]:
        """PING on a connection of its own without retries (the pool's would hide an outage
        behind seconds of backoff), so /readyz tells at once whether Redis answers."""
        probe = redis_conn.client(self.url, socket_connect_timeout=1.0, socket_timeout=1.0,
                                  retry=Retry(NoBackoff(), 0))
        try:
            await probe.ping()
        finally:
            await redis_conn.close(probe)
        return {"ok": True, "backend": "redis", "heartbeat_ok": not self._down}

    async def check_restart(self) -> bool:
        """Whether Redis restarted since we last looked (its ``run_id`` changed); if so, run the
        restart hooks first. Concurrent callers wait for the one that restores; a hook that
        fails (Redis away again) leaves the restart to be found again."""
        seen = self._restarts
        async with self._restarting:
            if self._restarts != seen:      # restored while we waited
                return True
            run_id = await self._server_run_id()
            if run_id == self._run_id:
                return False
            log.warning("Redis restarted (run_id %s, was %s): restoring this node's sessions",
                        run_id[:8], self._run_id[:8])
            for hook in self._restart_hooks:
                await hook()
            self._run_id = run_id
            self._restarts += 1
            return True

    async def restore(self, held: list[tuple[Session, Member]], now: float) -> int:
        """Put back the members and sessions of the sockets this node holds (``held``), as the
        node knows them, unless Redis has a newer session of the same user; each
        room's event counter is kept above what this node delivered. Sessions Redis still
        records on this node whose socket is gone get a grace period from ``now``. Answers
        how many sessions are attached here now."""
        async def one(session: Session, member: Member) -> bool:
            base = member.to_dict()
            props = base.pop("properties")
            return bool(await self._run(
                "RESTORE_MEMBER", self.g, self._room(session.serial), member.userid,
                str(member.role), _dumps(base), "1" if _visible(member) else "0",
                self._last.get(session.serial, 0), session.sid, session.token, session.serial,
                self.node, member.joined_ms, *_flat_props(props)))

        done = await asyncio.gather(*(one(s, m) for s, m in held))
        lost = {s.sid for (s, _), ok in zip(held, done, strict=True) if not ok}
        # sessions opened or resumed here meanwhile are in ``_mine`` before Redis has them
        self._mine = (self._mine | {s.sid for s, _ in held}) - lost
        await self._run("RELEASE_UNHELD", self.g, self.node, repr(now + self.grace), *self._mine)
        await self._run("HEARTBEAT", self.g, self.node, self._ttl_ms)   # known alive again
        await self._reclaim_streams()
        log.warning("node %s: %d of the %d sessions it holds attached again", self.node,
                    len(held) - len(lost), len(held))
        return len(held) - len(lost)


    # stream claims (tkroom.rooms.streams) ------------------------------------------------------
    async def claim_stream(self, serial: str, stream_id: str, userid: str, has_video: bool,
                           has_audio: bool, maxvideo: int, maxaudio: int) -> Refusal | None:
        refused = await self._run("CLAIM_STREAM", self.g, self._room(serial), stream_id, userid,
                                  self.node, "1" if has_video else "0",
                                  "1" if has_audio else "0", maxvideo, maxaudio, "1")
        if refused:
            return str(refused)
        self._claims[(serial, stream_id)] = (userid, has_video, has_audio)
        return None

    async def release_stream(self, serial: str, stream_id: str) -> bool:
        self._claims.pop((serial, stream_id), None)
        return bool(await self._run("RELEASE_STREAM", self.g, self._room(serial), stream_id,
                                    self.node))

    async def release_streams(self, serial: str) -> int:
        n = int(await self._run("RELEASE_STREAMS", self.g, self._room(serial)))
        if n:
            for key in [k for k in self._claims if k[0] == serial]:
                del self._claims[key]
        return n

    async def stream_claims(self, serial: str) -> dict[str, StreamClaim]:
        assert self.redis is not None
        flat = _recancel(await self.redis.hgetall(self._room(serial) + "sc"))
        out = {}
        for sid, c in flat.items():
            node, flags, userid = c.split("\t", 2)
            out[sid] = StreamClaim(userid, node, flags[0] == "1", flags[1] == "1")
        return out

    async def _reclaim_streams(self) -> None:
        """This node was taken for dead (a pause) or Redis lost data: put back the claims of
        the streams it still brokers, beyond the limits if need be (they are live), unless
        their stream id was claimed anew elsewhere meanwhile."""
        for (serial, stream_id), (userid, v, a) in list(self._claims.items()):
            await self._run("CLAIM_STREAM", self.g, self._room(serial), stream_id, userid,
                            self.node, "1" if v else "0", "1" if a else "0", -1, 0, "0")


_STREAM_SCRIPTS = ("CLAIM_STREAM", "RELEASE_STREAM", "RELEASE_STREAMS",
                   "SWEEP_SESSIONS_AND_STREAMS")


def _serial_of(channel: str, g_len: int) -> str:
    """The serial inside ``<prefix>:r:<len>:<serial>:ev``."""
    return channel[g_len + 2:].partition(":")[2][:-3]


def _recording(res: list[Any]) -> dict[str, Any] | None:
    """A recording record from the scripts' reply (id, started_ms, holder, segment,
    lease_until, previous), None for an empty one."""
    if not res:
        return None
    return {"id": res[0], "started_ms": int(res[1]), "holder": res[2], "segment": int(res[3]),
            "lease_until": int(res[4]), "previous": res[5] or ""}
