"""The node's edge under anonymous abuse, against ``tkroom serve`` as a separate process (so its
memory can be read from /proc): oversized and chunked bodies, slow headers, sockets that never
join, and one address opening too many connections."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from webapi_nodes import Served, tkroom, wait_for

UPLOAD_LIMIT = 40 << 20
CAP = 8


def _serve(tmp: Path, **env: str) -> tuple[Served, str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TKROOM_EMBEDDED_JANUS", "0")
        for k, v in env.items():
            mp.setenv(k, v)
        ent = tkroom("admin", "enterprise", "create", "Edge School", "--data", str(tmp))
        assert ent.returncode == 0, ent.stderr
        return Served("--data", str(tmp)), json.loads(ent.stdout)["authkey"]


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, Path]]:
    """A node with a small upload limit and connection cap, and patient timeouts."""
    tmp = tmp_path_factory.mktemp("capped")
    node, key = _serve(tmp, TKROOM_MAX_UPLOAD=str(UPLOAD_LIMIT), TKROOM_MAX_CONNECTIONS_PER_ADDRESS=str(CAP),
                       TKROOM_HEADER_TIMEOUT="120", TKROOM_JOIN_TIMEOUT="120")
    yield node, key, tmp
    node.stop()


@pytest.fixture(scope="module")
def hasty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A node with short header and join deadlines."""
    node, _ = _serve(tmp_path_factory.mktemp("hasty"), TKROOM_HEADER_TIMEOUT="1.5", TKROOM_JOIN_TIMEOUT="1.5")
    yield node
    node.stop()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def stream_post(port: int, path: str, ctype: str, head: bytes, filler: bytes, total: int,
                chunked: bool = True) -> tuple[bytes, int]:
    """POST ``head`` then ``filler`` repeated up to ``total`` bytes (chunked, or announced by
    Content-Length), reading while sending; stops sending once the server answers or closes.
    Answers (what the server sent, body bytes sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n{framing}\r\n\r\n".encode())
    pieces = [head] + [filler] * ((total - len(head)) // len(filler))
    sent, got, deadline = 0, b"", time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            r, w, _ = select.select([s], [s] if pieces and not got else [], [], 1.0)
            if r:
                try:
                    data = s.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                got += data
            elif w:
                p = pieces.pop(0)
                frame = b"%x\r\n%s\r\n" % (len(p), p) + (b"0\r\n\r\n" if not pieces else b"") if chunked else p
                try:
                    s.sendall(frame)
                except (BrokenPipeError, ConnectionResetError):
                    pieces = []
                    continue
                sent += len(p)
    finally:
        s.close()
    return got, sent


def answer_of(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


BODIES = {
    "form": ("application/x-www-form-urlencoded", b"serial="),
    "json": ("application/json", b'{"serial": "'),
    "multipart": ("multipart/form-data; boundary=b0", b'--b0\r\nContent-Disposition: form-data; name="serial"; '
                  b'filename="s"\r\n\r\n'),
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_chunked_oversized_bodies_are_cut_while_they_stream(capped, kind: str):
    node, key, _ = capped
    ctype, head = BODIES[kind]
    assert httpx.post(f"{node.url}/ClientAPI/getconfig", data={"serial": "1"}).json()["result"] == 4007
    before = rss_kib(node.proc.pid)
    total = 48 << 20
    for _ in range(3):
        got, sent = stream_post(node.port, "/ClientAPI/getconfig", ctype, head, b"9" * (256 << 10), total)
        status, body = answer_of(got)
        assert (status, body["result"]) == (413, 4105), body
        assert "larger than" in body["msg"]
        assert sent < total
    grown = rss_kib(node.proc.pid) - before
    assert grown < 24 << 10, f"the node grew by {grown} KiB"
    # a body announcing its size is refused unread
    got, sent = stream_post(node.port, "/WebAPI/roomcreate", "application/x-www-form-urlencoded",
                            b"k=", b"x" * (256 << 10), 16 << 20, chunked=False)
    status, body = answer_of(got)
    assert (status, body["result"]) == (413, 4105), body
    assert sent < 16 << 20
    assert httpx.post(f"{node.url}/ClientAPI/getconfig", data={"serial": "1"}).json()["result"] == 4007


def test_uploads_stop_at_the_file_limit(capped):
    node, key, tmp = capped
    files = tmp / "files"
    before = rss_kib(node.proc.pid)
    ok = httpx.post(f"{node.url}/WebAPI/uploadfile", data={"key": key}, timeout=120,
                    files={"filedata": ("a.pdf", b"%PDF" + b"a" * (UPLOAD_LIMIT - 10), "application/pdf")})
    assert ok.json()["result"] == 0
    grown = rss_kib(node.proc.pid) - before
    assert grown < 16 << 10, f"a {UPLOAD_LIMIT >> 20} MiB upload grew the node by {grown} KiB: held in memory"
    kept = sorted(p.name for p in files.rglob("*") if p.is_file())
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n{key}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"filedata\"; filename=\"big.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode()
    got, sent = stream_post(node.port, "/WebAPI/uploadfile", f"multipart/form-data; boundary={boundary}",
                            head, b"z" * (256 << 10), 96 << 20)
    status, body = answer_of(got)
    assert (status, body["result"]) == (413, 5206), body
    assert sent < 96 << 20
    got, _ = stream_post(node.port, "/WebAPI/uploadfile", f"multipart/form-data; boundary={boundary}",
                         head, b"z" * (256 << 10), 96 << 20, chunked=False)
    status, body = answer_of(got)
    assert (status, body["result"]) == (413, 5206), body
    assert sorted(p.name for p in files.rglob("*") if p.is_file()) == kept, "nothing of a refused file stays"


def test_slow_headers_are_cut(hasty):
    s = socket.create_connection(("127.0.0.1", hasty.port), timeout=60)
    s.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n")
    got, deadline = b"", time.monotonic() + 60
    s.settimeout(0.3)
    try:
        while time.monotonic() < deadline:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                data = s.recv(4096)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not data:
                break
            got += data
    finally:
        s.close()
    assert time.monotonic() < deadline, "the slow client was never cut off"
    assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:200]
    # a keep-alive connection's next request gets the same deadline
    with socket.create_connection(("127.0.0.1", hasty.port), timeout=60) as k:
        k.sendall(b"GET /download/file/1/x HTTP/1.1\r\nHost: x\r\n\r\nGET /openapi.json HTTP/1.1\r\n")
        first = b""
        while True:
            data = k.recv(65536)
            if not data:
                break
            first += data
        assert first.startswith(b"HTTP/1.1 404") and b"408" in first.split(b"\r\n\r\n", 1)[1]
    assert httpx.get(f"{hasty.url}/openapi.json").status_code == 200


async def test_a_socket_that_never_joins_is_closed(hasty):
    url = f"ws://127.0.0.1:{hasty.signal_port}/"
    async with connect(url) as idle:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(idle.recv(), 60)
    assert closed.value.rcvd.code == 4003 and "not joined within 1.5 s" in closed.value.rcvd.reason


def test_one_address_holds_at_most_the_cap_of_http_connections(capped):
    node, _, _ = capped
    held = [socket.create_connection(("127.0.0.1", node.port), timeout=60) for _ in range(CAP)]
    try:
        for s in held:
            s.sendall(b"GET /openapi.json HTTP/1.1\r\n")  # headers never finished
        over = httpx.get(f"{node.url}/openapi.json", headers={"connection": "close"})
        assert over.status_code == 503
        assert over.json()["result"] == 2602 and "Too many connections" in over.json()["msg"]
        held[0].sendall(b"Host: x\r\nConnection: close\r\n\r\n")  # a held one still works
        assert held[0].recv(64).startswith(b"HTTP/1.1 200")
        held.pop(0).close()
        wait_for(lambda: httpx.get(f"{node.url}/openapi.json").status_code == 200, 30, what="a free slot")
    finally:
        for s in held:
            s.close()
    wait_for(lambda: all(httpx.get(f"{node.url}/openapi.json").status_code == 200 for _ in range(3)), 30,
             what="slots freed")


async def test_one_address_holds_at_most_the_cap_of_sockets(capped):
    node, _, _ = capped
    url = f"ws://127.0.0.1:{node.signal_port}/"
    held = [await connect(url) for _ in range(CAP)]
    try:
        async with connect(url) as over:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(over.recv(), 60)
        assert closed.value.rcvd.code == 4004 and "Too many connections" in closed.value.rcvd.reason
        await held[0].send(json.dumps({"id": 1, "ev": "joinRoom", "data": {}}))
        ack = json.loads(await asyncio.wait_for(held[0].recv(), 60))
        assert ack["ack"] == 1 and ack["code"] == 63  # a held socket is still served
        await held.pop(0).close()

        async def admitted() -> bool:
            async with connect(url) as ws:
                await ws.send(json.dumps({"id": 2, "ev": "getRoomUserNum"}))
                try:
                    return json.loads(await asyncio.wait_for(ws.recv(), 10))["code"] == 2508
                except ConnectionClosed:
                    return False

        deadline = time.monotonic() + 30
        while not await admitted():
            assert time.monotonic() < deadline, "a closed socket never freed its slot"
            await asyncio.sleep(0.1)
    finally:
        for ws in held:
            await ws.close()


def test_settings_come_from_the_environment(monkeypatch):
    from tkroom.config import Settings

    for k, v in {"TKROOM_MAX_UPLOAD": "1234", "TKROOM_HEADER_TIMEOUT": "2.5", "TKROOM_JOIN_TIMEOUT": "3",
                 "TKROOM_MAX_CONNECTIONS_PER_ADDRESS": "0"}.items():
        monkeypatch.setenv(k, v)
    s = Settings.from_env()
    assert (s.max_upload_bytes, s.http_header_timeout_s, s.join_timeout_s, s.max_connections_per_address) == \
        (1234, 2.5, 3.0, 0)
