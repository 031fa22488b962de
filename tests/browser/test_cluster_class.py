"""Issue 12's cluster test, end to end in browsers: two ``tkroom serve`` nodes with data folders
of their own on one PostgreSQL database, a private Redis and two Janus servers, all in the
test's network namespace. A teacher's Chromium page on node A and two students' pages on
node B see and hear each other; node A is killed (``SIGKILL``): the teacher's page resumes on
node B and media flows again; then the class's Janus is killed: the class moves once (every
page told once, the shared record on the other server) and media flows again both ways."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from browser.classnode import PASSWORDS
from browser.servenodes import Serve, decodes_anew, plays_again, video_sub
from browser.test_classroom_e2e import (  # noqa: F401 - fixtures
    Person,
    browser_ns,
    netns,
    ns_playwright,
    wait_until,
)
from media.conftest import start_janus, stop_process
from redis_proc import RedisProc
from tkroom.media.netns import NetNamespace
from tkroom.media.servers import static_name
from tkroom.state.redis import RedisState
from webapi_nodes import PG_HOST, PG_PORT, free_port, own_pg_url, pg_url, tkroom  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.media, pytest.mark.postgres]

PG_SOCKET_DIR = "/var/run/postgresql"


def through_socket(url: str) -> str:
    """The same database through PostgreSQL's Unix socket: the namespace's loopback is not the
    host's, but the socket is a file both see."""
    parts = urlsplit(url)
    if (parts.hostname, parts.port) != (PG_HOST, PG_PORT) or \
            not Path(PG_SOCKET_DIR, f".s.PGSQL.{PG_PORT}").exists():
        pytest.skip(f"needs the PostgreSQL server at {PG_HOST}:{PG_PORT} and its socket in {PG_SOCKET_DIR}")
    return f"{parts.scheme}://{parts.username}@{parts.path}?host={PG_SOCKET_DIR}"


@dataclass
class Cluster:
    a: Serve
    b: Serve
    serial: str
    janus: dict[str, subprocess.Popen[bytes]]  # by the name the nodes give it (from its URL)
    redis_url: str

    def media_record(self) -> dict[str, str]:
        """The class's media room as the nodes recorded it in the shared Redis."""
        key = RedisState(self.redis_url)._room(self.serial) + "media"
        r = redis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            return r.hgetall(key)
        finally:
            r.close()


@pytest.fixture
def cluster(netns: NetNamespace, own_pg_url: str, tmp_path: Path) -> Iterator[Cluster]:  # noqa: F811
    database = ["--database", through_socket(own_pg_url)]
    made = tkroom("admin", "enterprise", "create", "Cluster School", "--data", str(tmp_path / "admin"),
                  *database)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["authkey"]
    (tmp_path / "redis").mkdir()
    rd = RedisProc(directory=tmp_path / "redis")
    rd.start(wait=20)
    janus = [start_janus(netns, tmp_path / f"janus-{i}") for i in (1, 2)]
    nodes: list[Serve] = []
    try:
        with netns.entered():
            ports = [(free_port(), free_port()) for _ in range(2)]
        urls = [f"ws://127.0.0.1:{sp}/signal" for _, sp in ports]
        common = [*database, "--redis", rd.url, *[a for _, s in janus for a in ("--janus", s.url)]]
        for i, name in enumerate("ab"):  # one at a time: the first migrates the database
            nodes.append(Serve(netns, ["--data", str(tmp_path / name), *common], *ports[i],
                               urls if i == 0 else urls[::-1], log=tmp_path / f"{name}.log"))
        now = int(time.time())
        with netns.entered():
            room = httpx.post(f"{nodes[0].url}/WebAPI/roomcreate", timeout=30, data={
                "key": key, "roomname": "Cluster", "roomtype": 3, "starttime": now - 60,
                "endtime": now + 3600, "passwordrequired": 1, "maxvideo": 10, **PASSWORDS}).json()
        assert room["result"] == 0, room
        yield Cluster(nodes[0], nodes[1], str(room["serial"]),
                      {static_name(s.url): p for p, s in janus}, rd.url)
    finally:
        for n in nodes:
            n.stop()
        for p, _ in janus:
            stop_process(p)
        rd.stop()


def node_streams(node: Serve) -> dict[str, tuple[int, int]]:
    """The streams a node publishes and plays, by media server, as its ``/metrics`` says."""
    text = node_get(node, "/metrics")
    out: dict[str, list[int]] = {}
    for kind, i in (("tkroom_media_publishers", 0), ("tkroom_media_subscribers", 1)):
        for server, n in re.findall(rf'^{kind}{{server="([^"]+)"}} ([0-9.e+]+)$', text, re.M):
            out.setdefault(server, [0, 0])[i] = int(float(n))
    return {k: (v[0], v[1]) for k, v in out.items()}


def node_get(node: Serve, path: str) -> str:
    with node.ns.entered():
        return httpx.get(node.url + path, timeout=30).text


def errors(p: Person) -> list[tuple[int, str]]:
    """The error notices the page has shown since its event hooks were set."""
    return [(e["code"], e["message"]) for t, e in p.eval("window.__ev") if t == "room-error-notice"]


