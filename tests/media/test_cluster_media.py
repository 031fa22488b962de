"""One class on two nodes (``build_node`` as ``tkroom serve`` builds it) over one private Redis
and one store, with real Janus servers in the test's network namespace: the class has one
VideoRoom, chosen once in the shared state; members on either node see each other; a dead
Janus moves the class once for every node; the room is released once. And media servers per
enterprise: a class lands on its enterprise's own server, never on another's."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from client_node import PASSWORDS, NodeEnv
from conftest import need_binary
from media.conftest import stop_process, wait_port
from media.rtc import until
from tkroom.client import Room
from tkroom.client.media import MediaClient, attach
from tkroom.config import Settings
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings, janus_argv, write_config
from tkroom.media.netns import NetNamespace
from tkroom.media.placement import node_of
from tkroom.media.plane import MediaPlane
from tkroom.media.servers import static_name
from tkroom.media.videoroom import VideoRoom
from tkroom.node import Node
from tkroom.planes import build_node
from tkroom.state import open_state
from tkroom.state.redis import RedisState
from tkroom.store.companies import create_company
from webapi_nodes import free_port

pytestmark = pytest.mark.media


def janus_in(ns: NetNamespace, workdir: Path, api_secret: str = "",
             rtp: str = "30000-39999") -> tuple[subprocess.Popen[bytes], JanusSettings]:
    """A Janus in ``ns`` (with ``api_secret`` when given: it then refuses requests without)."""
    binary = need_binary("janus")
    s = JanusSettings(workdir=workdir, ice_enforce_list="v0", rtp_port_range=rtp,
                      api_secret=api_secret)
    write_config(s)
    with ns.entered():
        out = open(workdir / "janus.out", "wb")  # noqa: SIM115 - kept open for the child's life
        proc = subprocess.Popen(janus_argv(s, binary), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        out.close()
        try:
            wait_port(s.ws_port)
        except OSError:
            proc.kill()
            raise
    return proc, s


@dataclass
class Cluster:
    nodes: list[Node]
    envs: list[NodeEnv]

    def plane(self, i: int) -> MediaPlane:
        plane = self.nodes[i].media
        assert isinstance(plane, MediaPlane)
        return plane


@asynccontextmanager
async def cluster(tmp: Path, redis_url: str, janus_urls: list[str], n: int = 2,
                  enterprises: int = 1, prefix: str = "",
                  heartbeat: float = 0.2) -> AsyncIterator[Cluster]:
    """``n`` nodes on one data folder (one SQLite store, one secret) and one Redis (a fresh
    key prefix), each with a media plane on ``janus_urls``, each node listing them in another
    order (the servers' names must not depend on it); ``enterprises`` enterprises."""
    prefix = prefix or f"t{secrets.token_hex(4)}"
    nodes: list[Node] = []
    try:
        for i in range(n):
            k = i % max(len(janus_urls), 1)
            settings = Settings(host="127.0.0.1", port=0, signal_port=free_port(), data_dir=tmp,
                                throttle_base_s=0.001, throttle_max_s=0.01,
                                janus_urls=janus_urls[k:] + janus_urls[:k],
                                embedded_janus=False, media_sync_s=0.2)
            state = open_state(redis_url, prefix=prefix, grace=5.0, heartbeat=heartbeat)
            node = build_node(settings, state=state, web=False, courseware=False, grace=5.0,
                              sweep_interval=0.05)
            await node.start()
            nodes.append(node)
        envs = []
        for i in range(enterprises):
            async with nodes[0].sessions() as s:
                c = await create_company(s, f"School {i}")
                await s.commit()
            envs.append(NodeEnv(nodes[0], nodes[0].signal, c.authkey))
        yield Cluster(nodes, envs)
    finally:
        for node in reversed(nodes):
            await asyncio.wait_for(node.stop(), 60)


@dataclass
class Member:
    room: Room
    media: MediaClient
    changed: list[dict[str, Any]]

    async def close(self) -> None:
        await self.media.close()
        await self.room.leaveroom()


async def enter(node: Node | int, serial: str, userid: str, password: str) -> Member:
    """A member joined through ``node`` (or the HTTP port of a node in another process)."""
    room = Room()
    room.init("app")
    media = attach(room)
    changed: list[dict[str, Any]] = []
    room.on_server_event(lambda ev, data, s: changed.append(data)
                         if ev == "mediaServerChanged" else None)
    await room.joinroom("127.0.0.1", node if isinstance(node, int) else node.port, userid,
                        userid, {"serial": serial, "password": password})
    return Member(room, media, changed)


async def node_process(data: Path, redis_url: str, prefix: str, janus_url: str,
                       heartbeat: float) -> tuple[asyncio.subprocess.Process, int, str]:
    """A node of the cluster in a process of its own (to freeze or kill): the process, its
    HTTP port and its name in the room state."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("cluster_media_node.py")), str(data),
        redis_url, prefix, janus_url, str(heartbeat),
        stdout=subprocess.PIPE, stdin=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        _, port, _, name = line.decode().split()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc, int(port), name


async def test_one_videoroom_for_a_class_on_two_nodes(in_netns, netns, tmp_path,
                                                     redis_url) -> None:
    p1, s1 = janus_in(netns, tmp_path / "j1")
    p2, s2 = janus_in(netns, tmp_path / "j2")
    procs = {static_name(s1.url): p1, static_name(s2.url): p2}
    members: list[Member] = []
    try:
        async with cluster(tmp_path / "data", redis_url, [s1.url, s2.url]) as c:
            env = c.envs[0]
            serial = await env.create_room(maxusers=10)
            a, b = c.nodes
            state = a.signal.state
            teacher = await enter(a, serial, "t1", PASSWORDS["chairmanpwd"])
            student = await enter(b, serial, "s1", PASSWORDS["confuserpwd"])
            members += [teacher, student]

            await teacher.media.publishVideo()
            await student.media.waitForStream("t1", "video")
            v = await student.media.playVideo("t1")
            await until(lambda: v.frames_received > 30, 30, "teacher's frames at node B")
            frame = await asyncio.wait_for(anext(v.frames()), 10)
            assert frame.width > 0 and frame.height > 0  # decoded, not only received

            rec = await state.media_room(serial)
            assert rec is not None and rec["epoch"] == 1
            rooms = [c.plane(i).service.rooms[serial] for i in (0, 1)]
            assert {(r.server.id, r.videoroom.id) for r in rooms} == \
                {(rec["server"], rec["room"])}, "both nodes broker into the recorded room"
            assert rooms[0].videoroom.session is not rooms[1].videoroom.session
            server = c.plane(0).registry.servers[rec["server"]]
            listed = [r for r in await VideoRoom.rooms(server) if r.description == serial]
            assert [r.room for r in listed] == [rec["room"]], "one VideoRoom for the class"

            # the class's Janus dies: the move is decided once and every node follows it
            procs[rec["server"]].kill()
            other = next(name for name in procs if name != rec["server"])
            await until(lambda: all(r.server is not None and r.server.id == other
                                    for r in (c.plane(i).service.rooms[serial]
                                              for i in (0, 1))), 20, "both nodes moved")
            moved = await state.media_room(serial)
            assert moved is not None and moved["server"] == other and moved["epoch"] == 2
            assert {c.plane(i).service.rooms[serial].videoroom.id for i in (0, 1)} == \
                {moved["room"]}
            await until(lambda: teacher.changed and student.changed, 10, "mediaServerChanged")
            before = v.frames_received
            await until(lambda: v.frames_received > before + 30, 40, "frames after the move")
            assert teacher.changed == student.changed == \
                [{"serverName": other, "reason": "mediaServerDown"}], "told once"
            subs = list(c.plane(1).service.rooms[serial].subs.values())
            assert [(s.userid, s.pub.key.stream_id) for s in subs] == [("s1", "t1:video:default")]
            assert subs[0].handle.id in c.plane(1).service.rooms[serial].videoroom.session.handles

            # everyone leaves: the record is released and the VideoRoom destroyed, once
            destroyed: list[str] = []
            real = VideoRoom.destroy_room

            async def counted(srv: Any, room_id: str) -> None:
                destroyed.append(room_id)
                await real(srv, room_id)

            VideoRoom.destroy_room = staticmethod(counted)  # type: ignore[method-assign]
            try:
                for m in (teacher, student):
                    await m.close()
                members.clear()
                await until(lambda: all(serial not in c.plane(i).service.rooms
                                        for i in (0, 1)), 20, "released on both nodes")
                await until(lambda: destroyed, 10, "the VideoRoom destroyed")
                await asyncio.sleep(1.0)  # a second destroy would come now
            finally:
                VideoRoom.destroy_room = staticmethod(real)  # type: ignore[method-assign]
            assert destroyed == [moved["room"]]
            assert await state.media_room(serial) is None
            live = c.plane(0).registry.servers[other]
            assert not [r for r in await VideoRoom.rooms(live) if r.room == moved["room"]]
    finally:
        for m in members:
            await m.media.close()
        stop_process(p1)
        stop_process(p2)


async def test_a_same_id_rejoin_on_another_node_releases_the_old_media(
        in_netns, netns, tmp_path, redis_url) -> None:
    p1, s1 = janus_in(netns, tmp_path / "j1")
    old = new = None
    try:
        async with cluster(tmp_path / "data", redis_url, [s1.url]) as c:
            serial = await c.envs[0].create_room(maxusers=10)
            a, b = c.nodes
            old = await enter(a, serial, "t1", PASSWORDS["chairmanpwd"])
            await old.media.publishVideo()
            await until(lambda: "t1:video:default" in c.plane(0).service.rooms[serial].pubs,
                        20, "published on A")
            new = await enter(b, serial, "t1", PASSWORDS["chairmanpwd"])  # replaces the session
            await until(lambda: not c.plane(0).service.rooms[serial].pubs, 20,
                        "the replaced session's publication released on A")
            await new.media.publishVideo()
            await until(lambda: "t1:video:default" in c.plane(1).service.rooms[serial].pubs,
                        20, "the new session publishes on B")
            await asyncio.sleep(1.0)
            assert "t1:video:default" in c.plane(1).service.rooms[serial].pubs, \
                "the new session's stream survives the old one's release"
            await new.close()
    finally:
        for m in (old, new):
            if m is not None:
                await m.media.close()
        stop_process(p1)


async def test_media_servers_per_enterprise(in_netns, netns, tmp_path, redis_url) -> None:
    """The operator's server (``--janus``) carries anyone's class; a server an enterprise
    registered (with its API secret) carries only that enterprise's."""
    p_op, s_op = janus_in(netns, tmp_path / "op", rtp="30000-34999")
    p_own, s_own = janus_in(netns, tmp_path / "own", api_secret="own-s3cret",
                            rtp="35000-39999")
    members: list[Member] = []
    op = static_name(s_op.url)
    try:
        async with cluster(tmp_path / "data", redis_url, [s_op.url], n=1, enterprises=2) as c:
            mine, theirs = c.envs
            plane = c.plane(0)
            await mine.webapi("serveradd", ip="127.0.0.1", name="wrong-secret", maxusers=50,
                              url=s_own.url, apisecret="not-it")
            await until(lambda: "wrong-secret" in plane.registry.servers, 10, "registered")
            await asyncio.sleep(1.0)
            assert not plane.registry.servers["wrong-secret"].healthy, "Janus refused it"
            sid = (await mine.webapi("getserverlist"))["serverlist"][0]["serverid"]
            await mine.webapi("servermodify", serverid=sid, name="own", apisecret="own-s3cret")
            await until(lambda: "own" in plane.registry.servers and
                        plane.registry.servers["own"].healthy, 15, "the secret opens it")

            my_serial = await mine.create_room(maxusers=10)
            their_serial = await theirs.create_room(maxusers=10)
            t1 = await enter(c.nodes[0], my_serial, "t1", PASSWORDS["chairmanpwd"])
            t2 = await enter(c.nodes[0], their_serial, "t2", PASSWORDS["chairmanpwd"])
            members += [t1, t2]
            await t1.media.publishVideo()
            await t2.media.publishVideo()
            state = c.nodes[0].signal.state
            assert (await state.media_room(my_serial))["server"] == "own"
            assert (await state.media_room(their_serial))["server"] == op
            listing = await t2.media.requestServerList()
            assert {s["serverName"] for s in listing["servers"]} == {op}
            with pytest.raises(CodeError) as e:
                await t2.media.switchServerByName("own")
            assert e.value.code == 151
            assert {s["serverName"] for s in (await t1.media.requestServerList())["servers"]} \
                == {op, "own"}

            # the operator's server dies: the other enterprise's class waits, it never moves
            # onto the enterprise's own server
            p_op.kill()
            await until(lambda: not plane.registry.servers[op].healthy, 10, "down")
            await asyncio.sleep(1.5)
            rec = await state.media_room(their_serial)
            assert rec is not None and rec["server"] == op
            assert plane.service.rooms[their_serial].videoroom is None
            with pytest.raises(CodeError) as e:
                await t2.media.getStreams()
            assert e.value.code == 151
            assert (await state.media_room(my_serial))["server"] == "own"
    finally:
        for m in members:
            await m.media.close()
        stop_process(p_op)
        stop_process(p_own)


async def test_the_media_room_record_comes_back_after_a_redis_restart(
        in_netns, netns, tmp_path) -> None:
    """Redis restarts without persistence: the nodes claim their class's media room again,
    so a member on a third node still joins the room the class is in."""
    from redis_proc import RedisProc

    redis = RedisProc()
    redis.start()
    p1, s1 = janus_in(netns, tmp_path / "j1")
    members: list[Member] = []
    try:
        async with cluster(tmp_path / "data", redis.url, [s1.url], n=3) as c:
            serial = await c.envs[0].create_room(maxusers=10)
            a, b, third = c.nodes
            teacher = await enter(a, serial, "t1", PASSWORDS["chairmanpwd"])
            student = await enter(b, serial, "s1", PASSWORDS["confuserpwd"])
            members += [teacher, student]
            await teacher.media.publishVideo()
            v = await student.media.playVideo("t1")
            await until(lambda: v.frames_received > 10, 30, "frames before the restart")
            before = await a.signal.state.media_room(serial)
            assert before is not None

            redis.kill()
            redis.start()
            state = third.signal.state
            deadline = asyncio.get_running_loop().time() + 30
            while True:  # Redis came back empty; the nodes put the record back
                try:
                    after = await state.media_room(serial)
                except Exception:  # noqa: BLE001 - Redis still restarting
                    after = None
                if after is not None:
                    break
                assert asyncio.get_running_loop().time() < deadline, "record not reclaimed"
                await asyncio.sleep(0.05)
            assert (after["server"], after["room"], after["epoch"]) == \
                (before["server"], before["room"], 1)
            late = await enter(third, serial, "s2", PASSWORDS["confuserpwd"])
            members.append(late)
            w = await late.media.playVideo("t1")
            await until(lambda: w.frames_received > 10, 30, "frames at a member of node 3")
            assert c.plane(2).service.rooms[serial].videoroom.id == before["room"]
            assert not teacher.changed and not student.changed
    finally:
        for m in members:
            await m.media.close()
        stop_process(p1)
        redis.stop()


async def test_switch_server_by_name_moves_the_class_on_every_node(
        in_netns, netns, tmp_path, redis_url) -> None:
    p1, s1 = janus_in(netns, tmp_path / "j1")
    p2, s2 = janus_in(netns, tmp_path / "j2")
    members: list[Member] = []
    try:
        async with cluster(tmp_path / "data", redis_url, [s1.url, s2.url]) as c:
            serial = await c.envs[0].create_room(maxusers=10)
            a, b = c.nodes
            teacher = await enter(a, serial, "t1", PASSWORDS["chairmanpwd"])
            student = await enter(b, serial, "s1", PASSWORDS["confuserpwd"])
            members += [teacher, student]
            await teacher.media.publishVideo()
            v = await student.media.playVideo("t1")
            await until(lambda: v.frames_received > 10, 30, "frames before the switch")
            rec = await a.signal.state.media_room(serial)
            assert rec is not None
            other = next(static_name(s.url) for s in (s1, s2)
                         if static_name(s.url) != rec["server"])
            with pytest.raises(CodeError) as e:  # a student moves nothing
                await student.media.switchServerByName(other)
            assert e.value.code == 4108

            assert (await teacher.media.switchServerByName(other))["serverName"] == other
            await until(lambda: c.plane(1).service.rooms[serial].server is not None and
                        c.plane(1).service.rooms[serial].server.id == other, 20,
                        "node B followed")
            before = v.frames_received
            await until(lambda: v.frames_received > before + 30, 40, "frames after the switch")
            assert teacher.changed == student.changed == \
                [{"serverName": other, "reason": "switchServerByName"}]
            assert (await student.media.requestServerList())["current"] == other
            old = c.plane(0).registry.servers[rec["server"]]
            deadline = asyncio.get_running_loop().time() + 20
            while [r for r in await VideoRoom.rooms(old) if r.room == rec["room"]]:
                assert asyncio.get_running_loop().time() < deadline, "old room not destroyed"
                await asyncio.sleep(0.2)
    finally:
        for m in members:
            await m.media.close()
        stop_process(p1)
        stop_process(p2)


@pytest.mark.parametrize("how", ["frozen", "killed"])
async def test_a_dead_nodes_streams_leave_the_class(in_netns, netns, tmp_path, redis_url,
                                                    how: str) -> None:
    """The node of a publishing teacher dies: frozen (``SIGSTOP``, as a machine that hangs:
    its Janus session stays open, Janus would keep its feed for its 60 s session_timeout) or
    killed (``SIGKILL``: Janus drops its session at once, but nobody tells the class). The
    surviving nodes take the teacher's stream out of the class within seconds: each student
    gets ``onRemoveStream`` (once, when a frozen node's feed is kicked), getStreams no longer
    lists it and the VideoRoom no longer has it."""
    p1, s1 = janus_in(netns, tmp_path / "j1")
    prefix = f"t{secrets.token_hex(4)}"
    members: list[Member] = []
    proc: asyncio.subprocess.Process | None = None
    try:
        async with cluster(tmp_path / "data", redis_url, [s1.url], prefix=prefix) as c:
            serial = await c.envs[0].create_room(maxusers=10)
            proc, port, node_a = await node_process(tmp_path / "data", redis_url, prefix,
                                                    s1.url, heartbeat=1.0)
            teacher = await enter(port, serial, "t1", PASSWORDS["chairmanpwd"])
            members.append(teacher)
            await teacher.media.publishVideo()
            gone: dict[str, list[tuple[float, dict[str, Any]]]] = {"s0": [], "s1": []}
            plays = []
            for i in (0, 1):
                m = await enter(c.nodes[i], serial, f"s{i}", PASSWORDS["confuserpwd"])
                members.append(m)
                m.room.on_server_event(
                    lambda ev, d, s, uid=f"s{i}": gone[uid].append((time.monotonic(), d))
                    if ev == "onRemoveStream" else None)
                await m.media.waitForStream("t1", "video", within=30)
                plays.append(await m.media.playVideo("t1"))
            await until(lambda: all(v.frames_received > 10 for v in plays), 30, "frames")
            room_b = c.plane(0).service.rooms[serial]
            assert room_b.videoroom is not None
            feeds = await room_b.videoroom.publishers()
            assert [node_of(d) for _, d in feeds] == [node_a], "the feed names its node"

            t0 = time.monotonic()
            os.kill(proc.pid, signal.SIGSTOP if how == "frozen" else signal.SIGKILL)
            await until(lambda: all(gone.values()), 30, "onRemoveStream at both students")
            took = max(t for events in gone.values() for t, _ in events) - t0
            print(f"\n{how} node: its stream left the class {took:.2f} s after the signal, "
                  f"announcements per student: {[len(e) for e in gone.values()]}")
            for events in gone.values():
                assert {e["streamId"] for _, e in events} == {"t1:video:default"}
                assert all(e["publicationId"] == f"pub-{feeds[0][0]}" for _, e in events)
            assert not await room_b.videoroom.publishers(), "the feed is out of the VideoRoom"
            for i in (0, 1):
                assert not c.plane(i).service.rooms[serial].subs, "subscriptions dropped"
            streams = await members[1].media.getStreams()
            assert "t1:video:default" not in {s["streamId"] for s in streams}
            if how == "frozen":  # one kick is accepted: one announcement for the class
                await asyncio.sleep(2.0)  # a second announcement would come meanwhile
                assert [len(events) for events in gone.values()] == [1, 1]
                assert sum(c.plane(i).dead_feeds.removed for i in (0, 1)) == 1
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10)
        for m in members:
            await asyncio.wait_for(m.media.close(), 20)
        stop_process(p1)


