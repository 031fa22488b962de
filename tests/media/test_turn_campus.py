"""Students behind NAT and firewalls reach the class through the node's own TURN server.

A node as ``tkroom serve`` builds it (embedded Janus and coturn) runs in the server namespace
of a ``Campus``; the teacher sits next to it; the student's Python SDK runs in its own process
inside the student namespace, behind a masquerading router whose firewall lets either only
UDP to the TURN port, or only TCP to the node and TURN ports, through. Media must flow both
ways, and ICE must have nominated relay candidates on the student's side.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from client_node import PASSWORDS, NodeEnv
from conftest import REQUIRE_ALL, need_binary
from media.campus import Campus, campus
from media.rtc import until
from tkroom.client import Room
from tkroom.client.media import attach
from tkroom.config import Settings
from tkroom.planes import build_node
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company
from webapi_nodes import SRC, free_port

pytestmark = pytest.mark.media
STUDENT = Path(__file__).with_name("student.py")
TESTS = str(Path(__file__).parents[1])


@pytest.fixture
def school():
    need_binary("janus")
    need_binary("turnserver")
    need_binary("iptables")
    if os.geteuid() != 0:
        if REQUIRE_ALL:
            pytest.fail("network namespaces need root")
        pytest.skip("network namespaces need root")
    with campus() as c, c.server.entered():
        yield c


class Student:
    """The student's process and the JSON lines it printed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    async def step(self, name: str, within: float = 180.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(within):
            while True:
                raw = await self.proc.stdout.readline()
                assert raw, f"the student's process ended before {name!r}: {self.lines}"
                line = json.loads(raw)
                self.lines.append(line)
                assert line["step"] != "failed", line
                if line["step"] == name:
                    return line


async def start_student(c: Campus, base: str, serial: str) -> Student:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, TESTS])}
    proc = await asyncio.create_subprocess_exec(
        *c.student.argv(sys.executable, str(STUDENT), base, serial, PASSWORDS["confuserpwd"],
                        "s1", "t1"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
    return Student(proc)


async def class_through(c: Campus, tmp_path: Path, firewall: str) -> tuple[Student, int]:
    """Run the class; returns the student's lines and the frames the teacher decoded."""
    settings = Settings(host=c.server_addr, port=0, signal_port=free_port(), data_dir=tmp_path,
                        throttle_base_s=0.001, throttle_max_s=0.01, janus_ice="s0",
                        rtp_ports="40000-40999", turn_port=3478,
                        turn_relay_ports="50000-50999")
    node = build_node(settings, state=MemoryState(), web=False, courseware=False)
    await node.start()
    if firewall == "udp":
        c.udp_to_turn_only(settings.turn_port)
    else:
        c.tcp_only(node.port, settings.effective_signal_port, settings.turn_port)
    student = None
    try:
        async with node.sessions() as s:
            company = await create_company(s, "School")
            await s.commit()
        env = NodeEnv(node, node.signal, company.authkey)
        env.serial = await env.create_room(maxusers=10)
        teacher = Room()
        teacher.init("app")
        tmedia = attach(teacher)
        await teacher.joinroom(c.server_addr, node.port, "t1", "t1",
                               {"serial": env.serial, "password": PASSWORDS["chairmanpwd"]})
        await tmedia.publishVideo()
        student = await start_student(c, node.base_url, env.serial)
        joined = await student.step("joined")
        assert joined["iceServers"] and joined["iceServers"][0]["username"].endswith(":s1")
        await teacher.changeUserPublish("s1", 3)
        published = await student.step("published")
        assert published["nominated"] == ["relay"], published
        await tmedia.waitForStream("s1", "video", within=60)
        seen = await tmedia.playVideo("s1")
        await until(lambda: seen.frames_received >= 30, 60, "30 frames of the student")
        played = await student.step("played")
        assert played["frames"] >= 30 and played["nominated"] == ["relay"], played
        assert c.dropped_udp() > 0  # the direct path was tried, and the firewall blocked it
        frames = seen.frames_received
        student.proc.stdin.write(b"bye\n")
        await asyncio.wait_for(student.proc.wait(), 30)
        await tmedia.close()
        await teacher.leaveroom()
        return student, frames
    finally:
        if student is not None and student.proc.returncode is None:
            student.proc.kill()
            await student.proc.wait()
        await node.stop()


async def test_a_student_whose_udp_reaches_only_the_turn_server(school, tmp_path) -> None:
    student, frames = await class_through(school, tmp_path, "udp")
    assert frames >= 30
    played = next(line for line in student.lines if line["step"] == "played")
    assert 132 not in played["notices"]  # TURN over UDP, the first URL, connected at once


async def test_a_student_allowed_only_tcp_to_the_node_and_turn(school, tmp_path) -> None:
    """No UDP at all: the SDK finds that TURN over UDP gives it no relay address and TURN
    over TCP does, and publishes over TCP at the first attempt (no publication timed out and
    was retried, nothing was withdrawn under the teacher)."""
    student, frames = await class_through(school, tmp_path, "tcp")
    assert frames >= 30
    played = next(line for line in student.lines if line["step"] == "played")
    assert not {131, 132} & set(played["notices"]), played
