"""Fixtures shared by every test module."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ALL = os.environ.get("TKROOM_REQUIRE_ALL") == "1"


def need_binary(name: str) -> str:
    """The path of a program a test needs: skip without it, or fail in CI (TKROOM_REQUIRE_ALL)."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path:
        return path
    msg = f"{name} is not installed (scripts/install-system-deps installs it)"
    if REQUIRE_ALL:
        pytest.fail(msg)
    pytest.skip(msg)


pytest_plugins = ["webapi_nodes"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory):
    """A private redis-server for this test session (unix socket in a temp dir, no TCP)."""
    from redis_proc import RedisProc

    proc = RedisProc(directory=tmp_path_factory.mktemp("redis"))
    try:
        proc.start(wait=20)
    except RuntimeError:
        pytest.fail("redis-server did not start")
    yield proc.url
    proc.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server for this test session (``s3_server.MotoS3``): ``.values(**over)`` (a
    dict) and ``.settings(**over)`` are those of an ``s3`` storage in its bucket, under a
    prefix of the caller's own."""
    from s3_server import MotoS3

    server = MotoS3()
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()
