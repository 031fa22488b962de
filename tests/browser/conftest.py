"""Fixtures for the browser tests: the web routes served by uvicorn, Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from conftest import REQUIRE_ALL, need_binary
from tkroom.web import web_routes

ROOT = Path(__file__).resolve().parents[2]
SDK_DIR = ROOT / "web" / "sdk"
AXE_JS = SDK_DIR / "node_modules" / "axe-core" / "axe.min.js"
OUTPUT = ROOT / "test-output" / "browser"

# MEDIA-TESTING.md §4: flags that keep headless Chromium quiet and offline.
BASE_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
FAKE_MEDIA = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def need_node_modules() -> None:
    """web/sdk's npm packages (esbuild, axe-core): `make jsdeps` installs them."""
    if AXE_JS.exists() and (SDK_DIR / "node_modules" / ".bin" / "esbuild").exists():
        return
    msg = "web/sdk/node_modules is missing: run `make jsdeps`"
    if REQUIRE_ALL:
        pytest.fail(msg)
    pytest.skip(msg)


class ServerThread:
    """A uvicorn server on a free loopback port, in a thread of its own."""

    def __init__(self, app: Starlette) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start in 15 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="session")
def web_server() -> Iterator[ServerThread]:
    with ServerThread(Starlette(routes=web_routes())) as srv:
        yield srv


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return need_binary("chromium")


# Module scope, not session: sync Playwright keeps an event loop running in the main thread
# while it is open, which would break every asyncio test collected after the browser tests.
@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(playwright, chromium_path: str, extra: list[str] | None = None):
    """Debian's Chromium, never a downloaded one."""
    return playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=BASE_ARGS + (extra or [])
    )


@pytest.fixture(scope="module")
def browser(playwright_instance, chromium_path):
    b = launch(playwright_instance, chromium_path, FAKE_MEDIA)
    yield b
    b.close()


@pytest.fixture
def output_dir(request) -> Path:
    d = OUTPUT / request.node.name.replace("/", "_")
    d.mkdir(parents=True, exist_ok=True)
    return d


def env_flag(name: str) -> bool:
    return os.environ.get(name) == "1"
