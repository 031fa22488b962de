"""What an operator and an SDK user install: the wheel, in fresh virtual environments.

The wheel is built from this tree, installed for real (pip resolves the dependencies from its
cache and index, not from the test's own environment) and run from outside the source tree:
``tkroom[server]`` must serve the classroom page, ``tkroom.js`` and the WebAPI with the schema
made by the migrations it carries; plain ``tkroom`` must be the Python SDK without the server
stack, and still join a class.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tkroom import codes
from tkroom.client import Room
from webapi_nodes import free_port, port_open, wait_for

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "tkroom"
# The node's stack (the `server` extra), which the SDK alone must not bring.
SERVER_STACK = {re.split(r"[\[=<>~! ]", req, maxsplit=1)[0].lower()
                for req in tomllib.loads((ROOT / "pyproject.toml").read_text())
                ["project"]["optional-dependencies"]["server"]}


def _env() -> dict[str, str]:
    """The environment without anything that would let a venv see this tree or the shared venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["TKROOM_EMBEDDED_JANUS"] = "0"
    return env


def _run(*cmd: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT, cwd=out)
    assert built.returncode == 0, built.stderr
    (whl,) = out.glob("tkroom-*.whl")
    return whl


def _venv(where: Path, requirement: str) -> Path:
    """A fresh venv (no system site-packages) with ``requirement`` installed by pip."""
    venv.create(where, with_pip=True, clear=True)
    py = where / "bin" / "python"
    done = _run(py, "-m", "pip", "install", "-q", "--no-compile", requirement, cwd=where)
    assert done.returncode == 0, done.stderr
    return py


@pytest.fixture(scope="module")
def server_py(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("venv-server"), f"{wheel}[server]")


@pytest.fixture(scope="module")
def client_py(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("venv-client"), str(wheel))


class WheelNode:
    """``tkroom serve`` of a venv, started in an empty folder outside the source tree."""

    def __init__(self, py: Path, data: Path):
        self.tkroom = py.parent / "tkroom"
        self.data = data
        made = _run(self.tkroom, "admin", "enterprise", "create", "Wheel School", "--data", data,
                    cwd=data.parent, timeout=120)
        assert made.returncode == 0, made.stderr
        self.key = json.loads(made.stdout)["authkey"]
        self.port, self.signal_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [str(self.tkroom), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--signal-port", str(self.signal_port), "--data", str(data)],
            cwd=data.parent, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: port_open("127.0.0.1", self.port) or self.proc.poll() is not None, 120,
                 what="tkroom serve from the wheel")
        assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
        self.url = f"http://127.0.0.1:{self.port}"

    def room(self) -> str:
        now = int(time.time())
        made = httpx.post(f"{self.url}/WebAPI/roomcreate", data=dict(
            key=self.key, roomname="Packaged", roomtype=3, starttime=now, endtime=now + 3600,
            chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1",
            passwordrequired=1, confuserpwd="learn1"), timeout=30).json()
        assert made["result"] == 0, made
        return str(made["serial"])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture(scope="module")
def node(server_py: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelNode]:
    n = WheelNode(server_py, tmp_path_factory.mktemp("wheel-node") / "data")
    yield n
    n.stop()


def test_the_wheel_carries_the_pages_the_sdk_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for sub in ("web/static", "store/migrations"):
        in_tree = {f"tkroom/{p.relative_to(PKG).as_posix()}" for p in (PKG / sub).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts}
        assert in_tree and in_tree <= names, sorted(in_tree - names)
    assert "tkroom/web/static/sdk/tkroom.js" in names
    assert "tkroom/web/static/classroom/index.html" in names
    assert "tkroom/store/migrations/versions/0001_initial_schema.py" in names


def test_a_node_from_the_wheel_serves_the_classroom_sdk_and_webapi(server_py: Path,
                                                                   node: WheelNode) -> None:
    where = _run(server_py, "-c", "import tkroom; print(tkroom.__file__)", cwd=node.data.parent)
    assert Path(where.stdout.strip()).is_relative_to(server_py.parents[1]), where
    serial = node.room()
    page = httpx.get(f"{node.url}/room/{serial}", timeout=30)
    assert page.status_code == 200 and "classroom.js" in page.text
    script = httpx.get(f"{node.url}/classroom/classroom.js", timeout=30)
    assert script.content == (PKG / "web/static/classroom/classroom.js").read_bytes()
    sdk = httpx.get(f"{node.url}/sdk/tkroom.js", timeout=30)
    assert sdk.status_code == 200
    assert sdk.content == (PKG / "web/static/sdk/tkroom.js").read_bytes()
    info = httpx.post(f"{node.url}/ClientAPI/getconfig", data={"serial": serial}, timeout=30).json()
    assert info["result"] == 0 and info["signal"]["url"].endswith(f":{node.signal_port}/signal")
    wrong = httpx.post(f"{node.url}/WebAPI/getroom", data={"key": "x" * 16, "serial": serial},
                       timeout=30)
    assert wrong.json()["result"] == codes.WebAPI.AUTH_INCORRECT


