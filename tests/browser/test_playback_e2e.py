"""The playback page in Debian's Chromium: a recorded lesson (the event log of
recording_fixture.py and media made by ffmpeg, registered as the egress plane registers a
recording) played on a real node. Seeking anywhere shows the board as it was then
(screenshot pixels where a stroke is and is not yet), the page number, the chat and who was
present; seeking back takes a later stroke away; the video, the sound alone or a clock drives
the time; a wrong link gets a readable page in the reader's language.

Screenshots go to test-output/browser/<test name>/.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from browser import recording_fixture as fx
from browser.classnode import ClassNode
from browser.conftest import OUTPUT, need_node_modules
from browser.test_classroom_e2e import wait_until
from browser.test_page import run_axe
from conftest import need_binary
from tkroom.store.records import RecordRepo

pytestmark = [pytest.mark.browser]


@dataclass
class Rec:
    recordid: str
    token: str
    folder: Path

    def path(self, node: ClassNode) -> str:
        return f"{node.url}/playback/{self.recordid}/{self.token}"


def register(node: ClassNode, serial: str, folder: Path, files: list[str], state: int = 1) -> Rec:
    """A recording's event-playback output, as the egress plane registers it."""
    repo = RecordRepo(node.node.sessions)

    async def go() -> tuple[str, str]:
        rid = await repo.add(serial=serial, path=str(folder / "events.jsonl"), starttime=1_767_000_000,
                             duration_ms=fx.DURATION, title="Geometry, lesson 3", kind="events",
                             state=state, recording=folder.name, files=files)
        row = await repo.update(rid, state=state)
        assert row is not None
        return rid, row["token"]

    rid, token = node.call(go())
    return Rec(rid, token, folder)


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[ClassNode]:
    need_binary("ffmpeg")
    with ClassNode(None, None, tmp_path_factory.mktemp("playbacknode")) as n:
        yield n


@pytest.fixture(scope="module")
def serial(node: ClassNode) -> str:
    return node.create_room("Geometry")


@pytest.fixture(scope="module")
def with_video(node: ClassNode, serial: str, tmp_path_factory) -> Rec:
    folder = tmp_path_factory.mktemp("rec-video")
    fx.write_log(folder)
    fx.write_media(folder, video=True)
    fx.write_media(folder, video=False)
    return register(node, serial, folder, ["events.jsonl", "composite.mp4", "audio.m4a"])


@pytest.fixture(scope="module")
def chromium(playwright_instance, chromium_path):
    from browser.conftest import launch

    b = launch(playwright_instance, chromium_path, ["--autoplay-policy=no-user-gesture-required"])
    yield b
    b.close()


class Viewer:
    """One browser context on the playback page."""

    def __init__(self, browser, url: str, locale: str = "en-US", ready: bool = True, **ctx) -> None:
        self.context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860}, **ctx)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.response = self.page.goto(url)
        if ready:
            # Polled from here: the page's CSP (kept on) forbids the eval wait_for_function uses.
            wait_until(lambda: self.eval("window.tkroomPlayback && window.tkroomPlayback.ready === true"),
                       within=20, what="the playback page to load")

    def eval(self, js: str, arg=None):
        return self.page.evaluate(js, arg)

    def seek(self, ms: int) -> None:
        """Drags the seek bar to ``ms`` (its input and change events, as a drag sends them)."""
        self.page.locator("#pb-seek").evaluate(
            """(bar, ms) => { bar.value = String(ms); bar.dispatchEvent(new Event('input'));
                               bar.dispatchEvent(new Event('change')); }""", ms)
        self.at(ms)

    def at(self, ms: int) -> None:
        try:
            wait_until(lambda: abs(self.eval("window.tkroomPlayback.time") - ms) < 1, within=10,
                       what=f"the page to show {ms} ms")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it shows {self.eval('window.tkroomPlayback.time')} ms, "
                                 f"errors {self.errors}") from None

    def board(self, out: Path | None = None, name: str = "") -> Image.Image:
        shot = self.page.locator("#board-page").screenshot()
        if out:
            (out / f"{name}.png").write_bytes(shot)
        return Image.open(io.BytesIO(shot)).convert("RGB")

    def texts(self, selector: str) -> list[str]:
        return self.page.locator(selector).all_inner_texts()

    def close(self) -> None:
        self.context.close()


