"""A real class in Debian's Chromium: a teacher and two students, a real node and a real Janus.

Everything runs inside a network namespace the test creates (MEDIA-TESTING.md): Janus, the
node (HTTP, signalling, media), Chromium (launched while the test's thread is inside it) and a
Python SDK client. The pages are served from 127.0.0.1 inside the namespace, a secure
context, so getUserMedia works with Chromium's fake camera and microphone.
"""

from __future__ import annotations

import os
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from browser.classnode import PASSWORDS, ClassNode
from browser.conftest import BASE_ARGS, FAKE_MEDIA, OUTPUT, need_node_modules
from browser.test_page import run_axe
from conftest import REQUIRE_ALL, need_binary
from media.conftest import start_janus, stop_process
from tkroom import tickets
from tkroom.client import Room as PyRoom
from tkroom.client.media import attach as attach_media
from tkroom.courseware.convert import pdf_file
from tkroom.media.netns import NetNamespace

pytestmark = [pytest.mark.browser, pytest.mark.media]


def wait_until(fn: Callable[[], object], within: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + within
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        time.sleep(0.1)


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    """A small blue PNG, written by hand so the test needs no image library."""
    raw = b"".join(b"\x00" + b"\x20\x60\xc0" * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pdf_bytes(pages: int = 2) -> bytes:
    """A minimal valid PDF with ``pages`` empty pages (objects and xref offsets computed)."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>"]
    objs += ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"] * pages
    return pdf_file([o.encode() for o in objs])


@pytest.fixture(scope="module")
def netns() -> Iterator[NetNamespace]:
    need_binary("ip")
    if os.geteuid() != 0:
        if REQUIRE_ALL:
            pytest.fail("network namespaces need root")
        pytest.skip("network namespaces need root")
    ns = NetNamespace.create("tkb")
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture(scope="module")
def class_node(netns, janus_url, tmp_path_factory) -> Iterator[ClassNode]:
    with ClassNode(netns, janus_url, tmp_path_factory.mktemp("node")) as node:
        yield node


@pytest.fixture(scope="module")
def janus_url(netns, tmp_path_factory) -> Iterator[str]:
    proc, janus = start_janus(netns, tmp_path_factory.mktemp("janus"))
    try:
        yield janus.url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def ns_playwright(netns):
    """Playwright's driver started inside the namespace: the browsers it launches are too."""
    from playwright.sync_api import sync_playwright

    with netns.entered():
        pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()


def ns_browser(pw, extra: list[str]):
    return pw.chromium.launch(executable_path=need_binary("chromium"), headless=True,
                              args=BASE_ARGS + extra)


@pytest.fixture(scope="module")
def browser_ns(ns_playwright):
    b = ns_browser(ns_playwright, FAKE_MEDIA)
    yield b
    b.close()


class Person:
    """One browser context on the classroom page."""

    def __init__(self, browser, url: str, locale: str = "en-US", init_script: str | None = None, **ctx) -> None:
        self.context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800}, **ctx)
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_function("() => window.tkroomPage && window.tkroomPage.ready === true", timeout=60000)

    def join(self, nickname: str, password: str) -> str:
        self.page.fill("#nickname", nickname)
        self.page.fill("#password", password)
        self.page.click("#join-button")
        self.page.wait_for_selector("#class-view:not([hidden])", timeout=20000)
        return self.eval("tkroomPage.room.getMySelf().id")

    def eval(self, js: str, arg=None):
        return self.page.evaluate(js, arg)

    def click(self, action: str, userid: str | None = None) -> None:
        scope = f'#people li[data-userid="{userid}"] ' if userid else "#controls "
        self.page.click(f'{scope}button[data-action="{action}"]', timeout=30000)

    def stats(self, userid: str, kind: str = "video") -> dict:
        return self.eval("([u, k]) => tkroomPage.room.getRemoteStats(u, k)", [userid, kind]) or {}

    def decodes(self, userid: str, frames: int = 15, within: float = 30.0) -> dict:
        """Waits until the page has decoded ``frames`` frames of the user's camera."""
        return wait_until(lambda: (s := self.stats(userid)) and s.get("framesDecoded", 0) >= frames and s,
                          within, f"{frames} decoded frames of {userid}")

    def hears(self, userid: str, within: float = 30.0) -> dict:
        """Waits until the page receives audio samples with energy from the user's microphone."""
        return wait_until(lambda: (s := self.stats(userid, "audio")) and s.get("audioSamples", 0) > 4800
                          and s.get("audioEnergy", 0) > 0 and s, within, f"audio of {userid}")

    def notices(self) -> list[str]:
        return self.page.locator(".notice").evaluate_all("els => els.map(e => e.dataset.code)")

    def close(self) -> None:
        self.context.close()


