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
