"""A student's Chromium behind NAT and a firewall joins the class through the node's TURN server.

The ``Campus`` of tests/media/campus.py: the node (embedded Janus and coturn, the classroom
page) and the teacher (Python SDK) in the server namespace, on a loop of their own; Chromium
launched by a Playwright driver started inside the student namespace. The page is plain HTTP
on the server's address, which Chromium is told to treat as secure (the camera needs a secure
origin; TLS is tested in test_tls_browser.py). Every RTCPeerConnection of the page is kept
(an init script) so the test can read which candidates ICE chose.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.classnode import PASSWORDS
from browser.conftest import BASE_ARGS, FAKE_MEDIA
from browser.test_classroom_e2e import Person, wait_until
from conftest import REQUIRE_ALL, need_binary
from media.campus import Campus, campus
from tkroom.client import Room
from tkroom.client.media import attach
from tkroom.config import Settings
from tkroom.planes import build_node
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company
from webapi_nodes import free_port

pytestmark = [pytest.mark.browser, pytest.mark.media]

KEEP_PCS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""
# The local candidate type of every connected PeerConnection's selected pair.
NOMINATED = """
async () => {
  const kinds = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== "connected") continue;
    const stats = await pc.getStats();
    let pairId = null;
    stats.forEach((s) => { if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
    const pair = pairId && stats.get(pairId);
    const local = pair && stats.get(pair.localCandidateId);
    kinds.push(local ? `${local.candidateType}/${local.relayProtocol || local.protocol}` : "none");
  }
  return kinds;
}
"""


class ServerSide:
    """The node and the teacher on an asyncio loop in a thread inside the server namespace."""

    def __init__(self, c: Campus, workdir: Path) -> None:
        self.campus, self.workdir = c, workdir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True, name="campus-node")
        self.ready = threading.Event()

    def _run(self) -> None:
        with self.campus.server.entered():
            asyncio.set_event_loop(self.loop)
            self.ready.set()
            self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 90.0) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    async def start(self) -> None:
        self.settings = Settings(
            host=self.campus.server_addr, port=0, signal_port=free_port(),
            data_dir=self.workdir, throttle_base_s=0.001, throttle_max_s=0.01, janus_ice="s0",
            rtp_ports="40000-40999", turn_port=3478, turn_relay_ports="50000-50999")
        self.node = build_node(self.settings, state=MemoryState(), courseware=False)
        await self.node.start()
        async with self.node.sessions() as s:
            company = await create_company(s, "School")
            await s.commit()
        import httpx

        now = int(time.time())
        async with httpx.AsyncClient(base_url=self.node.base_url, timeout=30) as http:
            made = (await http.post("/WebAPI/roomcreate", data={
                "key": company.authkey, "roomname": "Math", "roomtype": 3,
                "starttime": now - 60, "endtime": now + 3600, "passwordrequired": 1,
                **PASSWORDS})).json()
        self.serial = str(made["serial"])
        self.teacher = Room()
        self.teacher.init("app")
        self.media = attach(self.teacher)
        await self.teacher.joinroom(self.campus.server_addr, self.node.port, "Teacher", "t1",
                                    {"serial": self.serial, "password": PASSWORDS["chairmanpwd"]})
        await self.teacher.changeUserPublish("t1", 3)
        await self.media.publishVideo()

    async def stop(self) -> None:
        await self.media.close()
        await self.teacher.leaveroom()
        await self.node.stop()

    def __enter__(self) -> ServerSide:
        self.thread.start()
        self.ready.wait(10)
        self.call(self.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture
def school(tmp_path) -> Iterator[tuple[Campus, ServerSide]]:
    for tool in ("janus", "turnserver", "iptables", "chromium"):
        need_binary(tool)
    if os.geteuid() != 0:
        if REQUIRE_ALL:
            pytest.fail("network namespaces need root")
        pytest.skip("network namespaces need root")
    with campus() as c, ServerSide(c, tmp_path) as side:
        yield c, side


def student_browser(c: Campus, origin: str):
    """Playwright's driver (and so Chromium) started inside the student namespace."""
    from playwright.sync_api import sync_playwright

    with c.student.entered():
        pw = sync_playwright().start()
    host = origin.split("//")[1].split(":")[0]
    args = [a if not a.startswith("--host-resolver-rules") else f"{a}, EXCLUDE {host}"
            for a in BASE_ARGS]
    browser = pw.chromium.launch(
        executable_path=need_binary("chromium"), headless=True,
        args=args + FAKE_MEDIA + [f"--unsafely-treat-insecure-origin-as-secure={origin}"])
    return pw, browser


def class_in_chromium(c: Campus, side: ServerSide) -> list[str]:
    """The student joins, is put on stage; media both ways; returns the page's ICE choices."""
    origin = f"http://{c.server_addr}:{side.node.port}"
    pw, browser = student_browser(c, origin)
    student = None
    try:
        student = Person(browser, f"{origin}/room/{side.serial}", init_script=KEEP_PCS)
        sid = student.join("Stu", PASSWORDS["confuserpwd"])
        ice = student.eval("tkroomPage.room.options.iceServers")
        assert ice and ice[0]["username"].endswith(f":{sid}"), ice
        stats = student.decodes("t1", frames=30, within=90)  # the teacher's camera, relayed
        assert stats["frameWidth"] > 0
        side.call(side.teacher.changeUserPublish(sid, 3))
        side.call(side.media.waitForStream(sid, "video", within=90), timeout=120)
        seen = side.call(side.media.playVideo(sid))
        wait_until(lambda: seen.frames_received >= 30, 90, "30 frames of the browser student")
        kinds = wait_until(lambda: (k := student.eval(NOMINATED)) and len(k) >= 2 and k, 30,
                           "two connected PeerConnections")
        assert c.dropped_udp() > 0  # the direct path was tried and blocked
        assert student.errors == [], student.errors
        return kinds
    finally:
        if student is not None:
            student.close()
        browser.close()
        pw.stop()


def test_chromium_whose_udp_reaches_only_the_turn_server(school) -> None:
    c, side = school
    c.udp_to_turn_only(side.settings.turn_port)
    kinds = class_in_chromium(c, side)
    assert set(kinds) == {"relay/udp"}, kinds


def test_chromium_allowed_only_tcp_to_the_node_and_turn(school) -> None:
    c, side = school
    c.tcp_only(side.node.port, side.settings.effective_signal_port, side.settings.turn_port)
    kinds = class_in_chromium(c, side)
    assert set(kinds) == {"relay/tcp"}, kinds
