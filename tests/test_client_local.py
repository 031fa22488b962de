"""SDK codes a user meets before any server is involved: wrong order of calls, bad input,
an unreachable node. No mocks: the "unreachable" node is a real closed port, and the broken
one a real HTTP server that answers HTML."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tkroom.client import ClientError, Room, State
from tkroom.client.events import EventBus


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_every_call_before_init_is_101() -> None:
    room = Room()
    with pytest.raises(ClientError) as e:
        await room.joinroom("127.0.0.1", 8080, "a", "u1", {"serial": "1", "password": "p"})
    assert e.value.code == 101
    for call in (room.sendMessage("hi"), room.pubMsg(name="a", id="a"), room.leaveroom(),
                 room.getRoomUserNum()):
        with pytest.raises(ClientError) as e:
            await call
        assert e.value.code == 101
    for sync_call in (room.getUsers, room.getMySelf, room.getRoomProperties):
        with pytest.raises(ClientError) as e:
            sync_call()
        assert e.value.code == 101
    assert e.value.message.startswith("Not initialized: ")


async def test_room_calls_before_joining_are_2508() -> None:
    room = Room()
    room.init("key")
    for call in (room.sendMessage("hi"), room.pubMsg(name="a", id="a"), room.leaveroom(),
                 room.changeUserProperty("u2", "__all", {"raisehand": True}),
                 room.evictUser("u2"), room.joinGroup("g1"), room.getRoomUsers()):
        with pytest.raises(ClientError) as e:
            await call
        assert e.value.code == 2508
    assert e.value.message.startswith("No successful connection to the room")


async def test_bad_parameters_are_103() -> None:
    room = Room()
    with pytest.raises(ClientError) as e:
        room.init("key", no_such_option=1)
    assert e.value.code == 103
    room.init("key")
    bad_joins = [
        ("", 80, "n", "u", {"serial": "1", "password": "p"}),
        ("h", 0, "n", "u", {"serial": "1", "password": "p"}),
        ("h", 80, "n", "u", {"password": "p"}),
        ("h", 80, "n", "u", {"serial": "1"}),
        ("h", 80, "n", "u", {"serial": "1", "password": "p", "loginkey": "k" * 40}),
        ("h", 80, "", "u", {"serial": "1", "password": "p"}),
    ]
    for args in bad_joins:
        with pytest.raises(ClientError) as e:
            await room.joinroom(*args)
        assert e.value.code == 103, args
    for call in (room.pubMsg(name="", id="x"), room.delMsg(id="x"),
                 room.sendMessage("hi", toID={"nope": 1}),
                 room.changeUserPropertyByRole([9], "__all", {"a": 1}),
                 room.batchChangeUserProperty([], "__all", {"a": 1}),
                 room.changeUserPublish("u1", 7), room.joinGroup(""),
                 room.getRoomUsers(start=-1)):
        with pytest.raises(ClientError) as e:
            await call
        assert e.value.code == 103
    assert room.state is State.IDLE


async def test_unknown_local_user_is_104() -> None:
    room = Room()
    room.init()
    with pytest.raises(ClientError) as e:
        room.getUser("nobody")
    assert e.value.code == 104
    assert e.value.message.startswith("There is no such user: ")


async def test_unreachable_node_is_111_and_connect_fail_event() -> None:
    room = Room()
    room.init(http_timeout=5)
    fails = []
    room.on("room-connect-fail", fails.append)
    with pytest.raises(ClientError) as e:
        await room.joinroom("127.0.0.1", closed_port(), "a", "u1", {"serial": "1", "password": "p"})
    assert e.value.code == 111
    assert fails and fails[0]["code"] == 111
    assert room.state is State.IDLE  # a failed join leaves the room usable


class _HtmlHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = b"<html>Bad Gateway</html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def test_http_error_page_is_111() -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        room = Room()
        room.init()
        with pytest.raises(ClientError) as e:
            await room.joinroom("127.0.0.1", srv.server_address[1], "a", "u1",
                                {"serial": "1", "password": "p"})
        assert e.value.code == 111
        assert "502" in e.value.message
    finally:
        srv.shutdown()
        srv.server_close()


async def test_events_reach_callbacks_and_iterators_in_order() -> None:
    bus = EventBus()
    seen: list[str] = []
    got_async: list[str] = []

    async def slow(ev: object) -> None:
        await asyncio.sleep(0)
        got_async.append("async")

    bus.on("room-pubmsg", lambda ev: seen.append(ev["id"]))
    bus.on("room-pubmsg", lambda ev: 1 / 0)  # a broken callback does not stop the others
    bus.on("*", slow)
    everything = bus.iterate(None)
    only_chat = bus.iterate(frozenset({"room-text-message"}))
    bus.emit("room-pubmsg", {"id": "a"})
    bus.emit("room-text-message", {"message": "hi"})
    bus.emit("room-pubmsg", {"id": "b"})
    bus.emit("room-leaveroom", {})
    bus.emit("room-pubmsg", {"id": "after"})
    assert seen == ["a", "b", "after"]
    assert [ev.type for ev in [e async for e in everything]] == [
        "room-pubmsg", "room-text-message", "room-pubmsg", "room-leaveroom"]
    assert [ev["message"] for ev in [e async for e in only_chat]] == ["hi"]
    await asyncio.sleep(0.01)
    assert len(got_async) == 5


async def test_replayed_events_are_dropped_by_s() -> None:
    """A resume replays events after ``last``; any that overlap what was processed (same ``s``)
    must not reach the application twice. Fed through the SDK's own event entry point."""
    room = Room()
    room.init()
    raw: list[int | None] = []
    room.on_server_event(lambda ev, data, s: raw.append(s))
    room._mirror.load({"self": {"id": "me", "properties": {"role": 2}}, "userlist": [],
                       "msglist": [], "s": 4, "session": {"id": "x", "token": "y"}})
    for s in (3, 4, 5, 6, 6, 5, 7):
        room._session.on_event("pubMsg", {"name": "n", "id": f"m{s}", "seq": s, "save": True}, s)
    room._session.on_event("notice", {"kind": "warn", "code": 1011, "msg": "audio only"}, None)
    assert [m["id"] for m in room.getMsgList()] == ["m5", "m6", "m7"]
    assert raw == [5, 6, 7, None]


_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(call=st.sampled_from(["sendMessage", "pubMsg", "delMsg", "changeUserProperty",
                             "changeUserPropertyByRole", "batchChangeUserProperty",
                             "changeUserPublish", "evictUser", "joinGroup", "getRoomUsers",
                             "getRoomUserNum", "fetchUser", "request"]),
       args=st.lists(_any, max_size=3), initialised=st.booleans())
def test_any_arguments_answer_a_code_never_a_crash(call, args, initialised) -> None:
    """Whatever an application passes, a call out of a room fails with the SDK's codes only:
    101 before init, else 103 (bad arguments) or 2508 (not in a room)."""
    async def run() -> int:
        room = Room()
        if initialised:
            room.init()
        try:
            await getattr(room, call)(*args)
        except ClientError as exc:
            return exc.code
        except TypeError as exc:  # a wrong number of arguments: Python's own error
            if "argument" not in str(exc):
                raise
            return -1
        return 0

    code = asyncio.run(run())
    assert code in ((101, -1) if not initialised else (103, 2508, -1)), code