def since(t0: float) -> str:
    return f"{time.monotonic() - t0:.2f} s"


def test_a_class_across_two_nodes_survives_a_node_and_a_janus(cluster: Cluster, browser_ns):  # noqa: F811
    c = cluster
    teacher = Person(browser_ns, f"{c.a.url}/room/{c.serial}")
    ann = Person(browser_ns, f"{c.b.url}/room/{c.serial}")
    bob = Person(browser_ns, f"{c.b.url}/room/{c.serial}")
    people = [teacher, ann, bob]
    try:
        t_id = teacher.join("Ms Cluster", PASSWORDS["chairmanpwd"])
        a_id = ann.join("Ann", PASSWORDS["confuserpwd"])
        bob.join("Bob", PASSWORDS["confuserpwd"])
        assert teacher.eval("tkroomPage.room.conn.url") == c.a.signal_url
        for s in (ann, bob):
            assert s.eval("tkroomPage.room.conn.url") == c.b.signal_url
        for p in people:
            p.eval("""() => { window.__moved = []; window.__ev = [];
                tkroomPage.room.on('room-serveraddress-update', (e) => window.__moved.push(e));
                for (const t of ['room-reconnected', 'room-connected', 'room-error-notice'])
                  tkroomPage.room.on(t, (e) => window.__ev.push([t, t === 'room-connected' ? {} : e])); }""")
        wait_until(lambda: teacher.page.locator("#people li").count() == 3, 60, "three participants")
        teacher.click("class-begin")
        wait_until(lambda: "In class" in bob.page.inner_text("#class-timer"), 60, "class begun")
        teacher.click("av-on")
        teacher.click("stage-on", a_id)

        # Who plays whom: both students the teacher (node A → node B); the teacher and Bob Ann, on stage.
        pairs = [(ann, t_id), (bob, t_id), (bob, a_id), (teacher, a_id)]
        for p, uid in pairs:
            p.decodes(uid, 15, 60)
            p.hears(uid, 60)
        first = c.media_record()
        assert first["server"] in c.janus and first["epoch"] == "1", first
        assert min(node_streams(c.b)[first["server"]]) > 0, "node B brokers into the class's server"

        # kill -9 node A: the teacher's page resumes on node B, same user, no new login.
        old = {(id(p), uid): video_sub(p, uid) for p, uid in pairs}
        t0 = time.monotonic()
        c.a.stop(signal.SIGKILL)
        back = wait_until(lambda: [e for t, e in teacher.eval("window.__ev") if t == "room-reconnected"],
                          60, "the teacher's resume on node B")[0]
        print(f"\nnode A killed -> teacher resumed on node B: {since(t0)}")
        assert back["moved"] is True and back["url"] == c.b.signal_url
        assert not [t for t, _ in teacher.eval("window.__ev") if t == "room-connected"], "resumed, not rejoined"
        assert teacher.eval("tkroomPage.room.getMySelf().id") == t_id
        for s in (ann, bob):
            decodes_anew(s, t_id, old[(id(s), t_id)])
        print(f"node A killed -> the teacher's frames again at both students: {since(t0)}")
        decodes_anew(teacher, a_id, old[(id(teacher), a_id)])
        print(f"node A killed -> Ann's frames again at the teacher: {since(t0)}")
        for p, uid in pairs:
            if p is not bob or uid != a_id:  # Bob's subscription to Ann went through no dead node
                plays_again(p, uid, old[(id(p), uid)])
        # A node dying moves no class: no page was told of a media move, the record is unchanged;
        # and media came back on purpose, not through failures.
        assert c.media_record() == first
        for p in people:
            assert p.eval("window.__moved") == [], p.eval("window.__moved")
            assert errors(p) == [], errors(p)

        # kill -9 the class's Janus: the class moves once, to the other one, media flows again.
        other = next(n for n in c.janus if n != first["server"])
        old = {(id(p), uid): video_sub(p, uid) for p, uid in pairs}
        t1 = time.monotonic()
        c.janus[first["server"]].kill()
        for p, uid in pairs:
            decodes_anew(p, uid, old[(id(p), uid)])
        print(f"{first['server']} killed -> frames again at every page: {since(t1)}")
        for p, uid in pairs:
            plays_again(p, uid, old[(id(p), uid)])
        print(f"{first['server']} killed -> sound and playing tiles at every page: {since(t1)}")
        moved = c.media_record()
        assert moved["server"] == other and moved["epoch"] == "2", moved
        for p in people:
            told = [(e["serverName"], e["reason"]) for e in p.eval("window.__moved")]
            assert told == [(other, "mediaServerDown")], told
        # Every live node brokers the class on the new server only (node A is dead: node B).
        wait_until(lambda: (n := node_streams(c.b)).get(first["server"]) == (0, 0)
                   and min(n.get(other, (0, 0))) > 0, 60, "node B's streams all on " + other)
        # The failures the move caused are the ones the pages were told of: their streams'
        # connection to the dead Janus, each said to recover by itself.
        for p in people:
            assert {code for code, _ in errors(p)} <= {131, 141}, errors(p)
            assert all("connection to Janus lost" in m for _, m in errors(p)), errors(p)
            assert p.errors == [], p.errors
    finally:
        for p in people:
            p.close()