def color_near(img: Image.Image, point: tuple[float, float], rgb: tuple[int, int, int], r: int = 4) -> bool:
    """Is there a pixel of about this colour within ``r`` pixels of a page point (fractions)?"""
    x, y = round(point[0] * (img.width - 1)), round(point[1] * (img.height - 1))
    for dx in range(-r, r + 1):
        for dy in range(-r, r + 1):
            px = img.getpixel((min(img.width - 1, max(0, x + dx)), min(img.height - 1, max(0, y + dy))))
            if all(abs(a - b) < 45 for a, b in zip(px, rgb, strict=True)):
                return True
    return False


def blank_at(img: Image.Image, point: tuple[float, float]) -> bool:
    """Nothing drawn around a page point: the blank page's white."""
    return color_near(img, point, (255, 255, 255), r=0) and not any(
        color_near(img, point, c) for c in (fx.RED, fx.BLUE, fx.GREEN))


def out_dir(request) -> Path:
    d = OUTPUT / request.node.name
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_seeking_shows_the_lesson_as_it_was(node: ClassNode, with_video: Rec, chromium, request):
    out = out_dir(request)
    v = Viewer(chromium, with_video.path(node))
    try:
        # The composite video is the clock; the timeline is the lesson's length.
        assert v.page.locator("#pb-video").is_visible()
        assert v.eval("tkroomPlayback.player.media.id") == "pb-video"
        assert abs(v.eval("tkroomPlayback.duration") - fx.DURATION) < 1000
        assert v.page.locator("#pb-name").inner_text() == "Geometry, lesson 3"

        # Before the red stroke: the stroke saved before the recording began, nothing else.
        v.seek(fx.T_RED - 500)
        img = v.board(out, "1-before-red")
        assert color_near(img, fx.SAVED_STROKE.middle, fx.SAVED_STROKE.color)
        assert blank_at(img, fx.RED_STROKE.middle)
        assert v.page.locator("#board-pageno").inner_text() == "Page 1 / 1"
        assert v.texts("#people .name") == ["Ms Li", "Wang Wei"]
        assert v.texts("#chat-log li") == []

        # Just after it.
        v.seek(fx.T_RED + 300)
        img = v.board(out, "2-red")
        assert color_near(img, fx.RED_STROKE.middle, fx.RED)
        assert blank_at(img, fx.GREEN_STROKE.middle)

        # On page 2: its own stroke, none of page 1's; a late student has joined.
        v.seek(fx.T_BLUE + 200)
        img = v.board(out, "3-page2")
        assert v.page.locator("#board-pageno").inner_text() == "Page 2 / 2"
        assert color_near(img, fx.BLUE_STROKE.middle, fx.BLUE)
        assert blank_at(img, fx.RED_STROKE.middle)
        assert v.texts("#people .name") == ["Ms Li", "Late Lucy", "Wang Wei"]
        assert v.texts("#chat-log .body") == []

        # Back on page 1 with the green stroke; the chat so far, the private word left out;
        # the first student has left.
        v.seek(fx.T_CHAT2 + 100)
        img = v.board(out, "4-green")
        assert v.page.locator("#board-pageno").inner_text() == "Page 1 / 2"
        assert color_near(img, fx.RED_STROKE.middle, fx.RED)
        assert color_near(img, fx.GREEN_STROKE.middle, fx.GREEN)
        assert v.texts("#chat-log .body") == [fx.CHAT1, fx.CHAT2]
        assert v.texts("#chat-log .from") == ["Ms Li", "Late Lucy"]
        assert v.texts("#people .name") == ["Ms Li", "Late Lucy"]
        v.page.screenshot(path=str(out / "page.png"), full_page=True)

        # Seeking back: the later stroke and the later chat are gone again.
        v.seek(fx.T_RED + 300)
        img = v.board(out, "5-back")
        assert color_near(img, fx.RED_STROKE.middle, fx.RED)
        assert blank_at(img, fx.GREEN_STROKE.middle)
        assert v.texts("#chat-log .body") == []
        assert v.page.locator("#board-pageno").inner_text() == "Page 1 / 1"

        # The erase and the clear.
        v.seek(fx.T_ERASE + 200)
        img = v.board(out, "6-erased")
        assert blank_at(img, fx.RED_STROKE.middle)
        assert color_near(img, fx.GREEN_STROKE.middle, fx.GREEN)
        v.seek(fx.T_CLEAR + 200)
        img = v.board(out, "7-cleared")
        for s in (fx.SAVED_STROKE, fx.RED_STROKE, fx.GREEN_STROKE):
            assert blank_at(img, s.middle), s
        assert v.page.get_attribute("#board-page", "data-shapes") == "0"

        # The video element follows the seek bar.
        assert abs(v.eval("document.getElementById('pb-video').currentTime") * 1000 - (fx.T_CLEAR + 200)) < 50
        assert v.errors == []
    finally:
        v.close()


