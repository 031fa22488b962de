"""Downloads of user files and recordings, and the chat a room kept, through a real node.

Download paths are guessable in shape, so any path must answer 404 with 4105 (never a 500);
uploaded files must never run as active content on the node's origin.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client_node import running_node
from tkroom.client import Room
from tkroom.webapi.params import MAX_ID

SEGMENT = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(min_size=1, max_size=80),
    st.sampled_from(["99999999999999999999", str(MAX_ID), str(MAX_ID + 1), "0", "-1", "1e3", "٣",
                     "%00", "x" * 65, "x" * 300, "é", "\x00", " 1", "1 "]),
)


def _not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, (r.request.url, r.status_code, r.text[:200])
    assert r.json()["result"] == 4105


def test_huge_file_id_is_not_found(node):
    _not_found(httpx.get(f"{node.url}/download/file/99999999999999999999/x"))
    _not_found(httpx.get(f"{node.url}/download/record/{'9' * 100}/x"))
    _not_found(httpx.get(f"{node.url}/download/file/1/%C3%A9"))  # a non-ASCII token
    # a newline in the path: no slash redirect (307), no plain-text 404
    _not_found(httpx.get(f"{node.url}/download/file/0/%0A%2F"))
    _not_found(httpx.get(f"{node.url}/download/file/1/a%0Ab/c%0A"))


@given(kind=st.sampled_from(["file", "record"]), ident=SEGMENT, token=SEGMENT)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_download_path_is_404_4105(node, kind: str, ident: str, token: str) -> None:
    r = httpx.get(f"{node.url}/download/{kind}/{quote(ident, safe='')}/{quote(token, safe='')}", timeout=30)
    _not_found(r)


ACTIVE = [
    ("page.html", b"<html><script>parent.document.title='owned'</script></html>", "text/html"),
    ("pic.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
    ("doc.xhtml", b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>', "text/html"),
    ("data.xml", b"<?xml version='1.0'?><a/>", "text/xml"),
    ("code.js", b"alert(1)", "text/javascript"),
    ("noext", b"<html><script>alert(1)</script></html>", "application/octet-stream"),
]


@pytest.mark.parametrize(("name", "content", "ctype"), ACTIVE)
def test_uploaded_active_content_cannot_run_on_the_origin(api, name: str, content: bytes, ctype: str):
    fid = api("uploadfile", files={"filedata": (name, content, ctype)})["fileid"]
    (f,) = [f for f in api("getcompanyfiles")["companyfile"] if f["fileid"] == fid]
    r = httpx.get(f["downloadpath"])
    assert r.status_code == 200 and r.content == content
    h = r.headers
    assert h["x-content-type-options"] == "nosniff"
    csp = h["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    mime = h["content-type"].split(";")[0].strip()
    assert mime not in ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
                        "application/xml", "text/javascript", "application/javascript")
    assert h["content-disposition"].startswith("attachment")


def test_pdf_and_images_still_show_inline_but_sandboxed(api):
    for name, content, mime in [("a.pdf", b"%PDF-1.4 x", "application/pdf"), ("b.png", b"\x89PNG\r\n", "image/png")]:
        fid = api("uploadfile", files={"filedata": (name, content, mime)})["fileid"]
        (f,) = [f for f in api("getcompanyfiles")["companyfile"] if f["fileid"] == fid]
        r = httpx.get(f["downloadpath"])
        assert r.headers["content-type"] == mime
        assert r.headers["content-disposition"].startswith("inline")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]


async def test_chat_sent_through_signalling_is_listed(tmp_path):
    async with running_node(tmp_path) as env:
        before = int(time.time())
        rooms = []
        for nick, uid, pwd in [("Teacher", "t1", "teach1"), ("Ann", "s1", "stud1")]:
            room = Room()
            room.init("app")
            await room.joinroom("127.0.0.1", env.port, nick, uid, {"serial": env.serial, "password": pwd})
            rooms.append(room)
        teacher, ann = rooms
        await teacher.sendMessage("hello class")
        await ann.sendMessage("psst", toID="t1")
        pub = (await env.webapi("getroomchat", serial=env.serial))["chatlist"]
        assert [(m["fromid"], m["message"]) for m in pub] == [("t1", "hello class")]
        assert before <= pub[0]["ts"] <= time.time() + 1, "ts is Unix seconds, like the window"
        priv = (await env.webapi("getroomchat", serial=env.serial, chattype=2,
                                 starttime=before - 5, endtime=int(time.time()) + 5))["chatlist"]
        assert [(m["fromid"], m["toid"], m["message"]) for m in priv] == [("s1", "t1", "psst")]
        async with httpx.AsyncClient(base_url=env.node.base_url) as http:
            later = (await http.post("/WebAPI/getroomchat", data={
                "key": env.key, "serial": env.serial, "starttime": int(time.time()) + 100})).json()
        assert later["result"] == 4105
        for room in rooms:
            await room.leaveroom()
