"""The README's promise end to end: ``tkroom admin`` + ``tkroom serve`` with the embedded defaults,
then a teacher and a student in one class through the Python SDK, and the classroom page."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx

from tkroom.client import Room
from webapi_nodes import SRC, Served, free_port, tkroom


async def _class(port: int, serial: str) -> tuple[dict, int]:
    teacher, student = Room(), Room()
    teacher.init("readme")
    student.init("readme")
    heard: asyncio.Future = asyncio.get_running_loop().create_future()
    student.on("room-text-message", lambda ev: heard.done() or heard.set_result(ev.message))
    await teacher.joinroom("127.0.0.1", port, "Ms T", "t1", {"serial": serial, "password": "teach1"})
    await student.joinroom("127.0.0.1", port, "Ann", "s1", {"serial": serial, "password": "learn1"})
    try:
        await teacher.pubMsg({"name": "ClassBegin", "id": "ClassBegin", "toID": "__all",
                              "save": True, "data": {}})
        await teacher.sendMessage("good morning")
        said = await asyncio.wait_for(heard, 10)
        num = await student.getRoomUserNum()
    finally:
        await student.leaveroom()
        await teacher.leaveroom()
    return said, num


def test_serve_with_embedded_defaults_runs_a_class(tmp_path):
    ent = tkroom("admin", "enterprise", "create", "README School", "--data", str(tmp_path))
    assert ent.returncode == 0, ent.stderr
    key = json.loads(ent.stdout)["authkey"]
    node = Served("--data", str(tmp_path))
    try:
        now = int(time.time())
        created = httpx.post(f"{node.url}/WebAPI/roomcreate", data=dict(
            key=key, roomname="Algebra", roomtype=3, starttime=now, endtime=now + 3600,
            chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1",
            passwordrequired=1, confuserpwd="learn1")).json()
        assert created["result"] == 0, created
        serial = created["serial"]
        said, num = asyncio.run(_class(node.port, serial))
        assert said["message"] == "good morning" and said["userid"] == "t1"
        assert num == 2
        page = httpx.get(f"{node.url}/room/{serial}")
        assert page.status_code == 200 and "classroom.js" in page.text
        sdk = httpx.get(f"{node.url}/sdk/tkroom.js")
        assert sdk.status_code == 200 and "joinroom" in sdk.text
    finally:
        node.stop()


def test_serve_says_which_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "tkroom", "serve", "--port", str(free_port()), "--signal-port",
             str(port), "--data", str(tmp_path)],
            env={**os.environ, "PYTHONPATH": SRC, "TKROOM_EMBEDDED_JANUS": "0"},
            capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert f"{port}" in out.stderr and "address already in use" in out.stderr
    assert "Traceback" not in out.stderr


def test_serve_says_when_redis_is_unreachable(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tkroom", "serve", "--port", str(free_port()), "--signal-port",
         str(free_port()), "--data", str(tmp_path), "--redis", f"redis://127.0.0.1:{free_port()}/0"],
        env={**os.environ, "PYTHONPATH": SRC, "TKROOM_EMBEDDED_JANUS": "0"},
        capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert "connecting to 127.0.0.1" in out.stderr and "Traceback" not in out.stderr


def test_getconfig_hands_out_the_configured_public_signalling_urls(tmp_path):
    """Behind a TLS proxy or a load balancer clients must get the public wss:// address, and in a
    cluster every node's, so the SDK can fail over without configuration of its own."""
    urls = ["wss://class.example.org/signal", "wss://class2.example.org/signal"]
    ent = tkroom("admin", "enterprise", "create", "Proxy School", "--data", str(tmp_path))
    key = json.loads(ent.stdout)["authkey"]
    node = Served("--data", str(tmp_path), "--signal-url", urls[0], "--signal-url", urls[1])
    try:
        now = int(time.time())
        serial = httpx.post(f"{node.url}/WebAPI/roomcreate", data=dict(
            key=key, roomname="Geo", roomtype=3, starttime=now, endtime=now + 3600,
            chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1",
            passwordrequired=0)).json()["serial"]
        cfg = httpx.post(f"{node.url}/ClientAPI/getconfig", data={"serial": serial}).json()
        assert cfg["signal"] == {"url": urls[0], "urls": urls}
    finally:
        node.stop()


def test_serve_logs_json_lines_with_an_access_log(tmp_path):
    """``--log-format json``: every line one object (time, level, logger, message, extras), the
    start line among them, and one access line a request, without the password it carried."""
    ent = tkroom("admin", "enterprise", "create", "Log School", "--data", str(tmp_path))
    key = json.loads(ent.stdout)["authkey"]
    node = Served("--data", str(tmp_path), "--log-format", "json")
    try:
        now = int(time.time())
        created = httpx.post(f"{node.url}/WebAPI/roomcreate", data=dict(
            key=key, roomname="Logs", roomtype=3, starttime=now, endtime=now + 3600,
            chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1",
            passwordrequired=1, confuserpwd="learn1")).json()
        serial = created["serial"]
        r = httpx.post(f"{node.url}/ClientAPI/checkroom?password=learn1", data={"serial": serial, "nickname": "A"})
        assert r.json()["roomrole"] == 2
    finally:
        node.stop()
    assert node.proc.stderr is not None
    lines = node.proc.stderr.read().decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert all(r["time"].endswith("Z") and "T" in r["time"] for r in records)
    assert any(r["logger"] == "tkroom.node" and r["message"].startswith("tkroom node on ") for r in records)
    access = [r for r in records if r["logger"] == "tkroom.access"]
    assert [(r["method"], r["path"], r["status"]) for r in access] == [
        ("POST", "/WebAPI/roomcreate", 200), ("POST", "/ClientAPI/checkroom?password=***", 200)]
    assert all(r["client"].startswith("127.0.0.1:") and r["duration_ms"] > 0 and r["level"] == "INFO"
               for r in access)
    for secret in (key, "teach1", "learn1"):
        assert secret not in "\n".join(lines)


def test_serve_refuses_an_unknown_log_format(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tkroom", "serve", "--port", str(free_port()), "--data", str(tmp_path)],
        env={**os.environ, "PYTHONPATH": SRC, "TKROOM_LOG_FORMAT": "xml"},
        capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert out.stderr.strip() == "tkroom: TKROOM_LOG_FORMAT: 'xml': Input should be 'text' or 'json'"
