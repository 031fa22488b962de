"""Simulcast and adaptation, with Chromium on both ends and a student on a shaped link.

The teacher's Chromium (fake camera) publishes on the real classroom page in the server's
namespace; a student's Chromium runs in a namespace of its own behind a veth link that the test
shapes (``tkroom.media.shaping``: ``tc tbf`` for the rate, an ``iptables`` random drop for the
loss). What is asserted is what the student sees: the decoded picture's width (the high layer full
width, medium half, low a quarter) and the frames decoded per second, measured over a window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser.classnode import PASSWORDS, ClassNode
from browser.conftest import BASE_ARGS, FAKE_MEDIA
from browser.test_classroom_e2e import (  # noqa: F401 - module fixtures
    Person,
    browser_ns,
    janus_url,
    netns,
    ns_playwright,
    py_sdk_join,
    wait_until,
)
from conftest import need_binary
from tkroom.media.layers import Tuning
from tkroom.media.shaping import StudentLink

pytestmark = [pytest.mark.browser, pytest.mark.media]

# Quicker tries back up than a real class uses, so recovery shows within the test's patience.
QUICK = Tuning(settle=1.5, probe_first=4.0, probe_max=8.0, probe_window=3.0)


RESUBSCRIBE_JS = """async (uid) => {
  const room = tkroomPage.room;
  const e = [...room.remote.values()].find((x) => x.userId === uid && x.type === "video");
  const old = room.subs.get(e.streamId);
  room.subs.delete(e.streamId);
  await old.stop(true);
  await room.subscribe(e.streamId);
  return room.subs.get(e.streamId).layer;
}"""


def chromium_in(ns_name: str, folder: Path) -> str:
    """A Chromium launcher that runs the browser inside namespace ``ns_name`` (Playwright's
    pipe to it is inherited through ``ip netns exec``)."""
    script = folder / "chromium-in-ns"
    script.write_text(f'#!/bin/sh\nexec ip netns exec {ns_name} {need_binary("chromium")} "$@"\n')
    script.chmod(0o755)
    return str(script)


@pytest.fixture(scope="module")
def shaped_class(netns, janus_url, tmp_path_factory, ns_playwright) -> Iterator[tuple]:  # noqa: F811
    node = ClassNode(netns, janus_url, tmp_path_factory.mktemp("scnode"), host="0.0.0.0")
    with node:
        node.media.layer_tuning = QUICK
        link = StudentLink.create(netns)
        try:
            with link.forward(node.port, node.signal.port):
                student_browser = ns_playwright.chromium.launch(
                    executable_path=chromium_in(link.student.name, tmp_path_factory.mktemp("bin")),
                    headless=True, args=BASE_ARGS + FAKE_MEDIA)
                try:
                    yield node, link, student_browser
                finally:
                    student_browser.close()
        finally:
            link.delete()


def fps(person: Person, userid: str, seconds: float = 6.0, *, width=None) -> tuple[float, float]:
    """Frames the page decoded per second over ``seconds`` (sampled each half second), over
    the intervals where the picture was ``width`` wide (any width when None; the node may try
    a layer up meanwhile), and the share of the time spent at that width."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = person.stats(userid)
        samples.append((time.monotonic(), s["framesDecoded"], s["frameWidth"]))
        time.sleep(0.5)
    frames = spent = 0.0
    for (t0, f0, w0), (t1, f1, w1) in zip(samples, samples[1:], strict=False):
        if width is None or w0 == w1 == width:
            frames += f1 - f0
            spent += t1 - t0
    return (frames / spent if spent else 0.0), spent / (samples[-1][0] - samples[0][0])


async def frame_width(rs) -> int:
    """The width of the next frame a Python SDK stream decodes."""
    frames = rs.frames()
    frame = await asyncio.wait_for(anext(frames), 10)
    await frames.aclose()
    return frame.width


def sent_widths(teacher: Person) -> list[int]:
    """The widths of the layers the teacher's browser sends, lowest first, once all three go."""
    layers = wait_until(lambda: (x := teacher.eval("tkroomPage.room.getPublishLayers('video')"))
                        and len([e for e in x if e["width"] > 0]) == 3 and x, 30,
                        "three simulcast layers sent")
    return sorted(e["width"] for e in layers)


def width_becomes(person: Person, userid: str, ok, within: float, what: str) -> int:
    return wait_until(lambda: (w := person.stats(userid).get("frameWidth", 0)) and ok(w) and w,
                      within, what)