async def test_a_nodes_own_janus_serves_the_whole_cluster(in_netns, netns, tmp_path,
                                                          redis_url) -> None:
    """Two nodes, each with its own Janus offered to the cluster (``janus_advertise``): both
    know both servers, the class has one VideoRoom whichever Janus it is on, a student on the
    other node decodes the teacher's camera; a node that stops withdraws its Janus."""
    need_binary("janus")
    prefix = f"t{secrets.token_hex(4)}"
    nodes: list[Node] = []
    members: list[Member] = []
    try:
        for i in range(2):
            settings = Settings(host="127.0.0.1", port=0, signal_port=free_port(),
                                data_dir=tmp_path / "data", throttle_base_s=0.001,
                                throttle_max_s=0.01, janus_ice="v0",
                                rtp_ports=f"{30000 + 5000 * i}-{34999 + 5000 * i}",
                                janus_advertise=netns.addr0, media_sync_s=0.2)
            state = open_state(redis_url, prefix=prefix, grace=5.0, heartbeat=0.2)
            node = build_node(settings, state=state, web=False, courseware=False, grace=5.0,
                              sweep_interval=0.05)
            await node.start()
            nodes.append(node)
        planes = [n.media for n in nodes]
        assert all(isinstance(p, MediaPlane) for p in planes)
        urls = [p.janus.url for p in planes]
        assert all(u.startswith(f"ws://{netns.addr0}:") for u in urls), "not on loopback"
        names = set(map(static_name, urls))
        await until(lambda: all(set(p.registry.servers) == names and
                                all(s.healthy for s in p.registry.servers.values())
                                for p in planes), 20, "each node knows both Janus servers")

        async with nodes[0].sessions() as s:
            c = await create_company(s, "School")
            await s.commit()
        env = NodeEnv(nodes[0], nodes[0].signal, c.authkey)
        serial = await env.create_room(maxusers=10)
        teacher = await enter(nodes[0], serial, "t1", PASSWORDS["chairmanpwd"])
        student = await enter(nodes[1], serial, "s1", PASSWORDS["confuserpwd"])
        members += [teacher, student]
        await teacher.media.publishVideo()
        await student.media.waitForStream("t1", "video", within=30)
        v = await student.media.playVideo("t1")
        await until(lambda: v.frames_received > 30, 30, "the teacher's frames at node B")
        rec = await nodes[0].signal.state.media_room(serial)
        assert rec is not None and rec["server"] in names
        rooms = [p.service.rooms[serial] for p in planes]
        assert {(r.server.id, r.videoroom.id) for r in rooms} == {(rec["server"], rec["room"])}

        for m in members:
            await m.close()
        members.clear()
        gone = static_name(urls[1])
        await nodes[1].stop()
        nodes.pop()
        await until(lambda: gone not in planes[0].registry.servers, 20,
                    "the stopped node's Janus withdrawn")

        # a node that dies with its Janus offered: forgotten once the state finds it dead
        ghost = RedisState(redis_url, prefix=prefix, node="ghost", heartbeat=0.2)
        await ghost.start()
        try:
            dead_url = f"ws://{netns.addr0}:{free_port()}"
            await ghost.share_media_server({"url": dead_url, "secret": "x"})
            await until(lambda: static_name(dead_url) in planes[0].registry.servers, 20,
                        "the ghost's Janus offered")
            for task in ghost._tasks:  # it crashes: no heartbeat, no withdrawal
                task.cancel()
            await until(lambda: static_name(dead_url) not in planes[0].registry.servers, 20,
                        "a dead node's Janus dropped")
            assert "ghost" not in await nodes[0].signal.state.shared_media_servers()
        finally:
            await ghost.stop()
    finally:
        for m in members:
            await m.media.close()
        for node in reversed(nodes):
            await asyncio.wait_for(node.stop(), 60)


