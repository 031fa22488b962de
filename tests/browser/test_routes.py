"""The node serves tkroom.js and the classroom page from the package, and never a 500."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from tkroom.web import STATIC_DIR, web_routes


def _client() -> TestClient:
    return TestClient(Starlette(routes=web_routes()))


def test_sdk_is_served_as_javascript_from_the_package():
    r = _client().get("/sdk/tkroom.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.content == (STATIC_DIR / "sdk" / "tkroom.js").read_bytes()
    assert "export" in r.text and "joinroom" in r.text


def test_room_page_has_join_form_and_a_strict_policy():
    r = _client().get("/room/1234567")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'id="join-form"' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "object-src 'self'" in csp


def test_room_page_refuses_a_malformed_serial_with_4007():
    r = _client().get("/room/bad%21serial")
    assert r.status_code == 404
    assert r.json()["result"] == 4007


def test_page_assets_are_served():
    c = _client()
    for name, kind in [("classroom.js", "javascript"), ("classroom.css", "css"), ("i18n.js", "javascript")]:
        r = c.get(f"/classroom/{name}")
        assert r.status_code == 200, name
        assert kind in r.headers["content-type"]
    assert c.get("/classroom/nothing-here.js").status_code == 404
