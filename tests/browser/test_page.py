"""The classroom page in Debian's Chromium: join form, languages, phone layout, accessibility."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from browser.conftest import AXE_JS, need_node_modules

pytestmark = pytest.mark.browser


def _open(browser, url: str, **ctx):
    context = browser.new_context(**ctx)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => window.tkroomPage && window.tkroomPage.ready === true", timeout=60000)
    return context, page, errors


def test_join_form_in_english(browser, web_server):
    context, page, errors = _open(browser, f"{web_server.url}/room/5551234", locale="en-US")
    try:
        assert page.locator("#join-form").is_visible()
        assert page.locator("#join-serial").inner_text() == "5551234"
        assert page.get_by_label("Your name").is_visible()
        assert page.get_by_label("Room password").is_visible()
        assert page.evaluate("document.documentElement.lang") == "en"
        page.get_by_role("button", name="Join").click()
        assert page.locator("#join-status").inner_text() == "Please enter your name."
        assert errors == []
    finally:
        context.close()


def test_join_form_in_simplified_chinese(browser, web_server):
    context, page, errors = _open(browser, f"{web_server.url}/room/5551234", locale="zh-CN")
    try:
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert page.get_by_label("你的名字").is_visible()
        assert page.get_by_role("button", name="进入").is_visible()
        # Before joining the page cannot know whether the class has begun: it claims nothing.
        assert page.locator("#class-timer").is_hidden()
        assert page.locator("#lang-select").input_value() == "zh"
        assert errors == []
    finally:
        context.close()


def test_join_failure_shows_code_and_message(browser, web_server):
    """A node without the ClientAPI cannot be joined: the page says 111 in words, not a blank."""
    context, page, _ = _open(browser, f"{web_server.url}/room/5551234", locale="en-US")
    try:
        page.get_by_label("Your name").fill("Ann")
        page.get_by_role("button", name="Join").click()
        notice = page.locator(".notice.error").first
        notice.wait_for(timeout=10000)
        assert notice.get_attribute("data-code") == "111"
        assert "Code 111" in notice.inner_text()
        assert "could not be reached" in notice.inner_text()
        assert page.get_by_role("button", name="Join").is_enabled()
    finally:
        context.close()


def test_phone_layout_has_no_horizontal_scroll(browser, web_server):
    context, page, _ = _open(
        browser, f"{web_server.url}/room/5551234", viewport={"width": 375, "height": 740}, is_mobile=True
    )
    try:
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        box = page.locator("#join-form").bounding_box()
        assert box is not None and box["width"] <= 375
    finally:
        context.close()


def run_axe(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    violations = json.loads(result)["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_join_page_accessibility(browser, web_server, locale):
    need_node_modules()
    context, page, _ = _open(browser, f"{web_server.url}/room/5551234", locale=locale, bypass_csp=True)
    try:
        assert run_axe(page) == []
    finally:
        context.close()


def test_axe_check_does_catch_violations(browser, web_server):
    """The harness itself: an unlabeled field and an image without text must be reported."""
    need_node_modules()
    context, page, _ = _open(browser, f"{web_server.url}/room/5551234", bypass_csp=True)
    try:
        page.evaluate(
            """() => { const f = document.getElementById('join-form');
                 f.append(Object.assign(document.createElement('input'), {type: 'text'}));
                 f.append(Object.assign(document.createElement('img'), {src: 'data:,'})); }"""
        )
        ids = {v["id"] for v in run_axe(page)}
        assert {"label", "image-alt"} <= ids
    finally:
        context.close()


def test_translations_are_complete(browser, web_server):
    """Every word of the page exists in both languages, and every device code the SDK raises
    is explained in both."""
    context, page, _ = _open(browser, f"{web_server.url}/room/5551234")
    try:
        r = page.evaluate(
            """async () => {
              const i = await import('/classroom/i18n.js');
              const { default: TK } = await import('/sdk/tkroom.js');
              const used = [...document.querySelectorAll('[data-i18n]')].map((e) => e.dataset.i18n);
              const sdk = [101, 151, 103, 152, 104, 153, 2001, 2002, 2005, 2006, 2007, 2008,
                           2009, 2010, 2011, 2101, 2102, 2103, 2509];
              return {
                onlyEn: Object.keys(i.en).filter((k) => !(k in i.zh)),
                onlyZh: Object.keys(i.zh).filter((k) => !(k in i.en)),
                missing: used.filter((k) => !(k in i.en)),
                sdkEn: sdk.filter((c) => !i.codesEn[`sdk:${c}`]),
                sdkZh: sdk.filter((c) => !i.codesZh[`sdk:${c}`]),
                sdkMsg: sdk.filter((c) => !TK.MESSAGES[c]),
                zhOnlyCodes: Object.keys(i.codesZh).filter((k) => !(k in i.codesEn)),
                enOnlyCodes: Object.keys(i.codesEn).filter((k) => !(k in i.codesZh)),
              };
            }"""
        )
        assert r == {"onlyEn": [], "onlyZh": [], "missing": [], "sdkEn": [], "sdkZh": [],
                     "sdkMsg": [], "zhOnlyCodes": [], "enOnlyCodes": []}
    finally:
        context.close()


def test_language_switch_is_kept_across_reloads(browser, web_server):
    context, page, errors = _open(browser, f"{web_server.url}/room/5551234", locale="en-US")
    try:
        switch = page.get_by_label("Language")
        assert switch.input_value() == "en"
        switch.select_option("zh")
        expect(page.get_by_role("button", name="进入")).to_be_visible()
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        page.reload()
        page.wait_for_function("() => window.tkroomPage && window.tkroomPage.ready === true", timeout=60000)
        expect(page.get_by_label("你的名字")).to_be_visible()
        page.get_by_label("语言").select_option("en")
        expect(page.get_by_role("button", name="Join")).to_be_visible()
        assert errors == []
    finally:
        context.close()


def test_page_has_a_favicon(browser, web_server):
    context, page, _ = _open(browser, f"{web_server.url}/room/5551234")
    try:
        href = page.locator('link[rel="icon"]').get_attribute("href")
        r = page.request.get(f"{web_server.url}{href}")
        assert r.status == 200 and r.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in r.body()
    finally:
        context.close()


def test_notices_clear_by_themselves_and_on_dismiss(browser, web_server):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        page.clock.install()
        page.goto(f"{web_server.url}/room/5551234")
        page.wait_for_function("() => window.tkroomPage && window.tkroomPage.ready === true", timeout=60000)
        page.get_by_label("Your name").fill("Ann")
        page.get_by_role("button", name="Join").click()
        notice = page.locator('.notice.error[data-code="111"]')
        expect(notice).to_be_visible(timeout=15000)
        page.clock.run_for(60_000)
        expect(notice).to_have_count(0, timeout=15000)
        page.get_by_role("button", name="Join").click()
        expect(notice).to_be_visible(timeout=15000)
        notice.get_by_role("button", name="Dismiss").click()
        expect(notice).to_have_count(0)
    finally:
        context.close()


@pytest.mark.parametrize(("locale", "words"), [("en-US", "microphone could not be started"), ("zh-CN", "麦克风无法启动")])
def test_warnings_are_sentences_not_raw_codes(browser, web_server, locale, words):
    """Warning 1016 (the SDK stopped sending a failed microphone) reads as a sentence."""
    context, page, _ = _open(browser, f"{web_server.url}/room/5551234", locale=locale)
    try:
        page.evaluate("tkroomPage.room._notice('warn', 1016, undefined, {kind: 'audio'})")
        notice = page.locator('.notice.warn[data-code="1016"]')
        expect(notice).to_be_visible()
        text = notice.inner_text()
        assert words in text and "status 1016" not in text
        if locale == "zh-CN":
            assert "Failed to obtain" not in text  # no English detail line
    finally:
        context.close()


def test_every_code_a_page_can_meet_is_explained_in_both_languages(browser, web_server):
    """The ClientAPI answers (checkroom, getconfig, ...), the signalling and media notices and
    the SDK's warnings: each has an English and a Chinese sentence on the page."""
    from tkroom import codes
    from tkroom.webapi.registry import METHODS

    room = sorted({c for (api, _), m in METHODS.items() if api == "ClientAPI" for c, _ in m.codes}
                  | {c.code for c in codes.CODES if c.namespace == "error_notice" and c.code not in (0, 101)})
    warn = sorted(c.code for c in codes.CODES if c.namespace == "warning_notice")
    context, page, _ = _open(browser, f"{web_server.url}/room/5551234")
    try:
        missing = page.evaluate(
            """async ([room, warn]) => {
              const i = await import('/classroom/i18n.js');
              const keys = [...room.map((c) => `room:${c}`), ...warn.map((c) => `warn:${c}`)];
              return { en: keys.filter((k) => !i.codesEn[k]), zh: keys.filter((k) => !i.codesZh[k]) };
            }""",
            [room, warn],
        )
        assert missing == {"en": [], "zh": []}
    finally:
        context.close()
