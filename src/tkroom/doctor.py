"""``tkroom doctor``: what this node would use, whether it is there, and how to get what is not.

Each check looks at one thing the node's settings make it use (the same flags and ``TKROOM_*``
variables as ``serve``) and answers a state: ``ok``, ``off`` (not configured, which is a
choice), ``warn`` (it runs, but something will not work or is at risk) or ``fail`` (something
required is missing: the command exits 1). A failed or warned check names the Debian package or
the setting that fixes it. Nothing is changed: no file is created, no table migrated.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tkroom.config import Settings

OK, OFF, WARN, FAIL = "ok", "off", "warn", "fail"
MIN_FREE_BYTES = 1 << 30   # below: fail (uploads, conversions and recordings would stop)
LOW_FREE_BYTES = 5 << 30   # below: warn
SKEW_WARN_S = 1.0          # tickets and login keys carry times: nodes must agree on the clock
SKEW_FAIL_S = 30.0
TIMEOUT_S = 5.0            # per network check
# The programs the node runs, with the Debian package that brings each and what needs it.
PROGRAMS = {
    "janus-pp-rec": ("janus-tools", "recordings"),
    "ffmpeg": ("ffmpeg", "recordings and image courseware"),
    "ffprobe": ("ffmpeg", "recordings"),
    "soffice": ("libreoffice-nogui", "office courseware (ppt, doc, xls...)"),
    "pdfinfo": ("poppler-utils", "courseware pages"),
    "pdftoppm": ("poppler-utils", "courseware pages"),
}


@dataclass
class Check:
    name: str
    state: str
    detail: str
    fix: str = ""


def _free(path: Path) -> Path:
    """``path`` or its nearest existing parent (the data folder may not exist yet)."""
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data(s: Settings) -> list[Check]:
    where = _free(s.data_dir)
    fix_dir = "point --data / TKROOM_DATA at a folder this user may write"
    out = []
    if not os.access(where, os.W_OK):
        out.append(Check("data folder", FAIL, f"{s.data_dir.resolve()}: not writable", fix_dir))
    else:
        exists = "" if where == s.data_dir.resolve() else " (created at first start)"
        out.append(Check("data folder", OK, f"{s.data_dir.resolve()}{exists}"))
    usage = shutil.disk_usage(where)
    gib = usage.free / (1 << 30)
    text = f"{gib:.1f} GiB free of {usage.total / (1 << 30):.1f} GiB at {where}"
    fix = "free space there, or move --data / TKROOM_DATA to a larger disk"
    if usage.free < MIN_FREE_BYTES:
        out.append(Check("free disk", FAIL, text + " (at least 1 GiB needed)", fix))
    elif usage.free < LOW_FREE_BYTES:
        out.append(Check("free disk", WARN, text + " (uploads and recordings need room)", fix))
    else:
        out.append(Check("free disk", OK, text))
    return out


async def check_storage(s: Settings) -> Check:
    """Where files and recordings go: a folder this user may write, or an S3 bucket that
    answers (not created here, even with ``s3_create_bucket``)."""
    if s.storage == "folder":
        if s.storage_dir is None:
            return Check("storage", OK, "the data folder (this node's only: a cluster needs "
                         "TKROOM_STORAGE_DIR on a shared mount or TKROOM_STORAGE=s3)")
        where = _free(s.storage_dir)
        if not os.access(where, os.W_OK):
            return Check("storage", FAIL, f"{s.storage_dir.resolve()}: not writable",
                         "mount the shared folder there, writable by this user, or correct "
                         "TKROOM_STORAGE_DIR")
        return Check("storage", OK, f"{s.storage_dir.resolve()} (shared folder)")
    from tkroom.storage import StorageError, open_storage

    fix = ("start the S3 server or correct TKROOM_S3_ENDPOINT, TKROOM_S3_BUCKET and the "
           "credentials (docs/storage.md)")
    try:
        storage = open_storage(s.model_copy(update={"s3_create_bucket": False}))
    except ValueError as exc:  # SettingsError: no bucket
        return Check("storage", FAIL, str(exc), fix)
    try:
        async with asyncio.timeout(TIMEOUT_S * 3):
            await storage.start()
            await storage.check()
    except (StorageError, TimeoutError) as exc:
        return Check("storage", FAIL, f"s3 {s.s3_endpoint or 'AWS'} bucket {s.s3_bucket}: "
                     f"{_reason(exc)}", fix)
    finally:
        await storage.stop()
    return Check("storage", OK, f"s3 {s.s3_endpoint or 'AWS'} bucket {s.s3_bucket} "
                 f"(downloads: {s.s3_downloads})")


async def check_database(s: Settings) -> Check:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    url = make_url(s.db_url)
    shown = url.render_as_string(hide_password=True)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and not os.path.exists(url.database or ""):  # noqa: ASYNC240 (one stat)
        return Check("database", OK, f"{shown} (SQLite, created at first start)")
    from tkroom.store.engine import make_engine

    engine = make_engine(s.db_url)
    try:
        async with asyncio.timeout(TIMEOUT_S), engine.connect() as conn:
            version = (await conn.execute(text(
                "select sqlite_version()" if sqlite else "show server_version"
            ))).scalar()
    except Exception as exc:  # unreachable, refused, unknown database, bad credentials
        return Check("database", FAIL, f"{shown}: {_reason(exc)}",
                     "start PostgreSQL (Debian package postgresql) or correct --database / "
                     "TKROOM_DATABASE_URL")
    finally:
        await engine.dispose()
    return Check("database", OK, f"{shown} ({url.get_backend_name()} {version})")


async def check_redis(s: Settings) -> list[Check]:
    if not s.redis_url:
        return [Check("redis", OFF, "not configured: room state in memory, one node only"),
                Check("clock skew", OFF, "no Redis to compare with")]
    from tkroom import redisconn as redis_conn

    client = redis_conn.client(s.redis_url, socket_timeout=TIMEOUT_S,
                               socket_connect_timeout=TIMEOUT_S)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            t0 = time.time()
            secs, micros = await client.time()
            t1 = time.time()
            info = await client.info("server")
            try:
                aof = (await client.config_get("appendonly")).get("appendonly", "")
            except Exception:  # CONFIG may be renamed or forbidden on a managed Redis
                aof = ""
    except Exception as exc:
        fix = "start Redis (Debian package redis-server) or correct --redis / TKROOM_REDIS_URL"
        return [Check("redis", FAIL, f"{_hide(s.redis_url)}: {_reason(exc)}", fix),
                Check("clock skew", OFF, "Redis unreachable")]
    finally:
        await redis_conn.close(client)
    out = []
    if aof == "no":
        out.append(Check("redis", WARN, f"{_hide(s.redis_url)} (Redis {info.get('redis_version')}), "
                         "appendonly no: a Redis restart loses the saved messages",
                         "set appendonly yes in redis.conf (docs/cluster.md)"))
    else:
        out.append(Check("redis", OK, f"{_hide(s.redis_url)} (Redis {info.get('redis_version')})"))
    out.append(skew_check(secs + micros / 1e6, t0, t1))
    return out


def skew_check(redis_time: float, t0: float, t1: float) -> Check:
    """Redis's clock (read between ``t0`` and ``t1`` of ours) against this machine's."""
    skew = abs(redis_time - (t0 + t1) / 2)
    text = f"{skew:.3f} s between this machine and Redis (round trip {t1 - t0:.3f} s)"
    fix = "synchronise the clocks (Debian package systemd-timesyncd or chrony)"
    state = FAIL if skew > SKEW_FAIL_S else WARN if skew > SKEW_WARN_S else OK
    return Check("clock skew", state, text, fix if state != OK else "")


async def check_janus(s: Settings) -> list[Check]:
    from tkroom.media.janus_process import JANUS_LIB, janus_available
    from tkroom.media.plane import MediaSettings

    m = MediaSettings.from_settings(s)
    if m.janus_urls:
        return [await _janus_server(url, m.janus_secret) for url in m.janus_urls]
    if not m.embedded:
        return [Check("janus", WARN, "no media server: TKROOM_EMBEDDED_JANUS=0 and no --janus; "
                      "media requests answer 151",
                      "install janus (Debian package janus) and unset TKROOM_EMBEDDED_JANUS, "
                      "or give --janus / TKROOM_JANUS")]
    if not janus_available() or not (JANUS_LIB / "transports/libjanus_websockets.so").exists():
        return [Check("janus", FAIL, "the node's own Janus: no janus program, or no VideoRoom "
                      f"plugin or WebSocket transport in {JANUS_LIB}", "install the Debian package "
                      "janus, or give --janus / TKROOM_JANUS")]
    out = [Check("janus", OK, f"the node's own Janus ({shutil.which('janus') or '/usr/bin/janus'})")]
    out.append(check_rtp_ports(m.rtp_port_range))
    return out


async def _janus_server(url: str, secret: str) -> Check:
    from tkroom.media.janus_client import JanusConnection

    fix = "start that Janus server or correct --janus / TKROOM_JANUS (and TKROOM_JANUS_SECRET)"
    try:
        async with asyncio.timeout(TIMEOUT_S):
            conn = await JanusConnection.connect(url, within=TIMEOUT_S, apisecret=secret)
            try:
                info = await conn.info()
            finally:
                await conn.close()
    except Exception as exc:
        return Check("janus", FAIL, f"{url}: {_reason(exc)}", fix)
    if "janus.plugin.videoroom" not in info.get("plugins", {}):
        return Check("janus", FAIL, f"{url}: Janus {info.get('version_string')} without the "
                     "VideoRoom plugin", "enable janus.plugin.videoroom on that server")
    return Check("janus", OK, f"{url} (Janus {info.get('version_string')})")


def check_rtp_ports(spec: str) -> Check:
    """The embedded Janus's UDP range: well formed, and its ends free to bind here."""
    fix = "set TKROOM_RTP_PORTS to a free range such as 20000-40000, open it to the clients"
    try:
        lo, hi = (int(x) for x in spec.split("-"))
        if not 1024 <= lo <= hi <= 65535:
            raise ValueError
    except ValueError:
        return Check("rtp ports", FAIL, f"TKROOM_RTP_PORTS={spec!r} is not a range like 20000-40000", fix)
    taken = []
    for port in sorted({lo, (lo + hi) // 2, hi}):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                taken.append(port)
    if taken:
        return Check("rtp ports", WARN, f"UDP {lo}-{hi}: {', '.join(map(str, taken))} in use", fix)
    return Check("rtp ports", OK, f"UDP {lo}-{hi} ({hi - lo + 1} ports; open them to the clients)")


def check_listen_ports(s: Settings) -> list[Check]:
    """The HTTP and signalling ports: free to bind (else another process, perhaps a running
    node, holds them and ``serve`` would stop)."""
    out = []
    for name, port in (("http port", s.port), ("signal port", s.effective_signal_port)):
        if not port:
            out.append(Check(name, OK, "chosen at start (0)"))
            continue
        with socket.socket() as sock:
            try:
                sock.bind((s.host, port))
            except OSError as exc:
                out.append(Check(name, WARN, f"{s.host}:{port}: {exc.strerror or exc} (a node "
                                 "already running?)", "stop what holds it, or choose another with "
                                 "--port / --signal-port"))
                continue
        out.append(Check(name, OK, f"{s.host}:{port} free"))
    return out


def check_programs(media: bool) -> list[Check]:
    out = []
    for prog, (package, used_for) in PROGRAMS.items():
        path = shutil.which(prog)
        if path:
            out.append(Check(prog, OK, path))
            continue
        needed = media or used_for != "recordings"
        out.append(Check(prog, FAIL if needed else WARN, f"not found: needed for {used_for}",
                         f"apt-get install {package}"))
    return out


def check_turn() -> Check:
    return Check("turn", OFF, "not configured: tkroom has no TURN support yet; clients behind "
                 "strict NATs may not get media")


async def run_checks(s: Settings) -> list[Check]:
    """Every check, in the order an operator reads them."""
    from tkroom.media.plane import MediaSettings

    m = MediaSettings.from_settings(s)
    out = check_data(s)
    out.append(await check_storage(s))
    out.append(await check_database(s))
    out += await check_redis(s)
    out += await check_janus(s)
    out += check_listen_ports(s)
    out += check_programs(media=bool(m.janus_urls) or m.embedded)
    out.append(check_turn())
    return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT_S:.0f} s"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _hide(url: str) -> str:
    """A URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses (unix://...): show its scheme only
        return url.split("://", 1)[0] + "://..." if "@" in url else url


def run_doctor(s: Settings, as_json: bool = False) -> int:
    """Print every check (a table, or a JSON list); 1 when a required part fails."""
    checks = asyncio.run(run_checks(s))
    if as_json:
        print(json.dumps([asdict(c) for c in checks], ensure_ascii=False, indent=2))
    else:
        for c in checks:
            print(f"{c.state.upper() if c.state == FAIL else c.state:<5} {c.name:<12} {c.detail}")
            if c.fix and c.state in (WARN, FAIL):
                print(f"{'':<5} {'':<12} fix: {c.fix}")
        failed = [c.name for c in checks if c.state == FAIL]
        print(f"\n{len(failed)} required part(s) missing: {', '.join(failed)}" if failed
              else "\nnothing required is missing", file=sys.stderr if failed else sys.stdout)
    return 1 if any(c.state == FAIL for c in checks) else 0
