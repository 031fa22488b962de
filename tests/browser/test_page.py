"""The classroom page in Debian's Chromium: join form, languages, phone layout, accessibility."""

from __future__ import annotations

import json

import pytest

from browser.conftest import AXE_JS, need_node_modules

pytestmark = pytest.mark.browser


def _open(browser, url: str, **ctx):
    context = browser.new_context(**ctx)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("window.tkroomPage && window.tkroomPage.ready === true", timeout=15000)
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
        assert page.locator("#class-timer").inner_text() == "尚未上课"
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
