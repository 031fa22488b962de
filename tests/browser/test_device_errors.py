"""Browser media errors become the seed's codes, in Debian's Chromium.

Chromium raises NotFoundError, NotAllowedError, OverconstrainedError and a real screen-share
refusal here (MEDIA-TESTING.md §5); NotReadableError, an unknown error and a missing
mediaDevices are produced by replacing getUserMedia in the page, as Chromium cannot.
"""

from __future__ import annotations

import pytest

from browser.conftest import launch

pytestmark = pytest.mark.browser

GET_TRACK = """async ([kind, constraints]) => {
  const { default: TK } = await import('/sdk/tkroom.js');
  try {
    const track = await TK.getLocalTrack(kind, constraints === null ? undefined : constraints);
    const out = { ok: true, kind: track.kind, state: track.readyState };
    track.stop();
    return out;
  } catch (e) {
    return { ok: false, code: e.code, name: e.name, browserError: e.browserError, message: e.message };
  }
}"""


def _page(browser, url: str, init_script: str | None = None):
    context = browser.new_context()
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{url}/room/1")
    return context, page


def test_fake_devices_open(browser, web_server):
    context, page = _page(browser, web_server.url)
    try:
        for kind in ("video", "audio"):
            r = page.evaluate(GET_TRACK, [kind, None])
            assert r == {"ok": True, "kind": kind, "state": "live"}
    finally:
        context.close()


def test_no_device_is_101_and_151(playwright_instance, chromium_path, web_server):
    b = launch(playwright_instance, chromium_path, ["--use-fake-ui-for-media-stream"])
    try:
        context, page = _page(b, web_server.url)
        assert page.evaluate(GET_TRACK, ["audio", None])["code"] == 101
        r = page.evaluate(GET_TRACK, ["video", None])
        assert (r["code"], r["browserError"]) == (151, "NotFoundError")
    finally:
        b.close()


@pytest.mark.parametrize("flags", [["--use-fake-device-for-media-stream"],
                                   ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream=deny"]])
def test_permission_denied_is_103_and_152(playwright_instance, chromium_path, web_server, flags):
    b = launch(playwright_instance, chromium_path, flags)
    try:
        context, page = _page(b, web_server.url)
        r = page.evaluate(GET_TRACK, ["video", None])
        assert (r["code"], r["browserError"]) == (152, "NotAllowedError")
        assert page.evaluate(GET_TRACK, ["audio", None])["code"] == 103
    finally:
        b.close()


def test_impossible_constraints_are_2005_and_2006(browser, web_server):
    context, page = _page(browser, web_server.url)
    try:
        r = page.evaluate(GET_TRACK, ["video", {"width": {"exact": 99999}}])
        assert (r["code"], r["browserError"]) == (2006, "OverconstrainedError")
        r = page.evaluate(GET_TRACK, ["audio", {"deviceId": {"exact": "no-such-microphone"}}])
        assert (r["code"], r["browserError"]) == (2005, "OverconstrainedError")
    finally:
        context.close()


def _throwing(name: str) -> str:
    return (
        "navigator.mediaDevices.getUserMedia = () => Promise.reject("
        f"new DOMException('stubbed', '{name}'));"
    )


@pytest.mark.parametrize(
    ("stub", "audio_code", "video_code"),
    [
        (_throwing("NotReadableError"), 104, 153),
        (_throwing("SomethingNewError"), 2001, 2002),
        ("navigator.mediaDevices.getUserMedia = () => Promise.reject(new TypeError('bad'));", 2007, 2008),
        ("Object.defineProperty(navigator, 'mediaDevices', {value: undefined});", 2007, 2008),
    ],
)
def test_errors_chromium_cannot_raise_here(browser, web_server, stub, audio_code, video_code):
    context, page = _page(browser, web_server.url, stub)
    try:
        assert page.evaluate(GET_TRACK, ["audio", None])["code"] == audio_code
        assert page.evaluate(GET_TRACK, ["video", None])["code"] == video_code
    finally:
        context.close()


SHARE = """async () => {
  const { default: TK } = await import('/sdk/tkroom.js');
  const room = TK.Room();
  const notices = [];
  room.on('room-error-notice', (e) => notices.push(e.code));
  try { await room.startShareScreen(); return { ok: true }; }
  catch (e) { return { ok: false, code: e.code, browserError: e.browserError, notices }; }
}"""


def test_screen_share_refused_is_2103(playwright_instance, chromium_path, web_server):
    b = launch(playwright_instance, chromium_path, ["--use-fake-ui-for-media-stream=deny"])
    try:
        context, page = _page(b, web_server.url)
        r = page.evaluate(SHARE)
        assert (r["ok"], r["code"], r["browserError"]) == (False, 2103, "NotAllowedError")
        assert r["notices"] == [2103]
    finally:
        b.close()


def test_screen_share_needs_a_room_once_the_browser_allows_it(browser, web_server):
    """With the picker answered, the stream is opened, then refused for want of a room (2508)."""
    context, page = _page(browser, web_server.url)
    try:
        r = page.evaluate(SHARE)
        assert (r["ok"], r["code"], r["notices"]) == (False, 2508, [])
    finally:
        context.close()


def test_screen_share_unsupported_is_2509(browser, web_server):
    context, page = _page(browser, web_server.url, "delete MediaDevices.prototype.getDisplayMedia;")
    try:
        r = page.evaluate(SHARE)
        assert (r["code"], r["notices"]) == (2509, [2509])
    finally:
        context.close()