def test_student_on_a_slow_link_gets_a_lower_layer_and_keeps_decoding(shaped_class, browser_ns):  # noqa: F811
    node, link, student_browser = shaped_class
    serial = node.create_room("Simulcast")
    url = f"{node.url}/room/{serial}"
    teacher = Person(browser_ns, url)
    student = Person(student_browser, url)
    try:
        t_id = teacher.join("Ms Curie", PASSWORDS["chairmanpwd"])
        student.join("Remote Ann", PASSWORDS["confuserpwd"])
        student.eval("window.__layers = []; tkroomPage.room.on('room-video-layer-changed', "
                     "(e) => window.__layers.push(e))")
        teacher.click("av-on")

        # The teacher's browser sends three layers (full, half, quarter width); the student's
        # large tile gets the high one.
        low, mid, high = widths = sent_widths(teacher)
        assert mid * 2 == high and low * 4 == high, widths
        student.decodes(t_id)
        width_becomes(student, t_id, lambda w: w == high, 30, "the high layer at the student")
        assert student.stats(t_id)["layer"] == "high"

        # 1 Mbit/s: the high layer (~1.2 Mbit/s) does not fit; the student is moved down.
        link.shape(1000)
        width_becomes(student, t_id, lambda w: w <= mid, 40, "a lower layer on 1 Mbit/s")
        rate, _ = fps(student, t_id)
        assert rate >= 10, f"{rate:.1f} fps on a 1 Mbit/s link"
        assert any(e["reason"] == "slow_link" for e in student.eval("window.__layers"))

        # 300 kbit/s with 2 % loss: the low layer, still moving.
        link.shape(300, loss_percent=2)
        width_becomes(student, t_id, lambda w: w == low, 60, "the low layer on 300 kbit/s")
        rate, share = fps(student, t_id, 8, width=low)
        assert share >= 0.5 and rate >= 10, \
            f"{rate:.1f} fps at the low layer, {share:.0%} of the time, on 300 kbit/s + 2 % loss"

        # Subscribing again on that link starts below the top layer that congested it.
        again = student.page.evaluate(RESUBSCRIBE_JS, t_id)
        assert again in ("low", "medium"), again
        student.decodes(t_id, 5)

        # The shaping is lifted: tried back up, layer by layer, to the high one.
        link.clear()
        width_becomes(student, t_id, lambda w: w == high, 90, "the high layer again")
        assert student.eval("window.__layers").pop()["reason"] == "recovered"
        rate, _ = fps(student, t_id, 3)
        assert rate >= 10
        assert teacher.errors == [] and student.errors == []
    finally:
        link.clear()
        teacher.close()
        student.close()


def test_a_thumbnail_asks_for_the_low_layer(shaped_class, browser_ns):  # noqa: F811
    """setVideoLayer on an unshaped link: the layer asked for is the one decoded."""
    node, _link, student_browser = shaped_class
    serial = node.create_room("Layers")
    url = f"{node.url}/room/{serial}"
    teacher = Person(browser_ns, url)
    student = Person(student_browser, url)
    bot = None
    try:
        t_id = teacher.join("Mr Bohr", PASSWORDS["chairmanpwd"])
        student.join("Ben", PASSWORDS["confuserpwd"])
        teacher.click("av-on")
        widths = sent_widths(teacher)
        student.decodes(t_id)
        # The browser answered Janus's actpass offer as the DTLS server, like the Python SDK.
        setups = student.eval("[...tkroomPage.room.subs.values()].map((x) => "
                              "x.pc.localDescription.sdp.match(/a=setup:(\\w+)/)[1])")
        assert setups and set(setups) == {"passive"}, setups
        sid = student.eval(f"[...tkroomPage.room.remote.values()].find(e => e.userId === '{t_id}' "
                           "&& e.type === 'video').streamId")
        for layer, width in zip(("low", "medium", "high"), widths, strict=True):
            assert student.eval(f"tkroomPage.room.setVideoLayer('{sid}', '{layer}')") == layer
            width_becomes(student, t_id, lambda w, x=width: w == x, 30, f"the {layer} layer")
        err = student.eval(f"tkroomPage.room.setVideoLayer('{sid}', 'huge').catch(e => e.code)")
        assert err == 103

        # The Python SDK (in the server's namespace) asks for the low layer, then the medium.
        bot = py_sdk_join(node, serial, "pybot")
        rs = node.call(bot[1].playVideo(t_id, layer="low"))
        assert rs.current_layer == "low"
        wait_until(lambda: node.call(frame_width(rs)) == widths[0], 30, "the SDK's low layer")
        assert node.call(bot[1].setVideoLayer(t_id, "medium")) == "medium"
        wait_until(lambda: node.call(frame_width(rs)) == widths[1], 30, "the SDK's medium layer")
    finally:
        if bot is not None:
            node.call(bot[1].close())
            node.call(bot[0].leaveroom())
        teacher.close()
        student.close()


def test_a_shared_screen_keeps_its_resolution(shaped_class, browser_ns):  # noqa: F811
    """A screen is one encoding marked for detail, and the student receives it at the size it
    is captured, also on a 1 Mbit/s link."""
    node, link, student_browser = shaped_class
    serial = node.create_room("Screen")
    url = f"{node.url}/room/{serial}"
    teacher = Person(browser_ns, url)
    student = Person(student_browser, url)
    try:
        t_id = teacher.join("Ms Noether", PASSWORDS["chairmanpwd"])
        student.join("Carl", PASSWORDS["confuserpwd"])
        teacher.eval("tkroomPage.room.startShareScreen().then(() => { window.__shared = true; })")
        wait_until(lambda: teacher.eval("window.__shared === true"), 30, "the screen shared")
        sender = teacher.eval("""(() => {
          const pub = tkroomPage.room.pubs.get("screen");
          const s = pub.pc.getSenders().find((x) => x.track && x.track.kind === "video");
          const p = s.getParameters();
          return {hint: s.track.contentHint, pref: p.degradationPreference,
                  encodings: p.encodings.length, width: s.track.getSettings().width};
        })()""")
        assert sender["hint"] == "detail" and sender["encodings"] == 1, sender
        assert sender["pref"] == "maintain-resolution", sender
        link.shape(1000)
        got = wait_until(lambda: (s := student.stats(t_id, "screen")) and s.get("framesDecoded", 0)
                         >= 10 and s, 40, "the screen at the student")
        assert got["frameWidth"] == sender["width"], (got, sender)
    finally:
        link.clear()
        teacher.close()
        student.close()