def test_the_server_venv_stops_cleanly(server_py: Path, tmp_path: Path) -> None:
    n = WheelNode(server_py, tmp_path / "data")
    assert n.stop() == 0, n.proc.stderr.read().decode() if n.proc.stderr else ""


def test_the_sdk_alone_brings_no_server_stack(client_py: Path, tmp_path: Path) -> None:
    listed = _run(client_py, "-m", "pip", "list", "--format", "json", cwd=tmp_path)
    installed = {d["name"].lower() for d in json.loads(listed.stdout)}
    assert {"tkroom", "websockets", "httpx"} <= installed
    assert not installed & SERVER_STACK, installed & SERVER_STACK
    served = _run(client_py.parent / "tkroom", "serve", "--port", str(free_port()), cwd=tmp_path)
    assert served.returncode == 2
    assert "pip install 'tkroom[server]'" in served.stderr and "Traceback" not in served.stderr


CLIENT_SCRIPT = """
import asyncio, json, sys
from tkroom.client import Room

async def main():
    room = Room()
    room.init("packaged")
    await room.joinroom("127.0.0.1", int(sys.argv[1]), "Ann", "ann-1",
                        {"serial": sys.argv[2], "password": "learn1"})
    users = sorted(room.getUsers())
    await room.sendMessage("hello from the SDK alone")
    await room.leaveroom()
    print(json.dumps({"users": users, "modules": sorted(sys.modules)}))

asyncio.run(main())
"""