def py_sdk_join(node: ClassNode, serial: str, userid: str):
    """A Python SDK client (signalling + aiortc media) in the class, on the node's loop."""

    async def go():
        room = PyRoom()
        room.init("test")
        media = attach_media(room)
        ident = tickets.Identity(serial, userid, 2, "Py Bot")
        await room.joinroomEx(node.signal.url, tickets.issue(node.node.secret, ident, time.time()))
        return room, media

    return node.call(go())


def test_a_class_in_the_browser(class_node: ClassNode, browser_ns, request):
    node = class_node
    serial = node.create_room("Physics 101")
    up = node.webapi("uploadfile", {"conversion": "0"}, files={"filedata": ("atom.png", png_bytes(), "image/png")})
    node.webapi("roombindfile", {"serial": serial, "fileidarr[]": str(up["fileid"])})
    url = f"{node.url}/room/{serial}"
    out = OUTPUT / request.node.name
    out.mkdir(parents=True, exist_ok=True)

    teacher = Person(browser_ns, url, bypass_csp=True)
    ann = Person(browser_ns, url, locale="zh-CN", bypass_csp=True)
    bob = Person(browser_ns, url)
    people = [teacher, ann, bob]
    bot = None
    try:
        t_id = teacher.join("Ms Curie", PASSWORDS["chairmanpwd"])
        a_id = ann.join("Ann", PASSWORDS["confuserpwd"])
        b_id = bob.join("Bob", PASSWORDS["confuserpwd"])
        assert teacher.eval("tkroomPage.room.getMySelf().properties.role") == 0
        assert ann.eval("tkroomPage.room.getMySelf().properties.role") == 2
        wait_until(lambda: teacher.page.locator("#people li").count() == 3, 15, "three participants")

        # The teacher begins the class: everyone's timer runs from the same start.
        teacher.click("class-begin")
        wait_until(lambda: "上课中" in ann.page.inner_text("#class-timer"), 15, "Ann's timer")
        wait_until(lambda: "In class" in bob.page.inner_text("#class-timer"), 15, "Bob's timer")

        # The teacher publishes; both students decode her video and hear her.
        bob.eval("tkroomPage.room.on('room-first-video-frame', (e) => { window.__first = window.__first || e; })")
        teacher.click("av-on")
        for student in (ann, bob):
            s = student.decodes(t_id)
            assert s["frameWidth"] > 0
            student.hears(t_id)
        wait_until(lambda: bob.eval(
            f"document.querySelector('.tile[data-userid=\"{t_id}\"] video').videoWidth") > 0, 15, "video size")
        first = wait_until(lambda: bob.eval("window.__first || null"), 15, "room-first-video-frame")
        assert first["userId"] == t_id and first["width"] > 0

        # Courseware: listed for everyone; the teacher shows the image to the class.
        wait_until(lambda: bob.page.locator("#files li").count() == 1, 15, "file list")
        teacher.page.click('#files li [data-action="file-show"]', timeout=10000)
        img = bob.page.locator("#board-image")
        expect(img).to_be_visible(timeout=15000)
        wait_until(lambda: img.evaluate("i => i.complete && i.naturalWidth") == 64, 15, "courseware image")

        # Ann raises her hand; the teacher sees it and brings her on stage; Bob sees her video.
        ann.click("hand")
        wait_until(lambda: teacher.page.locator(f'#people li[data-userid="{a_id}"]').get_attribute("data-hand") == "1",
                   15, "Ann's raised hand")
        teacher.click("stage-on", a_id)
        bob.decodes(a_id)
        teacher.decodes(a_id)
        assert ann.eval("tkroomPage.room.getMySelf().properties.raisehand") is False

        # Chat round trip, in both directions.
        bob.page.fill("#chat-input", "hello class")
        bob.page.click("#chat-form button")
        for p in (teacher, ann):
            wait_until(lambda p=p: "hello class" in p.page.inner_text("#chat-log"), 15, "Bob's chat")
        teacher.page.fill("#chat-input", "welcome Bob")
        teacher.page.click("#chat-form button")
        wait_until(lambda: "welcome Bob" in bob.page.inner_text("#chat-log"), 15, "teacher's chat")

        # A Python SDK client in the same class receives the browser users' media.
        bot_room, bot_media = py_sdk_join(node, serial, "pybot")
        bot = (bot_room, bot_media)
        for uid in (t_id, a_id):
            rs = node.call(bot_media.playVideo(uid))
            wait_until(lambda rs=rs: rs.frames_received >= 10, 30, f"Python SDK frames of {uid}")
        rs = node.call(bot_media.playAudio(t_id))
        wait_until(lambda: rs.frames_received >= 10, 30, "Python SDK audio of the teacher")

        # The teacher's and a student's (Chinese) in-class pages pass the accessibility check.
        need_node_modules()
        assert run_axe(teacher.page) == []
        assert run_axe(ann.page) == []

        # Screenshots of the class as the teacher and a student see it.
        teacher.page.screenshot(path=str(out / "teacher.png"), full_page=True)
        ann.page.screenshot(path=str(out / "student.png"), full_page=True)

        # The teacher removes Bob: his page says so, and he is gone from the list.
        teacher.click("evict", b_id)
        bob.page.wait_for_selector("#ended", timeout=15000)
        assert "removed" in bob.page.inner_text("#ended")
        wait_until(lambda: teacher.page.locator(f'#people li[data-userid="{b_id}"]').count() == 0, 15, "Bob gone")
        for p in people:
            assert p.errors == [], p.errors
    finally:
        if bot is not None:
            node.call(bot[1].close())
            node.call(bot[0].leaveroom())
        for p in people:
            p.close()