def test_page_turn_markers_seek(node: ClassNode, with_video: Rec, chromium):
    v = Viewer(chromium, with_video.path(node))
    try:
        markers = v.page.locator("#pb-markers button")
        assert [int(x) for x in markers.evaluate_all("bs => bs.map(b => b.dataset.t)")] == [fx.T_PAGE2, fx.T_BACK]
        assert markers.nth(0).get_attribute("aria-label") == "0:04: Whiteboard, page 2"
        markers.nth(0).click()
        v.at(fx.T_PAGE2)
        assert v.page.locator("#board-pageno").inner_text() == "Page 2 / 2"
        markers.nth(1).click()
        v.at(fx.T_BACK)
        assert v.page.locator("#board-pageno").inner_text() == "Page 1 / 2"
    finally:
        v.close()


def test_playing_moves_the_board_with_the_video(node: ClassNode, with_video: Rec, chromium, request):
    v = Viewer(chromium, with_video.path(node))
    try:
        if not v.eval("document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.42E01E, mp4a.40.2\"')"):
            pytest.skip("this Chromium plays no H.264")
        v.seek(fx.T_RED - 800)
        v.page.select_option("#pb-speed", "2")
        v.page.click("#pb-play")
        assert v.page.locator("#pb-play").get_attribute("data-state") == "playing"
        # No seek: the video's own time passes the red stroke and the board draws it.
        wait_until(lambda: v.eval("document.getElementById('pb-video').currentTime") * 1000 > fx.T_RED + 200,
                   within=30, what="the video to play past the red stroke")
        wait_until(lambda: color_near(v.board(), fx.RED_STROKE.middle, fx.RED), within=10,
                   what="the red stroke while playing")
        assert v.eval("document.getElementById('pb-video').playbackRate") == 2
        v.page.click("#pb-play")
        assert v.page.locator("#pb-play").get_attribute("data-state") == "paused"
        v.board(out_dir(request), "playing")
    finally:
        v.close()


def test_sound_alone_while_the_video_is_not_ready(node: ClassNode, serial: str, chromium, tmp_path):
    fx.write_log(tmp_path)
    fx.write_media(tmp_path, video=False)
    rec = register(node, serial, tmp_path, ["events.jsonl", "audio.m4a"], state=0)
    v = Viewer(chromium, rec.path(node))
    try:
        assert v.eval("tkroomPlayback.player.media.id") == "pb-audio"
        assert v.page.locator("#pb-video").is_hidden()
        assert "not ready yet" in v.page.locator("#pb-media-note").inner_text()
        v.seek(fx.T_BLUE + 200)
        assert color_near(v.board(), fx.BLUE_STROKE.middle, fx.BLUE)
    finally:
        v.close()


def test_a_board_only_lesson_plays_on_a_clock(node: ClassNode, serial: str, chromium, tmp_path):
    fx.write_log(tmp_path)
    rec = register(node, serial, tmp_path, ["events.jsonl"])
    v = Viewer(chromium, rec.path(node))
    try:
        assert v.eval("tkroomPlayback.player.media") is None
        assert v.page.locator("#pb-nomedia").is_visible()
        assert v.eval("tkroomPlayback.duration") == fx.DURATION
        v.seek(fx.T_RED - 600)
        v.page.select_option("#pb-speed", "3")
        v.page.click("#pb-play")
        wait_until(lambda: color_near(v.board(), fx.RED_STROKE.middle, fx.RED), within=20,
                   what="the clock to pass the red stroke")
        # It stops by itself at the end.
        wait_until(lambda: v.eval("tkroomPlayback.time") >= fx.DURATION, within=30, what="the end")
        assert v.page.locator("#pb-play").get_attribute("data-state") == "paused"
    finally:
        v.close()


