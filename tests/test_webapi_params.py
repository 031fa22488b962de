"""Parameters arrive the same whether sent as form, query string or path segments."""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from tkroom.webapi.params import parse

names = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)
values = st.text(st.characters(codec="utf-8", exclude_characters="/\x00", exclude_categories=("Cs",)),
                 max_size=20)


def _request(method: str, path: str, query: str, body: bytes, ctype: str) -> Request:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "headers": [(b"content-type", ctype.encode())]}
    return Request(scope, receive)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(names, values, min_size=1, max_size=6))
def test_form_query_and_path_agree(params: dict[str, str]) -> None:
    form = urlencode(params).encode()
    as_form = asyncio.run(parse(_request("POST", "/x", "", form, "application/x-www-form-urlencoded"), ""))
    as_query = asyncio.run(parse(_request("GET", "/x", urlencode(params), b"", ""), ""))
    rest = "/".join(f"{quote(k)}/{quote(v, safe='')}" for k, v in params.items())
    as_path = asyncio.run(parse(_request("GET", "/x", "", b"", ""), rest))
    assert as_form.values == as_query.values
    assert {k: v for k, v in as_form.values.items() if v != [""]} == {
        k: v for k, v in as_path.values.items() if v != [""]}


def test_php_arrays_and_precedence() -> None:
    body = urlencode([("fileidarr[]", "1"), ("fileidarr[]", "2"), ("ids[0]", "7"), ("serial", "form")]).encode()
    p = asyncio.run(parse(_request("POST", "/x", "serial=query", body, "application/x-www-form-urlencoded"),
                          "serial/path"))
    assert p.list("fileidarr") == ["1", "2"] and p.list("ids") == ["7"]
    assert p.get("serial") == "form", "form over query over path"
    assert asyncio.run(parse(_request("GET", "/x", "a=%00b%00", b"", ""), "")).get("a") == "b"


def test_json_body() -> None:
    body = b'{"serial": "123", "fileidarr": [1, 2], "flag": true, "nested": {"x": 1}}'
    p = asyncio.run(parse(_request("POST", "/x", "", body, "application/json"), ""))
    assert p.get("serial") == "123" and p.list("fileidarr") == ["1", "2"] and p.get("flag") == "1"
    assert p.get("nested") is None
    from tkroom.errors import CodeError

    for bad in (b"{not json", b"[1, 2]"):
        try:
            asyncio.run(parse(_request("POST", "/x", "", bad, "application/json"), ""))
        except CodeError as e:
            assert e.code == 4105
        else:
            raise AssertionError("malformed JSON accepted")


def _through_limit(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[list[dict], int]:
    """Drive ``BodyLimit`` (1 KiB, code 4105) around an app that parses the form: what it sent,
    and how many chunks it asked for."""
    from starlette.responses import JSONResponse

    from tkroom.edge import BodyLimit

    async def app(scope, receive, send) -> None:
        p = await parse(Request(scope, receive), "")
        await JSONResponse({"result": 0, "a": p.get("a")})(scope, receive, send)

    asked, sent = 0, []

    async def receive() -> dict[str, object]:
        nonlocal asked
        asked += 1
        if asked > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "raw_path": b"/x", "query_string": b"",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded"), *headers]}
    asyncio.run(BodyLimit(app, lambda path: (1024, 4105))(scope, receive, send))
    return sent, asked


def test_oversized_body_is_refused_while_it_streams() -> None:
    import json

    sent, asked = _through_limit([(b"content-length", str(2 << 20).encode())], [b"a=1"])
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["result"] == 4105 and asked == 0
    sent, asked = _through_limit([], [b"a=", *[b"x" * 300] * 100])  # chunked: no length announced
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["result"] == 4105
    assert asked == 5, "nothing is read past the chunk that passes the limit"
    sent, _ = _through_limit([], [b"a=", b"y" * 1000])
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"])["a"] == "y" * 1000