def test_denied_camera_shows_152(class_node: ClassNode, ns_playwright):
    """A teacher whose browser refuses the camera sees code 152 in words, and 103 for the microphone."""
    serial = class_node.create_room("Denied")
    browser = ns_browser(ns_playwright, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream=deny"])
    try:
        teacher = Person(browser, f"{class_node.url}/room/{serial}")
        teacher.join("Ms Denied", PASSWORDS["chairmanpwd"])
        teacher.click("av-on")
        notice = teacher.page.locator('.notice.error[data-code="152"]')
        notice.wait_for(timeout=15000)
        assert "not allowed to use the camera" in notice.inner_text()
        assert "Code 152" in notice.inner_text()
        wait_until(lambda: "103" in teacher.notices(), 10, "103 for the microphone")
    finally:
        browser.close()


# Headless Chromium plays everything whatever --autoplay-policy says (and Playwright's evaluate
# counts as a user gesture), so the page gets the policy as a desktop Chromium applies it:
# unmuted play() is refused until the person has pressed a key or a pointer on the page.
AUTOPLAY_POLICY = """
window.__activated = false;
for (const t of ['pointerdown', 'keydown'])
  addEventListener(t, (e) => { if (e.isTrusted) window.__activated = true; }, true);
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  if (!this.muted && !window.__activated)
    return Promise.reject(new DOMException('play() failed because the user did not interact', 'NotAllowedError'));
  return play.call(this);
};
"""


def test_autoplay_refused_is_2101_and_resumes_on_click(class_node: ClassNode, browser_ns):
    serial = class_node.create_room("Autoplay")
    url = f"{class_node.url}/room/{serial}"
    teacher = Person(browser_ns, url)
    student = Person(browser_ns, url, init_script=AUTOPLAY_POLICY)
    try:
        t_id = teacher.join("Ms Play", PASSWORDS["chairmanpwd"])
        # Join with no user activation at all: the form is filled and submitted from script.
        student.eval("""(pwd) => { document.getElementById('nickname').value = 'Sam';
            document.getElementById('password').value = pwd;
            document.getElementById('join-form').requestSubmit(); }""", PASSWORDS["confuserpwd"])
        student.page.wait_for_selector("#class-view:not([hidden])", timeout=20000)
        assert student.eval("window.__activated") is False
        teacher.click("av-on")
        student.decodes(t_id)
        notice = student.page.locator('.notice.error[data-code="2101"]')
        notice.wait_for(timeout=15000)
        assert "Click anywhere" in notice.inner_text()
        audio = f'document.querySelector(\'audio[data-userid="{t_id}"]\')'
        assert student.eval(f"{audio}.paused") is True
        notice.locator("button.primary").click()
        wait_until(lambda: student.eval("tkroomPage.room.pendingPlay.size") == 0, 10, "playback resumed")
        wait_until(lambda: student.eval(f"{audio}.paused") is False, 10, "audio playing")
        # The muted camera video was never refused: only sound needs the click.
        assert '2102' not in student.notices()
    finally:
        teacher.close()
        student.close()


def test_reconnects_after_the_socket_drops(class_node: ClassNode, browser_ns):
    """The socket dies under a student: the SDK resumes, chat and the teacher's video go on."""
    serial = class_node.create_room("Flaky")
    url = f"{class_node.url}/room/{serial}"
    teacher, student = Person(browser_ns, url), Person(browser_ns, url)
    try:
        t_id = teacher.join("Ms Net", PASSWORDS["chairmanpwd"])
        student.join("Nia", PASSWORDS["confuserpwd"])
        teacher.click("av-on")
        student.decodes(t_id)
        student.eval("""() => { window.__events = [];
            for (const t of ['room-reconnecting', 'room-reconnected', 'room-connected'])
              tkroomPage.room.on(t, (e) => window.__events.push(t)); }""")
        # Offline for a moment: what is said meanwhile arrives after the resume, exactly once.
        student.context.set_offline(True)
        student.eval("tkroomPage.room.conn.ws.close()")
        teacher.page.fill("#chat-input", "still there?")
        teacher.page.click("#chat-form button")
        wait_until(lambda: "still there?" in teacher.page.inner_text("#chat-log"), 15, "teacher's own chat")
        assert "still there?" not in student.page.inner_text("#chat-log")
        student.context.set_offline(False)
        wait_until(lambda: "room-reconnected" in student.eval("window.__events"), 20, "resume")
        assert "room-connected" not in student.eval("window.__events")  # resumed, not rejoined
        wait_until(lambda: "still there?" in student.page.inner_text("#chat-log"), 15, "chat after resume")
        time.sleep(1)
        assert student.page.inner_text("#chat-log").count("still there?") == 1
        before = student.stats(t_id)["framesDecoded"]
        wait_until(lambda: student.stats(t_id)["framesDecoded"] > before + 10, 20, "video after resume")
    finally:
        teacher.close()
        student.close()


def test_teacher_controls_and_roles(class_node: ClassNode, browser_ns, request):
    """Audio-only, recording, chat bans, muting, groups, screen sharing, a lost camera, an
    inspector nobody sees and a live viewer who watches and chats, on a phone screen too."""
    node = class_node
    serial = node.create_room("Chemistry", allowsidelineuser=1, sidelineuserpwd="watch1234")
    groups = [node.webapi("groupcreate", {"serial": serial, "groupname": n})["groupid"] for n in ("Red", "Blue")]
    url = f"{node.url}/room/{serial}"
    teacher = Person(browser_ns, url)
    sue = Person(browser_ns, url, bypass_csp=True)
    people = [teacher, sue]
    try:
        t_id = teacher.join("Mr Mole", PASSWORDS["chairmanpwd"])
        s_id = sue.join("Sue", PASSWORDS["confuserpwd"])
        teacher.click("class-begin")
        teacher.click("av-on")
        sue.decodes(t_id)
        sue.hears(t_id)

        # Audio only: the teacher's camera is withdrawn (warning 1011), the sound goes on;
        # switching back brings the camera back (1012) and Sue decodes it again.
        teacher.click("audio-only")
        wait_until(lambda: "1011" in teacher.notices(), 15, "warning 1011")
        wait_until(lambda: not sue.stats(t_id), 15, "camera withdrawn")
        sue.hears(t_id)
        teacher.click("audio-only")
        sue.decodes(t_id, frames=5)

        # Recording: on and off again, with no error; the media service records in between.
        teacher.click("record-start")
        teacher.page.wait_for_selector('#controls [data-action="record-stop"]', timeout=15000)
        wait_until(lambda: node.media.rooms[serial].recording is not None, 15, "recording started")
        wait_until(lambda: any(node.workdir.rglob("*.mjr")), 15, "Janus recording files")
        teacher.click("record-stop")
        teacher.page.wait_for_selector('#controls [data-action="record-start"]', timeout=15000)
        wait_until(lambda: node.media.rooms[serial].recording is None, 15, "recording stopped")
        assert not [c for c in teacher.notices() if c not in ("1011", "1012", "0")]

        # Chat bans: for everyone, then for Sue alone; the server refuses with 4108.
        teacher.click("ban-all")
        wait_until(lambda: sue.page.is_disabled("#chat-input"), 15, "chat closed for all")
        code = sue.eval("tkroomPage.room.sendMessage('psst').then(() => 0, (e) => e.code)")
        assert code == 4108
        teacher.click("ban-all")
        wait_until(lambda: sue.page.is_enabled("#chat-input"), 15, "chat open again")
        teacher.click("chat-ban", s_id)
        wait_until(lambda: sue.page.is_disabled("#chat-input"), 15, "Sue's chat closed")
        teacher.click("chat-allow", s_id)
        wait_until(lambda: sue.page.is_enabled("#chat-input"), 15, "Sue's chat open")

        # On stage, muted, then off stage.
        teacher.click("stage-on", s_id)
        teacher.decodes(s_id)
        teacher.hears(s_id)
        teacher.click("mute", s_id)
        wait_until(lambda: not teacher.stats(s_id, "audio"), 15, "Sue muted")
        assert sue.eval("tkroomPage.room.getMySelf().properties.publishstate") == 2

        # Sue's camera dies while in use: she is told 2009 and it is withdrawn.
        sue.eval("tkroomPage.room.localTracks.video.dispatchEvent(new Event('ended'))")
        wait_until(lambda: "2009" in sue.notices(), 10, "code 2009")
        assert "camera stopped working" in sue.page.inner_text('.notice[data-code="2009"]')
        wait_until(lambda: not teacher.stats(s_id), 15, "lost camera withdrawn")
        teacher.click("stage-off", s_id)
        wait_until(lambda: sue.eval("tkroomPage.room.getMySelf().properties.publishstate") == 0, 15, "off stage")

        # A PDF of the room's courseware, shown to the class at its first page.
        up = node.webapi("uploadfile", {"conversion": "0"},
                         files={"filedata": ("lesson.pdf", pdf_bytes(), "application/pdf")})
        node.webapi("roombindfile", {"serial": serial, "fileidarr[]": str(up["fileid"])})
        teacher.eval("(f) => tkroomPage.room.board.documentChanged('add', f)", up["fileid"])
        teacher.page.click(f'#files li[data-fileid="{up["fileid"]}"] [data-action="file-show"]', timeout=15000)
        expect(sue.page.locator("#board-title")).to_have_text("lesson.pdf", timeout=15000)
        # Not converted: no page images, so the board says so and the list links the PDF.
        expect(sue.page.locator("#board-missing")).to_be_visible()
        src = sue.page.get_attribute(f'#files li[data-fileid="{up["fileid"]}"] a', "href")
        assert "/download/file/" in src
        r = sue.page.request.get(src)
        assert r.status == 200 and r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("inline")
        assert r.body().startswith(b"%PDF")

        # Groups: the teacher picks from the room's groups (by name) and sends the students there.
        expect(teacher.page.locator("#groups-pick label")).to_have_text(["Red", "Blue"], timeout=15000)
        teacher.page.get_by_label("Blue", exact=True).uncheck()
        teacher.click("groups-open")
        wait_until(lambda: sue.eval("tkroomPage.room.getMySelf().properties.group") == groups[0], 15, "Sue in a group")
        expect(teacher.page.locator(f'#people li[data-userid="{s_id}"]')).to_contain_text("group Red", timeout=15000)
        teacher.click("groups-close")
        wait_until(lambda: not sue.eval("tkroomPage.room.getMySelf().properties.group"), 15, "groups closed")

        # Screen sharing: Sue sees the teacher's screen as a tile of its own.
        teacher.click("share")
        sue.page.wait_for_selector(f'[data-screen="{t_id}:screen"] video', timeout=15000)
        wait_until(lambda: (sue.stats(t_id, "screen") or {}).get("framesDecoded", 0) > 3, 20, "screen frames")
        teacher.click("share-stop")
        wait_until(lambda: sue.page.locator("[data-screen]").count() == 0, 15, "screen tile gone")

        # An inspector watches unseen; a live viewer watches and chats but never publishes.
        inspector = Person(browser_ns, url)
        people.append(inspector)
        i_id = inspector.join("Inspector Gadget", PASSWORDS["patrolpwd"])
        inspector.decodes(t_id)
        assert inspector.page.is_hidden("#chat-panel")
        assert inspector.page.locator("#controls button").all_inner_texts() == ["Leave class"]
        assert teacher.page.locator(f'#people li[data-userid="{i_id}"]').count() == 0
        live = Person(browser_ns, f"{url}?userrole=3")
        people.append(live)
        live.join("Viewer", "watch1234")
        assert live.eval("tkroomPage.room.getMySelf().properties.role") == 3
        # it watches the live composite (HLS), not a WebRTC subscription per camera
        wait_until(lambda: live.eval("document.getElementById('live-video').currentTime") > 0.5,
                   60, "the live stream plays")
        assert not live.stats(t_id)
        assert live.page.locator('#controls [data-action="hand"]').count() == 0
        live.page.fill("#chat-input", "watching from home")
        live.page.click("#chat-form button")
        wait_until(lambda: "watching from home" in teacher.page.inner_text("#chat-log"), 15, "live viewer's chat")

        # The student's page on a phone: no sideways scrolling, everything reachable.
        sue.page.set_viewport_size({"width": 390, "height": 844})
        assert sue.eval("document.documentElement.scrollWidth <= window.innerWidth")
        out = OUTPUT / request.node.name
        out.mkdir(parents=True, exist_ok=True)
        sue.page.screenshot(path=str(out / "student-phone.png"), full_page=True)
        need_node_modules()
        assert run_axe(sue.page) == []
        for p in people:
            assert p.errors == [], p.errors
    finally:
        for p in people:
            p.close()


def test_login_key_link_joins_without_the_form(class_node: ClassNode, browser_ns):
    serial = class_node.create_room("Keys")
    key = class_node.webapi("getloginkey", {"serial": serial, "usertype": 2, "username": "Kim", "userid": "kim-1"})
    kim = Person(browser_ns, f"{class_node.url}/room/{serial}?loginkey={key['loginkey']}")
    bad = Person(browser_ns, f"{class_node.url}/room/{serial}?loginkey={'0' * 40}")
    try:
        kim.page.wait_for_selector("#class-view:not([hidden])", timeout=20000)
        assert kim.page.is_hidden("#join-form")
        me = kim.eval("tkroomPage.room.getMySelf()")
        assert (me["id"], me["properties"]["nickname"], me["properties"]["role"]) == ("kim-1", "Kim", 2)
        notice = bad.page.locator(".notice.error").first
        notice.wait_for(timeout=15000)
        assert notice.get_attribute("data-code") in ("5300", "5301")
        assert bad.page.is_hidden("#class-view")
    finally:
        kim.close()
        bad.close()


def test_rejoins_when_the_session_expired(netns, janus_url, browser_ns, tmp_path_factory):
    """Offline longer than the grace period: the server forgot the session (102), so the SDK
    joins again with a fresh ticket, as the same user, and gets the class back."""
    with ClassNode(netns, janus_url, tmp_path_factory.mktemp("shortgrace"), grace=1.0) as node:
        serial = node.create_room("Short grace")
        url = f"{node.url}/room/{serial}"
        teacher, student = Person(browser_ns, url), Person(browser_ns, url)
        try:
            t_id = teacher.join("Ms Grace", PASSWORDS["chairmanpwd"])
            s_id = student.join("Otto", PASSWORDS["confuserpwd"])
            teacher.click("class-begin")
            teacher.click("av-on")
            student.decodes(t_id)
            student.eval("""() => { window.__events = [];
                tkroomPage.room.on('*', (e) => window.__events.push([e.type, e.isReconnect || false])); }""")
            student.context.set_offline(True)
            student.eval("tkroomPage.room.conn.ws.close()")
            wait_until(lambda: teacher.page.locator(f'#people li[data-userid="{s_id}"]').count() == 0, 20,
                       "the session to expire")
            student.context.set_offline(False)
            wait_until(lambda: ["room-connected", True] in student.eval("window.__events"), 30, "rejoined")
            assert student.eval("tkroomPage.room.getMySelf().id") == s_id
            wait_until(lambda: teacher.page.locator(f'#people li[data-userid="{s_id}"]').count() == 1, 15,
                       "back in the teacher's list")
            assert "In class" in student.page.inner_text("#class-timer")
            before = (student.stats(t_id) or {}).get("framesDecoded", 0)
            wait_until(lambda: (student.stats(t_id) or {}).get("framesDecoded", 0) > before + 10, 30,
                       "the teacher's video again")
        finally:
            teacher.close()
            student.close()


def my_state(p: Person) -> int:
    return p.eval("tkroomPage.room.getMySelf().properties.publishstate || 0")


def test_teacher_reload_comes_back_as_teacher(class_node: ClassNode, browser_ns, request):
    """A teacher who reloads is back at once as the same user (no 63 "already has a teacher"),
    with her camera, microphone and chosen camera as they were, and the students see her again."""
    serial = class_node.create_room("Reload")
    url = f"{class_node.url}/room/{serial}"
    teacher, student = Person(browser_ns, url), Person(browser_ns, url)
    try:
        t_id = teacher.join("Ms Again", PASSWORDS["chairmanpwd"])
        student.join("Rita", PASSWORDS["confuserpwd"])
        teacher.click("class-begin")
        # She picks her camera in the device check (a real device id, not "default") and goes live.
        teacher.click("devices")
        cams = teacher.page.locator("#camera-select option:not([value=''])")
        expect(cams.first).to_be_attached(timeout=15000)
        cam = cams.first.get_attribute("value")
        teacher.page.select_option("#camera-select", cam)
        teacher.page.click('#device-panel [data-action="go-live"]')
        wait_until(lambda: my_state(teacher) == 3, 15, "teacher live")
        student.decodes(t_id)
        teacher.page.select_option("#lang-select", "zh")

        teacher.page.reload()
        teacher.page.wait_for_selector("#class-view:not([hidden])", timeout=30000)
        assert teacher.eval("tkroomPage.room.getMySelf().id") == t_id
        assert teacher.eval("tkroomPage.room.getMySelf().properties.role") == 0
        assert teacher.page.locator("#role-badge").inner_text() == "老师"  # the language came back too
        out = OUTPUT / request.node.name
        out.mkdir(parents=True, exist_ok=True)
        wait_until(lambda: my_state(teacher) == 3, 20, "camera and microphone back on")
        assert teacher.eval("tkroomPage.room.getDevice('video')") == cam
        assert not [n for n in teacher.eval("tkroomPage.notices") if n["code"] == 63]
        before = (student.stats(t_id) or {}).get("framesDecoded", 0)
        wait_until(lambda: (student.stats(t_id) or {}).get("framesDecoded", 0) > before + 10, 30,
                   "the teacher's video after her reload")
        expect(student.page.locator(f'#people li[data-userid="{t_id}"]')).to_have_count(1)
        teacher.page.screenshot(path=str(out / "teacher-after-reload-zh.png"), full_page=True)
        # Leaving on purpose forgets the session: a reload then shows the form.
        teacher.click("leave")
        teacher.page.wait_for_selector("#ended", timeout=15000)
        teacher.page.reload()
        expect(teacher.page.locator("#join-form")).to_be_visible(timeout=15000)
        assert teacher.errors == [] and student.errors == []
    finally:
        teacher.close()
        student.close()


def test_end_class_turns_cameras_off_and_takes_students_off_stage(class_node: ClassNode, browser_ns):
    serial = class_node.create_room("The end")
    url = f"{class_node.url}/room/{serial}"
    teacher, student = Person(browser_ns, url), Person(browser_ns, url)
    late = None
    try:
        t_id = teacher.join("Mr End", PASSWORDS["chairmanpwd"])
        s_id = student.join("Stu", PASSWORDS["confuserpwd"])
        teacher.click("class-begin")
        teacher.click("av-on")
        teacher.click("stage-on", s_id)
        teacher.decodes(s_id)
        student.decodes(t_id)
        # Someone opening the join page while the class runs is not told it has not begun.
        late = Person(browser_ns, url)
        assert "not begun" not in late.page.inner_text("header")

        teacher.click("class-end")
        for p in (teacher, student):
            wait_until(lambda p=p: my_state(p) == 0, 15, "publishstate 0 after the class ended")
            wait_until(lambda p=p: p.eval("""(() => { const r = tkroomPage.room;
                return !r.localTracks.audio && !r.localTracks.video && r.pubs.size === 0; })()"""),
                15, "local camera and microphone stopped")
        wait_until(lambda: not teacher.stats(s_id) and not student.stats(t_id), 15, "streams withdrawn")
        expect(teacher.page.locator(f'#people li[data-userid="{s_id}"]')).to_have_attribute("data-stage", "0")
        expect(student.page.locator("#stage .tile")).to_have_count(0, timeout=15000)
        expect(student.page.locator("#class-timer")).to_have_text("Class has not begun")
        expect(student.page.locator(".notice.info")).to_contain_text("The class has ended")
        expect(teacher.page.locator('#controls [data-action="class-begin"]')).to_be_visible()
        assert teacher.errors == [] and student.errors == []
    finally:
        for p in (teacher, student, late):
            if p is not None:
                p.close()


def test_teacher_sees_a_students_failed_camera(class_node: ClassNode, browser_ns, ns_playwright, request):
    """A student whose browser refuses the camera and microphone: the teacher sees it on the
    student's tile and in the list, not a black tile."""
    serial = class_node.create_room("Broken camera")
    url = f"{class_node.url}/room/{serial}"
    denied = ns_browser(ns_playwright, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream=deny"])
    teacher = Person(browser_ns, url)
    try:
        student = Person(denied, url)
        teacher.join("Ms See", PASSWORDS["chairmanpwd"])
        s_id = student.join("Dora", PASSWORDS["confuserpwd"])
        teacher.click("stage-on", s_id)
        tile = teacher.page.locator(f'#stage .tile[data-userid="{s_id}"]')
        expect(tile.locator(".device-failed")).to_contain_text("Camera not working (code 152)", timeout=20000)
        expect(tile.locator(".device-failed")).to_contain_text("Microphone not working (code 103)")
        expect(teacher.page.locator(f'#people li[data-userid="{s_id}"]')).to_contain_text("Camera not working")
        # Dora's own notices are sentences, and the warnings too (no "status 1015").
        expect(student.page.locator('.notice.warn[data-code="1015"]')).to_contain_text("camera could not be started")
        out = OUTPUT / request.node.name
        out.mkdir(parents=True, exist_ok=True)
        teacher.page.screenshot(path=str(out / "teacher-sees-failed-camera.png"), full_page=True)
        # Taken off stage, the warning goes with her tile.
        teacher.click("stage-off", s_id)
        expect(tile).to_have_count(0, timeout=15000)
        expect(teacher.page.locator(f'#people li[data-userid="{s_id}"]')).not_to_contain_text("not working", timeout=15000)
    finally:
        teacher.close()
        denied.close()


def test_wrong_password_format_is_explained_in_chinese(class_node: ClassNode, browser_ns):
    serial = class_node.create_room("Formats")
    p = Person(browser_ns, f"{class_node.url}/room/{serial}", locale="zh-CN")
    try:
        p.page.fill("#nickname", "小明")
        p.page.fill("#password", "ab")
        p.page.click("#join-button")
        notice = p.page.locator('.notice.error[data-code="5006"]')
        expect(notice).to_contain_text("密码格式不正确", timeout=15000)
        expect(notice).to_contain_text("错误码 5006")
        assert "password" not in notice.inner_text().lower()  # no English detail line
    finally:
        p.close()


def test_class_basics_devices_chat_recording(class_node: ClassNode, browser_ns, request):
    """The device check before going live, camera and microphone on their own, the recording
    indicator for everyone, chat times, the teacher's messages marked, long words wrapped."""
    serial = class_node.create_room("Basics")
    url = f"{class_node.url}/room/{serial}"
    teacher, student = Person(browser_ns, url, bypass_csp=True), Person(browser_ns, url)
    out = OUTPUT / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    try:
        t_id = teacher.join("Prof Basic", PASSWORDS["chairmanpwd"])
        student.join("Bea", PASSWORDS["confuserpwd"])
        teacher.click("class-begin")
        # The teacher's toolbar comes in labelled groups.
        groups = teacher.page.locator("#controls [role=group]")
        expect(groups).to_have_count(5)
        assert [groups.nth(i).get_attribute("aria-label") for i in range(5)] == \
            ["Class", "Groups", "Tools", "Camera and microphone", "Me"]

        # The device check: a live preview and a moving microphone level, nothing sent yet.
        teacher.click("devices")
        panel = teacher.page.locator("#device-panel")
        expect(panel).to_be_visible()
        wait_until(lambda: teacher.eval("document.getElementById('device-preview').videoWidth") > 0, 20, "preview")
        wait_until(lambda: teacher.eval("document.getElementById('mic-level').value") > 0, 20, "mic level")
        assert teacher.page.locator("#camera-select option").count() >= 2  # "Default" and the camera
        assert my_state(teacher) == 0 and teacher.eval("tkroomPage.room.pubs.size") == 0
        teacher.page.screenshot(path=str(out / "teacher-device-check.png"), full_page=True)
        panel.get_by_role("button", name="Go live").click()
        expect(panel).to_be_hidden()
        student.decodes(t_id)
        student.hears(t_id)

        # Camera and microphone apart: camera off keeps the sound; microphone off keeps the picture.
        teacher.click("cam-off")
        wait_until(lambda: my_state(teacher) == 1, 15, "audio only")
        wait_until(lambda: not student.stats(t_id), 15, "camera withdrawn")
        student.hears(t_id)
        teacher.click("cam-on")
        teacher.click("mic-off")
        wait_until(lambda: my_state(teacher) == 2, 15, "video only")
        wait_until(lambda: not student.stats(t_id, "audio"), 15, "microphone withdrawn")
        student.decodes(t_id, frames=5)
        teacher.click("mic-on")
        wait_until(lambda: my_state(teacher) == 3, 15, "both again")

        # Recording shows for everyone, not only the teacher.
        rec = student.page.locator("#rec-indicator")
        expect(rec).to_be_hidden()
        teacher.click("record-start")
        expect(rec).to_be_visible(timeout=15000)
        expect(rec).to_contain_text("Recording")
        student.page.screenshot(path=str(out / "student-recording.png"))
        teacher.click("record-stop")
        expect(rec).to_be_hidden(timeout=15000)

        # Chat: a time on every line, the teacher's lines marked, a very long word wrapped.
        teacher.page.fill("#chat-input", "Read chapter 3")
        teacher.page.click("#chat-form button")
        line = student.page.locator("#chat-log li", has_text="Read chapter 3")
        expect(line).to_have_class("from-teacher", timeout=15000)
        expect(line.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
        expect(line).to_contain_text("Teacher")
        student.page.fill("#chat-input", "x" * 400)
        student.page.click("#chat-form button")
        mine = student.page.locator("#chat-log li").last
        expect(mine).to_contain_text("x" * 50, timeout=15000)
        assert not mine.evaluate("li => li.classList.contains('from-teacher')")
        for width in (1280, 390):
            student.page.set_viewport_size({"width": width, "height": 844})
            assert student.eval("""(() => { const l = document.getElementById('chat-log');
                return l.scrollWidth <= l.clientWidth + 1
                       && document.documentElement.scrollWidth <= window.innerWidth; })()""")
            student.page.screenshot(path=str(out / f"student-{width}.png"), full_page=True)
        teacher.page.set_viewport_size({"width": 390, "height": 844})
        assert teacher.eval("document.documentElement.scrollWidth <= window.innerWidth")
        teacher.page.screenshot(path=str(out / "teacher-phone.png"), full_page=True)
        teacher.page.set_viewport_size({"width": 1280, "height": 800})
        teacher.page.screenshot(path=str(out / "teacher-desktop.png"), full_page=True)
        need_node_modules()
        assert run_axe(teacher.page) == []
        assert teacher.errors == [] and student.errors == []
    finally:
        teacher.close()
        student.close()
