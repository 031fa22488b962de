"""A live viewer (role 3) watches the class in Debian's Chromium: the classroom page plays the
node's HLS stream with hls.js (served by the node), the picture moves and its camera slot shows
the publisher's test pattern, while a Python SDK teacher publishes camera and microphone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from browser.classnode import ClassNode
from browser.conftest import FAKE_MEDIA
from browser.test_classroom_e2e import Person, ns_browser, wait_until
from conftest import REQUIRE_ALL, need_binary
from media.conftest import start_janus, stop_process
from tkroom import tickets
from tkroom.client import Room as PyRoom
from tkroom.client.media import attach as attach_media
from tkroom.media.netns import NetNamespace

pytestmark = [pytest.mark.browser, pytest.mark.media]


@pytest.fixture(scope="module")
def class_node(tmp_path_factory) -> Iterator[ClassNode]:
    """A namespace, a Janus and a node in it (as the classroom tests have them)."""
    need_binary("ip")
    if os.geteuid() != 0:
        if REQUIRE_ALL:
            pytest.fail("network namespaces need root")
        pytest.skip("network namespaces need root")
    ns = NetNamespace.create("tkl")
    try:
        proc, janus = start_janus(ns, tmp_path_factory.mktemp("janus"))
        try:
            with ClassNode(ns, janus.url, tmp_path_factory.mktemp("node")) as node:
                yield node
        finally:
            stop_process(proc)
    finally:
        ns.delete()


@pytest.fixture(scope="module")
def browser_ns(class_node: ClassNode):
    """Chromium launched inside the node's namespace."""
    from playwright.sync_api import sync_playwright

    with class_node.ns.entered():
        pw = sync_playwright().start()
    try:
        b = ns_browser(pw, FAKE_MEDIA)
        yield b
        b.close()
    finally:
        pw.stop()

LIVE_PASSWORD = "watch1234"
CAMERA = (960, 0, 320, 180)  # layout 0: the teacher's camera slot, top of the right column

COLUMNS_JS = """([x0, y0, w, h]) => {
  const v = document.getElementById('live-video');
  if (!v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const sx = v.videoWidth / 1280, sy = v.videoHeight / 720;
  const d = g.getImageData(Math.round(x0 * sx), Math.round((y0 + h / 4) * sy),
                           Math.round(w * sx), Math.round(h / 2 * sy));
  const cols = [];
  for (let x = 4; x < d.width - 4; x++) {
    let sum = 0;
    for (let y = 0; y < d.height; y += 2) {
      const i = (y * d.width + x) * 4;
      sum += 0.299 * d.data[i] + 0.587 * d.data[i + 1] + 0.114 * d.data[i + 2];
    }
    cols.push(sum / Math.ceil(d.height / 2));
  }
  return cols;
}"""


def teacher_publishing(node: ClassNode, serial: str):
    async def go():
        room = PyRoom()
        room.init("test")
        media = attach_media(room)
        ident = tickets.Identity(serial, "t1", 0, "Teacher")
        await room.joinroomEx(node.signal.url, tickets.issue(node.node.secret, ident, time.time()))
        await media.publishVideo()
        await media.publishAudio()
        return room, media

    return node.call(go())


def pattern_seen(cols: list[float] | None) -> bool:
    """A few bright columns (the moving bar), most dark (its black background)."""
    return bool(cols) and sum(c > 150 for c in cols) >= 2 and \
        sum(c < 60 for c in cols) > len(cols) // 2


def test_live_viewer_plays_the_class(class_node: ClassNode, browser_ns) -> None:
    serial = class_node.create_room("Live class", allowsidelineuser=1,
                                    sidelineuserpwd=LIVE_PASSWORD)
    teacher, media = teacher_publishing(class_node, serial)
    viewer = Person(browser_ns, f"{class_node.url}/room/{serial}?userrole=3")
    try:
        viewer.join("Viewer", LIVE_PASSWORD)
        assert viewer.eval("tkroomPage.room.getMySelf().properties.role") == 3
        assert viewer.eval("tkroomPage.live").startswith(f"{class_node.url}/live/{serial}/")
        assert viewer.page.is_visible("#live-video")
        assert viewer.page.is_hidden("#board")
        t0 = wait_until(lambda: (t := viewer.eval(
            "document.getElementById('live-video').currentTime")) > 1 and t, 90,
            "the live video plays")
        wait_until(lambda: viewer.eval("document.getElementById('live-video').currentTime")
                   > t0 + 2, 30, "its time advances")
        wait_until(lambda: pattern_seen(viewer.eval(f"({COLUMNS_JS})", list(CAMERA))), 30,
                   "the teacher's test pattern in the camera slot")
        # a live viewer takes no WebRTC subscription: the composite is all it plays
        media_room = class_node.media.rooms[serial]
        assert not [s for s in media_room.subs.values() if s.userid != "t1"]
        assert viewer.errors == []
    finally:
        viewer.close()

        async def leave():
            await media.close()
            await teacher.leaveroom()

        class_node.call(leave())
    wait_until(lambda: serial not in class_node.node.live.rooms, 30, "the live stream stops")


def test_hls_player_is_served_by_the_node(class_node: ClassNode) -> None:
    import httpx

    async def get():
        async with httpx.AsyncClient(base_url=class_node.url) as c:
            return await c.get("/classroom/vendor/hls.js")

    r = class_node.call(get())
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert len(r.content) > 100_000