@pytest.mark.parametrize("state, reason, words", [
    (0, "", "still being made"), (1, "ffmpeg: rec-t.webm: Invalid data", "could not be made")])
def test_without_media_the_page_says_why(node: ClassNode, serial: str, chromium, tmp_path, state, reason, words):
    fx.write_log(tmp_path)
    rec = register(node, serial, tmp_path, ["events.jsonl"], state=state)
    if reason:
        node.call(RecordRepo(node.node.sessions).update(rec.recordid, reason=reason))
    v = Viewer(chromium, rec.path(node))
    try:
        assert v.eval("tkroomPlayback.player.media") is None
        assert words in v.page.locator("#pb-media-note").inner_text()
        assert "ffmpeg" not in v.page.inner_text("body")  # the operator's reason stays in getrecordlist
        assert v.page.locator("#pb-nomedia").is_hidden()
        v.seek(fx.T_RED + 300)
        assert color_near(v.board(), fx.RED_STROKE.middle, fx.RED)
    finally:
        v.close()


def test_chinese_labels(node: ClassNode, with_video: Rec, chromium, request):
    v = Viewer(chromium, with_video.path(node), locale="zh-CN")
    try:
        assert v.eval("document.documentElement.lang") == "zh-CN"
        assert v.page.locator("#pb-play").inner_text() == "播放"
        assert v.page.locator("#chat-heading").inner_text() == "聊天"
        v.seek(fx.T_BLUE + 200)
        assert v.page.locator("#board-pageno").inner_text() == "第 2 / 2 页"
        assert v.page.locator("#people .role").all_inner_texts() == ["老师", "学生", "学生"]
        # The language switch is the classroom's, and is kept for both pages.
        v.page.select_option("#lang-select", "en")
        assert v.page.locator("#pb-play").inner_text() == "Play"
        assert v.page.locator("#board-pageno").inner_text() == "Page 2 / 2"
        assert v.eval("localStorage.getItem('tkroom.lang')") == '"en"'
        # On a phone: everything in one column, nothing wider than the screen, the board redrawn.
        v.page.set_viewport_size({"width": 390, "height": 844})
        wait_until(lambda: v.eval("document.documentElement.scrollWidth <= window.innerWidth"), 10,
                   "the page to fit a phone")
        assert color_near(v.board(), fx.BLUE_STROKE.middle, fx.BLUE)
        v.page.screenshot(path=str(out_dir(request) / "phone.png"), full_page=True)
    finally:
        v.close()


@pytest.mark.parametrize("locale, words", [("en-US", "no such recording"), ("zh-CN", "没有这个录制")])
def test_a_wrong_link_gets_a_readable_page(node: ClassNode, with_video: Rec, chromium, locale, words):
    for url in (f"{node.url}/playback/{with_video.recordid}/{'0' * 32}",
                f"{node.url}/playback/nosuchrecord/{with_video.token}"):
        v = Viewer(chromium, url, locale=locale, ready=False)
        try:
            assert v.response is not None and v.response.status == 404
            v.page.wait_for_selector("#pb-error:not([hidden])")
            assert words in v.page.locator("#pb-error-text").inner_text().lower()
            assert "4105" in v.page.locator("#pb-error-code").inner_text()
            assert v.page.locator("#pb-view").is_hidden()
        finally:
            v.close()
    # The page's data answers the same, and nothing of the record leaks.
    r = httpx.get(f"{node.url}/playback/{with_video.recordid}/{'0' * 32}/info")
    assert r.status_code == 404 and r.json()["result"] == 4105 and "events" not in r.json()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_accessibility(node: ClassNode, with_video: Rec, chromium, locale):
    need_node_modules()
    # bypass_csp: axe is injected as a script of the test's own
    v = Viewer(chromium, with_video.path(node), locale=locale, bypass_csp=True)
    try:
        v.seek(fx.T_CHAT2 + 100)
        assert run_axe(v.page) == []
    finally:
        v.close()
    bad = Viewer(chromium, f"{node.url}/playback/{with_video.recordid}/x", locale=locale, ready=False,
                 bypass_csp=True)
    try:
        bad.page.wait_for_selector("#pb-error:not([hidden])")
        assert run_axe(bad.page) == []
    finally:
        bad.close()