async def test_a_teacher_whose_node_froze_publishes_again_through_another(
        in_netns, netns, tmp_path, redis_url) -> None:
    """The teacher's node freezes (its Janus session stays open): the teacher comes back
    through node B and publishes the same camera again as soon as the survivors removed the
    dead node's feed (until then it counts as published: 2601), within seconds, not after
    Janus's 60 s session timeout; the student on node C plays the new publication."""
    p1, s1 = janus_in(netns, tmp_path / "j1")
    prefix = f"t{secrets.token_hex(4)}"
    members: list[Member] = []
    proc: asyncio.subprocess.Process | None = None
    try:
        async with cluster(tmp_path / "data", redis_url, [s1.url], prefix=prefix) as c:
            serial = await c.envs[0].create_room(maxusers=10)
            proc, port, _ = await node_process(tmp_path / "data", redis_url, prefix, s1.url,
                                               heartbeat=1.0)
            old = await enter(port, serial, "t1", PASSWORDS["chairmanpwd"])
            members.append(old)
            await old.media.publishVideo()
            student = await enter(c.nodes[1], serial, "s1", PASSWORDS["confuserpwd"])
            members.append(student)
            removed: list[dict[str, Any]] = []
            student.room.on_server_event(lambda ev, d, s: removed.append(d)
                                         if ev == "onRemoveStream" else None)
            await student.media.waitForStream("t1", "video", within=30)
            await student.media.playVideo("t1")
            first = c.plane(1).service.rooms[serial].remote["t1:video:default"].id

            os.kill(proc.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            new = await enter(c.nodes[0], serial, "t1", PASSWORDS["chairmanpwd"])
            members.append(new)
            refused: set[int] = set()
            while True:
                try:
                    await new.media.publishVideo()
                    break
                except CodeError as e:
                    refused.add(int(e.extra.get("reason", e.code)))
                    assert time.monotonic() - t0 < 30, f"still refused: {e}"
                    await asyncio.sleep(0.2)
            took = time.monotonic() - t0
            print(f"\npublished again through another node {took:.2f} s after the freeze")
            assert refused <= {2601}, refused
            second = c.plane(0).service.rooms[serial].pubs["t1:video:default"].id
            assert [(d["publicationId"], d["reason"]) for d in removed] == [(first, "nodeDown")]
            room_c = c.plane(1).service.rooms[serial]
            await until(lambda: [s.pub.id for s in room_c.subs.values()] == [second], 30,
                        "the student plays the new publication (the SDK resubscribes)")
            v = await student.media.playVideo("t1")
            before = v.frames_received
            await until(lambda: v.frames_received > before + 30, 30, "its frames")
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10)
        for m in members:
            await asyncio.wait_for(m.media.close(), 20)
        stop_process(p1)
