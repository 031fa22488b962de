"""The code registry against the seed table, row by row, and the ``tkroom codes`` command."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tkroom import codes

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "status_codes.tsv"
# The project's own copy of the seed table; the shared original wins where it is checked out.
SEED = _SHARED if _SHARED.exists() else Path(__file__).with_name("data") / "status_codes.tsv"


def _seed_rows() -> list[dict[str, str]]:
    if not SEED.exists():
        pytest.fail(f"the seed table is missing at {SEED}")
    with SEED.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_registry_matches_seed_row_by_row():
    rows = _seed_rows()
    assert len(rows) == len(codes.CODES) == 127
    for row, code in zip(rows, codes.CODES, strict=True):
        assert code.namespace == row["namespace"]
        assert code.code == int(row["code"])
        assert code.description == row["description"]
        if row["name"]:
            assert code.seed_name == row["name"]
            assert code.name == row["name"].split(".")[-1]
        else:
            assert code.name.isupper() or code.name.replace("_", "").isalnum()


def test_constant_names_unique_per_namespace():
    for ns in codes.NAMESPACES:
        names = [c.name for c in codes.CODES if c.namespace == ns]
        assert len(names) == len(set(names)), ns


def test_namespaced_enums():
    assert codes.ErrorNotice.ERR_CHAT_TEXT_TOO_LONG == 61
    assert codes.WebAPI.ROOM_NOT_EXIST == 4007
    assert codes.SDK.ERR_VDM_CAMERA_NOT_ALLOWED == 152
    assert codes.InfoNotice.INFO_PUBLISH_COMPLETED == 2001
    assert codes.WarningNotice.WAR_UNPUBLISHVIDEO_BY_SWITCHAUDIOROOM == 1011


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tkroom", "codes", *args], capture_output=True, text=True, check=False
    )


def test_cli_codes_json_lists_every_row():
    out = _run("--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data) == 127
    assert {d["namespace"] for d in data} == set(codes.NAMESPACES)
    assert {"namespace": "sdk", "name": "TK_ERR.ROOM_NOT_CONNECT", "code": 2508,
            "description": "No successful connection to the room error code"} in data


def test_cli_codes_explains_one_number_in_every_namespace():
    out = _run("101")
    assert out.returncode == 0
    assert "No recording device available" in out.stdout
    assert "Not initialized" in out.stdout
    assert _run("4008").stdout.count("room password is incorrect") == 1


def test_cli_codes_unknown_number():
    out = _run("9999")
    assert out.returncode == 1
    assert "no status code 9999" in out.stderr
