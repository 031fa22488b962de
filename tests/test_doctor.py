"""``tkroom doctor`` against this machine (every part present: a private Redis, PostgreSQL, the
installed Janus and tools), against a configuration whose Redis and database are not running,
and with the programs out of reach."""

from __future__ import annotations

import json
import os

import pytest

from conftest import need_binary
from redis_proc import RedisProc
from webapi_nodes import free_port, tkroom

PROGRAMS = ("janus-pp-rec", "ffmpeg", "ffprobe", "soffice", "pdfinfo", "pdftoppm")


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, dict]]:
    out = tkroom("doctor", "--json", "--port", str(free_port()), "--signal-port", str(free_port()),
                 *args, env=env)
    assert out.stdout, out.stderr
    return out.returncode, {c["name"]: c for c in json.loads(out.stdout)}


@pytest.fixture
def tools() -> None:
    for prog in ("janus", *PROGRAMS):
        need_binary(prog)


@pytest.mark.postgres
@pytest.mark.redis
def test_this_machine_has_everything(tmp_path, pg_url, tools):
    redis = RedisProc(appendonly=True)
    redis.start()
    try:
        rc, checks = doctor("--data", str(tmp_path / "data"), "--database", pg_url, "--redis", redis.url,
                            env={"TKROOM_EMBEDDED_JANUS": "1", "TKROOM_RTP_PORTS": "20000-40000"})
    finally:
        redis.stop()
    assert rc == 0, checks
    states = {name: c["state"] for name, c in checks.items()}
    assert states == {
        "data folder": "ok", "free disk": "ok", "storage": "ok", "database": "ok", "redis": "ok", "clock skew": "ok",
        "janus": "ok", "rtp ports": "ok", "http port": "ok", "signal port": "ok",
        **dict.fromkeys(PROGRAMS, "ok"), "turn": "off"}
    assert checks["database"]["detail"].startswith(pg_url) and "postgresql" in checks["database"]["detail"]
    assert "Redis " in checks["redis"]["detail"]
    assert float(checks["clock skew"]["detail"].split()[0]) < 1.0
    assert checks["turn"]["detail"].startswith("not configured")


@pytest.mark.redis
def test_a_redis_without_appendonly_is_a_warning_not_a_failure(tmp_path, redis_url, tools):
    rc, checks = doctor("--data", str(tmp_path), "--redis", redis_url)
    assert rc == 0
    assert checks["redis"]["state"] == "warn" and "appendonly no" in checks["redis"]["detail"]
    assert checks["redis"]["fix"] == "set appendonly yes in redis.conf (docs/cluster.md)"
    assert checks["database"]["state"] == "ok" and "SQLite" in checks["database"]["detail"]
    assert not (tmp_path / "tkroom.db").exists(), "the doctor creates nothing"


def test_a_redis_and_database_that_are_not_running(tmp_path, tools):
    db = f"postgresql://tk:dbsecret9@127.0.0.1:{free_port()}/tk"
    redis = f"redis://:redissecret9@127.0.0.1:{free_port()}/0"
    out = tkroom("doctor", "--data", str(tmp_path), "--database", db, "--redis", redis,
                 "--port", str(free_port()), "--signal-port", str(free_port()))
    assert out.returncode == 1
    assert "dbsecret9" not in out.stdout + out.stderr and "redissecret9" not in out.stdout + out.stderr
    lines = out.stdout.splitlines()
    db_line = next(i for i, line in enumerate(lines) if line.startswith("FAIL  database"))
    assert "Connect call failed" in lines[db_line]
    assert lines[db_line + 1].split("fix: ")[1].startswith("start PostgreSQL (Debian package postgresql)")
    redis_line = next(i for i, line in enumerate(lines) if line.startswith("FAIL  redis"))
    assert "redis-server" in lines[redis_line + 1]
    assert out.stderr.strip() == "2 required part(s) missing: database, redis"
    rc, checks = doctor("--data", str(tmp_path), "--database", db, "--redis", redis)
    assert rc == 1 and checks["database"]["state"] == checks["redis"]["state"] == "fail"
    assert checks["clock skew"]["state"] == "off"


def test_missing_programs_name_their_debian_packages(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {"PATH": str(empty), "TKROOM_EMBEDDED_JANUS": "0"}
    rc, checks = doctor("--data", str(tmp_path / "data"), env=env)
    assert rc == 1
    assert checks["soffice"] == {"name": "soffice", "state": "fail", "fix": "apt-get install libreoffice-nogui",
                                 "detail": "not found: needed for office courseware (ppt, doc, xls...)"}
    assert checks["pdftoppm"]["state"] == "fail" and checks["pdftoppm"]["fix"] == "apt-get install poppler-utils"
    assert checks["ffmpeg"]["state"] == "fail" and checks["ffmpeg"]["fix"] == "apt-get install ffmpeg"
    # no media server configured: recordings cannot happen, so their tools are only a warning
    assert checks["janus"]["state"] == "warn" and "answer 151" in checks["janus"]["detail"]
    assert checks["janus-pp-rec"]["state"] == "warn"
    assert checks["janus-pp-rec"]["fix"] == "apt-get install janus-tools"
    if os.path.exists("/usr/bin/janus"):  # the own Janus wanted: found by its fixed path
        _, with_janus = doctor("--data", str(tmp_path / "data"), env={"PATH": str(empty)})
        assert with_janus["janus"]["state"] == "ok" and with_janus["janus-pp-rec"]["state"] == "fail"


def test_rtp_range_data_folder_and_clock_skew(tmp_path):
    from tkroom.config import Settings
    from tkroom.doctor import check_data, check_rtp_ports, skew_check

    assert skew_check(1000.2, 1000.0, 1000.1).state == "ok"
    late = skew_check(1000.0, 1004.0, 1004.2)
    assert late.state == "warn" and late.detail.startswith("4.100 s") and "chrony" in late.fix
    assert skew_check(1100.0, 1000.0, 1000.0).state == "fail"

    assert check_rtp_ports("40000-20000").state == "fail"
    assert check_rtp_ports("20000").state == "fail"
    assert check_rtp_ports("20000-20010").state == "ok"
    states = {c.name: c.state for c in check_data(Settings(data_dir=tmp_path))}
    assert states == {"data folder": "ok", "free disk": "ok"}
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        assert check_data(Settings(data_dir=ro))[0].state == "fail"


async def test_storage_check(tmp_path, s3_server):
    """The folder it would write, or the S3 bucket it would use, answering; nothing created."""
    from tkroom.config import Settings
    from tkroom.doctor import check_storage

    got = await check_storage(Settings(data_dir=tmp_path))
    assert got.state == "ok" and "this node's only" in got.detail
    assert (await check_storage(Settings(storage_dir=tmp_path / "shared"))).state == "ok"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root writes anywhere
            got = await check_storage(Settings(storage_dir=ro / "files"))
            assert got.state == "fail" and "not writable" in got.detail
    finally:
        ro.chmod(0o700)

    got = await check_storage(s3_server.settings())
    assert got.state == "ok" and s3_server.bucket in got.detail
    got = await check_storage(s3_server.settings(s3_bucket="absent", s3_create_bucket=True))
    assert got.state == "fail" and "'absent'" in got.detail and "does not exist" in got.detail
    assert "TKROOM_S3_BUCKET" in got.fix
    assert (await check_storage(Settings(storage="s3"))).state == "fail"