def test_the_info_lists_only_what_the_token_downloads(node: ClassNode, with_video: Rec):
    base = f"{node.url}/playback/{with_video.recordid}/{with_video.token}"
    info = httpx.get(f"{base}/info").json()
    assert info["result"] == 0
    dl = f"/download/record/{with_video.recordid}/{with_video.token}/"
    assert (info["events"], info["video"], info["audio"]) == (
        dl + "events.jsonl", dl + "composite.mp4", dl + "audio.m4a")
    for url in (info["events"], info["video"]):
        assert httpx.get(node.url + url).status_code == 200
    # The page's own files come from their own prefix; the page itself sends a CSP.
    page = httpx.get(base)
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{node.url}/playback-page/timeline.js").status_code == 200


def test_a_real_class_recorded_and_watched_again(node: ClassNode, serial: str, chromium, tmp_path, request):
    """A teacher's class in the classroom page, its event log written by the egress plane's
    writer as the class runs; then the playback page shows each moment of it."""
    import json
    import time

    from browser.classnode import PASSWORDS
    from browser.test_board_e2e import drag_to, press, release, shapes
    from browser.test_classroom_e2e import Person
    from tkroom.egress.eventlog import EventLog

    out = out_dir(request)
    room_serial = node.create_room("Live geometry")
    url = f"{node.url}/room/{room_serial}"
    teacher = Person(chromium, url)
    student = Person(chromium, url)
    folder = tmp_path / "recording"
    try:
        teacher.join("Ms Euclid", PASSWORDS["chairmanpwd"])
        student.join("Ann", PASSWORDS["confuserpwd"])
        log = EventLog(node.signal.state, room_serial, folder, time.time(), {"roomname": "Live geometry"})
        node.call(log.start())

        def stroke(y: float, x0: float, x1: float, n: int) -> None:
            time.sleep(0.8)
            press(teacher, x0, y)
            drag_to(teacher, (x0 + x1) / 2, y)
            drag_to(teacher, x1, y)
            release(teacher)
            wait_until(lambda: shapes(student) == n, 15, "the stroke saved")

        stroke(0.3, 0.1, 0.4, 1)  # A, page 1
        time.sleep(0.8)
        teacher.page.fill("#chat-input", "hello from class")
        teacher.page.click("#chat-form button")
        wait_until(lambda: "hello from class" in student.page.inner_text("#chat-log"), 15, "the chat")
        time.sleep(0.8)
        teacher.page.click('#board-nav [data-action="page-add"]')
        wait_until(lambda: student.page.get_attribute("#board-page", "data-page") == "0_2", 15, "page 2")
        stroke(0.5, 0.5, 0.9, 1)  # B, page 2
        time.sleep(0.8)
        teacher.page.click('#board-nav [data-action="page-prev"]')
        wait_until(lambda: student.page.get_attribute("#board-page", "data-page") == "0_1", 15, "page 1")
        stroke(0.7, 0.5, 0.9, 2)  # C, page 1
        time.sleep(0.5)
        node.call(log.close())
    finally:
        teacher.context.close()
        student.context.close()

    lines = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    strokes = [x["t"] for x in lines if x.get("name") == "pubMsg" and "###_SharpsChange_" in x["data"]["id"]]
    assert len(strokes) == 3, strokes
    t_a, t_b, t_c = strokes
    t_chat = next(x["t"] for x in lines if x.get("name") == "sendMessage")
    t_back = [x["t"] for x in lines if x.get("name") == "pubMsg" and x["data"]["id"] == "DocumentFilePage_ShowPage"][-1]
    assert t_b < t_back < t_c
    rec = register(node, room_serial, folder, ["events.jsonl"])
    v = Viewer(chromium, rec.path(node))
    red = fx.RED  # the pen's default colour
    try:
        v.seek((t_a + t_chat) // 2)
        img = v.board(out, "after-A")
        assert color_near(img, (0.25, 0.3), red) and blank_at(img, (0.7, 0.7))
        assert v.page.locator("#board-pageno").inner_text() == "Page 1 / 1"
        assert v.texts("#chat-log .body") == []
        assert sorted(v.texts("#people .name")) == ["Ann", "Ms Euclid"]

        v.seek((t_b + t_back) // 2)
        img = v.board(out, "page-2")
        assert v.page.locator("#board-pageno").inner_text() == "Page 2 / 2"
        assert color_near(img, (0.7, 0.5), red) and blank_at(img, (0.25, 0.3))
        assert v.texts("#chat-log .body") == ["hello from class"]

        v.seek(t_c + 100)
        img = v.board(out, "after-C")
        assert color_near(img, (0.25, 0.3), red) and color_near(img, (0.7, 0.7), red)
        assert v.page.locator("#board-pageno").inner_text() == "Page 1 / 2"

        v.seek((t_a + t_chat) // 2)
        img = v.board(out, "back-to-A")
        assert color_near(img, (0.25, 0.3), red) and blank_at(img, (0.7, 0.7))
        assert v.errors == []
    finally:
        v.close()


def test_courseware_pages_kept_and_shown(node: ClassNode, serial: str, chromium, tmp_path, request):
    """A page the recording kept in its folder plays from there; a page it did not keep comes
    from the enterprise's file the lesson showed; a file the lesson never showed stays hidden."""
    import json

    from browser.test_classroom_e2e import png_bytes

    shown = node.webapi("uploadfile", {"conversion": "0"},
                        files={"filedata": ("atom.png", png_bytes(64, 48), "image/png")})["fileid"]
    never = node.webapi("uploadfile", {"conversion": "0", "serial": serial},
                        files={"filedata": ("secret.png", png_bytes(), "image/png")})["fileid"]
    kept = 999_999  # the document is gone from the store: only the recording's copy is left
    Image.new("RGB", (200, 100), fx.GREEN).save(tmp_path / f"page-{kept}_1.jpg", quality=95)

    def page(fileid: int, name: str) -> dict:
        return {"name": "ShowPage", "id": "DocumentFilePage_ShowPage", "toID": "__all", "save": True,
                "data": {"fileid": fileid, "currpage": 1, "pagenum": 1, "filename": name, "filetype": "png"}}

    lines = [{"v": 1, "kind": "start", "t": 0, "at_ms": 1_767_000_000_000, "serial": serial, "room": {},
              "members": [fx.TEACHER], "saved": [page(shown, "atom.png")]},
             {"t": 1000, "kind": "event", "name": "pubMsg", "data": page(kept, "old.pdf")},
             {"t": 2000, "kind": "end"}]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rec = register(node, serial, tmp_path, ["events.jsonl", f"page-{kept}_1.jpg"])

    info = httpx.get(f"{rec.path(node)}/info").json()
    assert [f["fileid"] for f in info["files"]] == [shown]  # not `never`, though it is the room's
    assert never != shown
    assert list(info["pages"]) == [f"{kept}_1"]

    v = Viewer(chromium, rec.path(node))
    try:
        v.seek(500)
        wait_until(lambda: v.eval("document.getElementById('board-image').naturalWidth") == 64, 10, "atom.png")
        assert v.page.locator("#board-title").inner_text() == "atom.png"
        box = v.page.locator("#board-page").bounding_box()
        assert box and abs(box["width"] / box["height"] - 64 / 48) < 0.02
        assert color_near(v.board(out_dir(request), "atom"), (0.5, 0.5), (0x20, 0x60, 0xC0))

        v.seek(1500)
        wait_until(lambda: v.eval("document.getElementById('board-image').naturalWidth") == 200, 10, "the kept page")
        assert v.page.locator("#board-title").inner_text() == "old.pdf"
        assert v.eval("document.getElementById('board-image').src").endswith(f"/page-{kept}_1.jpg")
        box = v.page.locator("#board-page").bounding_box()
        assert box and abs(box["width"] / box["height"] - 2) < 0.02
        assert color_near(v.board(out_dir(request), "kept"), (0.5, 0.5), fx.GREEN)
        assert v.errors == []
    finally:
        v.close()


def test_the_benchmark_runs_and_its_index_agrees_with_a_replay(tmp_path):
    """bench.playback at a small size: it throws when the index's state at a moment differs
    from replaying the log up to that moment, so this also checks the index."""
    import json
    import subprocess
    import sys

    out = tmp_path / "results.json"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "bench.playback", "--minutes", "36", "--shapes", "600",
                    "--seeks", "40", "--out", str(out)], cwd=root, check=True, timeout=300,
                   env={**os.environ, "PYTHONPATH": f"{root / 'src'}:{root}"})
    rows = json.loads(out.read_text())["rows"]
    assert any(r["measure"].startswith("seek, p95") for r in rows)


def test_a_lesson_made_by_the_egress_plane_plays(node: ClassNode, chromium, tmp_path, request):
    """The whole chain: a recording's folder as the recorder leaves it (bench.egress.lesson:
    camera files, the event log, the kept pages), the egress plane's compositor makes its
    outputs, getrecordlist's event-playback ``playpath`` opens the page, which plays the
    composite video with the board in step."""
    from bench.egress.lesson import Lesson, Publisher, make, page_color

    from tkroom.egress.plane import EgressPlane, EgressSettings
    from tkroom.state.memory import MemoryState

    room = node.create_room("Composited")
    records = tmp_path / "records"
    red = [0.1, 0.3, 0.25, 0.3, 0.4, 0.3]
    blue = [0.5, 0.7, 0.7, 0.7, 0.9, 0.7]
    make(records / room / "rec1", Lesson(
        5000, [Publisher("t", 0)], pages=2, page_turns=[(2500, 2)],
        strokes=[(1000, 1, red, "#e53935"), (3500, 2, blue, "#1e88e5")], chat=[(3000, "page two now")]))
    plane = EgressPlane(EgressSettings(records, width=640, height=360, preset="ultrafast"),
                        node.node.directory, MemoryState(), node.node.storage)
    node.call(plane.start())
    try:
        def ready() -> list | None:
            rows = node.webapi("getrecordlist", {"serial": room})["recordlist"]
            return rows if rows and all(r["state"] == 1 for r in rows) and len(rows) >= 2 else None

        rows = wait_until(ready, within=300, what="the recording's outputs")
    finally:
        node.call(plane.stop())
    playback = next(r for r in rows if r["recordtype"] == 0)["playpath"]
    assert playback.startswith(f"{node.url}/playback/")
    v = Viewer(chromium, playback)
    out = out_dir(request)
    try:
        assert v.eval("tkroomPlayback.player.media.id") == "pb-video"
        assert abs(v.eval("tkroomPlayback.duration") - 5000) <= 1000
        v.seek(1500)
        wait_until(lambda: v.eval("document.getElementById('board-image').naturalWidth") == 1600, 10, "page 1")
        img = v.board(out, "page1")
        assert color_near(img, (0.25, 0.3), fx.RED)
        assert color_near(img, (0.5, 0.9), page_color(1), r=0)
        assert v.page.locator("#board-pageno").inner_text() == "Page 1 / 2"
        v.seek(4000)
        wait_until(lambda: v.eval("document.getElementById('board-image').src").endswith("page-7_2.jpg"), 10, "page 2")
        wait_until(lambda: color_near(v.board(), (0.5, 0.9), page_color(2), r=0), 10, "page 2's image")
        img = v.board(out, "page2")
        assert color_near(img, (0.7, 0.7), fx.BLUE) and not color_near(img, (0.25, 0.3), fx.RED)
        assert v.texts("#chat-log .body") == ["page two now"]
        v.seek(1500)
        wait_until(lambda: color_near(v.board(), (0.5, 0.9), page_color(1), r=0), 10, "page 1 again")
        img = v.board(out, "page1-again")
        assert color_near(img, (0.25, 0.3), fx.RED) and not color_near(img, (0.7, 0.7), fx.BLUE)
        assert v.texts("#chat-log .body") == []
        assert abs(v.eval("document.getElementById('pb-video').currentTime") - 1.5) < 0.05
        assert v.errors == []
    finally:
        v.close()


def test_a_database_failure_is_4107_and_readable(chromium, tmp_path, request):
    """The store gone under a running node (its tables with it): the page and its data say
    the server cannot read its records (4107), not that the recording does not exist."""
    with ClassNode(None, None, tmp_path / "node") as n:
        url = f"{n.url}/playback/somerecord/{'1' * 32}"
        assert httpx.get(url).status_code == 404  # the store works: no such record
        db = tmp_path / "node" / "data" / "tkroom.db"
        assert db.is_file()
        n.call(n.node.engine.dispose())
        db.unlink()  # the next connection opens an empty database: no table at all
        r = httpx.get(f"{url}/info")
        assert r.status_code == 500 and r.json()["result"] == 4107
        v = Viewer(chromium, url, ready=False)
        try:
            assert v.response is not None and v.response.status == 500
            v.page.wait_for_selector("#pb-error:not([hidden])")
            assert "try again" in v.page.locator("#pb-error-text").inner_text().lower()
            assert "4107" in v.page.locator("#pb-error-code").inner_text()
        finally:
            v.close()