def test_the_sdk_alone_joins_a_class(client_py: Path, node: WheelNode, tmp_path: Path) -> None:
    serial = node.room()

    async def scenario() -> tuple[dict, dict]:
        teacher = Room()
        teacher.init("packaged")
        heard: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        teacher.on("room-text-message",
                   lambda ev: heard.done() or heard.set_result(dict(ev.message)))
        await teacher.joinroom("127.0.0.1", node.port, "Ms T", "t1",
                               {"serial": serial, "password": "teach1"})
        try:
            proc = await asyncio.create_subprocess_exec(
                str(client_py), "-c", CLIENT_SCRIPT, str(node.port), serial, cwd=tmp_path,
                env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()
            said = await asyncio.wait_for(heard, 30)
        finally:
            await teacher.leaveroom()
        return json.loads(out), said

    result, said = asyncio.run(scenario())
    assert result["users"] == ["ann-1", "t1"]
    assert said["message"] == "hello from the SDK alone" and said["userid"] == "ann-1"
    tops = {m.split(".")[0] for m in result["modules"]}
    assert not tops & {"starlette", "uvicorn", "sqlalchemy", "alembic", "redis", "pydantic"}
    assert not {"tkroom.config", "tkroom.node", "tkroom.webapi"} & set(result["modules"])


def _compose_config(tmp_path: Path) -> dict:
    """``docker compose config`` (or docker-compose v1): the file validated and interpolated."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True, check=False) \
            if shutil.which(cmd[0]) else None
        if probe is not None and probe.returncode == 0:
            break
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {**_env(), "TKROOM_DB_PASSWORD": "s3cret"}
    out = subprocess.run([*cmd, "-f", str(ROOT / "compose.yaml"), "config"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    unset = subprocess.run([*cmd, "-f", str(ROOT / "compose.yaml"), "config"], cwd=tmp_path,
                           env=_env(), capture_output=True, text=True, timeout=60, check=False)
    assert unset.returncode != 0 and "TKROOM_DB_PASSWORD" in unset.stderr
    return yaml.safe_load(out.stdout)


def test_compose_runs_the_node_on_postgres_and_redis_once_they_are_healthy(tmp_path: Path) -> None:
    cfg = _compose_config(tmp_path)
    node = cfg["services"]["node"]
    assert node["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                  "redis": {"condition": "service_healthy"}}
    assert all("healthcheck" in cfg["services"][s] for s in ("postgres", "redis", "node"))
    assert "/readyz" in " ".join(node["healthcheck"]["test"])
    env = node["environment"]
    assert env["TKROOM_DATABASE_URL"] == "postgresql+asyncpg://tkroom:s3cret@postgres:5432/tkroom"
    assert env["TKROOM_REDIS_URL"] == "redis://redis:6379/0"
    assert "--appendonly" in cfg["services"]["redis"]["command"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    data = re.search(r'^VOLUME \["([^"]+)"\]', dockerfile, re.M)
    # v1 prints "data:/var/lib/tkroom:rw", v2 {"source": "data", "target": ...}
    mounts = {(v["source"], v["target"]) if isinstance(v, dict) else tuple(v.split(":")[:2])
              for v in node["volumes"]}
    assert data and ("data", data.group(1)) in mounts and "data" in cfg["volumes"]
    assert f"TKROOM_DATA={data.group(1)}" in dockerfile
    published = {str(p.get("target") if isinstance(p, dict) else p) for p in node["ports"]}
    assert {"8080", "8081"} <= {p.split(":")[-1] for p in published}
    exposed = re.search(r"^EXPOSE (.+)$", dockerfile, re.M)
    assert exposed and "8080/tcp" in exposed.group(1) and "8081/tcp" in exposed.group(1)
    rtp = re.search(r"TKROOM_RTP_PORTS=(\d+)-(\d+)", dockerfile)
    assert rtp and f"{rtp.group(1)}-{rtp.group(2)}/udp" in exposed.group(1)
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in {"root", "0"}


def test_the_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "packaging" / "tkroom.service").read_text()
    # verify checks that ExecStart's program exists: point it at this venv's command.
    here = tmp_path / "tkroom.service"
    here.write_text(unit.replace("/opt/tkroom/bin/tkroom", str(Path(sys.executable).parent / "tkroom")))
    verified = subprocess.run(["systemd-analyze", "verify", str(here)], capture_output=True,
                              text=True, timeout=60, check=False)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    scored = subprocess.run(["systemd-analyze", "security", "--offline=true", str(here)],
                            capture_output=True, text=True, timeout=60, check=False)
    level = re.search(r"Overall exposure level for tkroom.service: ([\d.]+) (\w+)", scored.stdout)
    assert level, scored.stdout + scored.stderr
    assert float(level.group(1)) <= 2.5 and level.group(2) == "OK"
    for line in ("CapabilityBoundingSet=\n", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "PrivateTmp=yes", "ReadWritePaths=/var/lib/tkroom", "Environment=TKROOM_DATA=/var/lib/tkroom"):
        assert line in unit


def _need_image() -> None:
    """The image built beforehand (``docker build -t tkroom:0.1.0 .``): building it downloads
    hundreds of megabytes, too much for the suite."""
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    if subprocess.run(["docker", "image", "inspect", "tkroom:0.1.0"], capture_output=True,
                      timeout=60, check=False).returncode != 0:
        pytest.skip("no Docker daemon, or no image tkroom:0.1.0 built")


def test_the_image_serves_a_class_and_converts_courseware() -> None:
    _need_image()
    env = {**_env(), "PORT": str(free_port()), "SIGNAL_PORT": str(free_port())}
    out = subprocess.run([str(ROOT / "packaging" / "smoke-image"), "tkroom:0.1.0"], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "page image: image/jpeg" in out.stdout and out.stdout.rstrip().splitlines()[-1].startswith("OK")


def test_the_systemd_unit_runs_the_node_hardened() -> None:
    """``packaging/smoke-systemd``: the unit under a real systemd (in a container made from the
    image), with the courseware sandbox working inside its restrictions."""
    _need_image()
    out = subprocess.run([str(ROOT / "packaging" / "smoke-systemd"), "tkroom:0.1.0"], env=_env(),
                         capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().splitlines()[-1].startswith("OK: the unit ran the node")


def test_compose_runs_the_node_healthy_with_stand_ins_for_postgres_and_redis() -> None:
    """``packaging/smoke-compose``: compose.yaml run for real, PostgreSQL and Redis built from
    Debian's packages in place of the Docker Hub images it names."""
    _need_image()
    compose = shutil.which("docker-compose") or subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
    if not compose:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    env = {**_env(), "PORT": str(free_port()), "SIGNAL_PORT": str(free_port())}
    out = subprocess.run([str(ROOT / "packaging" / "smoke-compose")], env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().splitlines()[-1].startswith("OK: compose ran the node healthy")
