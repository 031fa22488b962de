"""The ``tkroom`` command: ``serve``, ``admin``, ``config`` and ``codes``.

Each sub-command is registered by a small ``add_*_parser`` function so that a plane can add
its own without touching the others.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tkroom import codes
from tkroom.config import Settings, SettingsError
from tkroom.errors import CodeError


def _cmd_codes(args: argparse.Namespace) -> int:
    rows = codes.CODES if args.number is None else codes.lookup(args.number)
    if args.number is not None and not rows:
        print(f"no status code {args.number} in the specification", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([c.as_dict() for c in rows], ensure_ascii=False, indent=2))
        return 0
    for c in rows:
        name = c.seed_name or c.name
        print(f"{c.code:>5}  {c.namespace:<14} {name}\n       {c.description}")
    return 0


def add_codes_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codes", help="print the status codes of the specification")
    p.add_argument("number", nargs="?", type=int, help="explain one code")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_cmd_codes)


def _store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file of settings (default $TKROOM_CONFIG; "
                   "docs/configuration.md)")
    p.add_argument("--data", help="data folder (default $TKROOM_DATA or ./tkroom-data)")
    p.add_argument("--database", help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db "
                   "(default $TKROOM_DATABASE_URL or SQLite under the data folder)")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        data_dir=args.data,
        database_url=args.database,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        signal_port=getattr(args, "signal_port", None),
        redis_url=getattr(args, "redis", None),
        janus_urls=getattr(args, "janus", None),
        signal_urls=getattr(args, "signal_url", None),
        tls_cert=getattr(args, "tls_cert", None),
        tls_key=getattr(args, "tls_key", None),
        log_level=getattr(args, "log_level", None),
        log_format=getattr(args, "log_format", None),
        config=args.config,
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from tkroom import logs
    from tkroom.planes import build_node
    from tkroom.storage import StorageError

    settings = _settings(args)
    logs.setup(settings.log_level, settings.log_format)
    try:
        build_node(settings).run()
    except (OSError, RedisConnectionError, StorageError) as exc:  # a port in use, an unreachable
        print(f"tkroom serve: {exc}", file=sys.stderr)  # database, Redis or S3: in one line
        return 2
    return 0


def _serve_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the settings (docs/configuration.md lists them beside the variables)."""
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default 8080; 0 = any free port)")
    p.add_argument("--signal-port", type=int, help="signalling WebSocket port (default port + 1)")
    p.add_argument("--signal-url", action="append",
                   help="public signalling URL handed to clients, this node's first, then the "
                        "cluster's others (repeatable; default $TKROOM_SIGNAL_URLS)")
    p.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS and WSS (with "
                   "--tls-key; default $TKROOM_TLS_CERT)")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert (default $TKROOM_TLS_KEY)")
    p.add_argument("--redis", help="Redis URL for cluster mode (default $TKROOM_REDIS_URL)")
    p.add_argument("--janus", action="append", help="Janus WebSocket URL (repeatable)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="default $TKROOM_LOG_LEVEL or info")
    p.add_argument("--log-format", choices=("text", "json"),
                   help="text: one readable line a record; json: one object a line "
                        "(default $TKROOM_LOG_FORMAT or text)")
    _store_flags(p)


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start a node")
    _serve_flags(p)
    p.set_defaults(func=_cmd_serve)


def _cmd_config_show(args: argparse.Namespace) -> int:
    print(_settings(args).show(), end="")
    return 0


def add_config_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="the settings a node would use")
    csub = p.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print the effective settings as TOML, secrets masked, "
                                        "each with where it came from (takes serve's flags)")
    _serve_flags(show)
    show.set_defaults(func=_cmd_config_show)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from tkroom.doctor import run_doctor

    return run_doctor(_settings(args), as_json=args.json)


def add_doctor_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check what this node would use; say what is missing "
                       "and how to get it (exit status 1 when a required part is missing)")
    p.add_argument("--host", help="address serve would listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port serve would use (default 8080)")
    p.add_argument("--signal-port", type=int, help="signalling port (default port + 1)")
    p.add_argument("--redis", help="Redis URL (default $TKROOM_REDIS_URL)")
    p.add_argument("--janus", action="append", help="Janus WebSocket URL (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list of the checks")
    _store_flags(p)
    p.set_defaults(func=_cmd_doctor)


def _admin(op: Callable[[Any], Awaitable[object]]) -> Callable[[argparse.Namespace], int]:
    """Run ``op(session)`` on the store chosen like ``serve`` does, print its JSON answer."""

    def run(args: argparse.Namespace) -> int:
        from tkroom.store.engine import make_engine, migrate, sessionmaker

        async def main() -> object:
            engine = make_engine(_settings(args).db_url)
            try:
                await migrate(engine)
                async with sessionmaker(engine)() as s:
                    out = await op((s, args))
                    await s.commit()
                    return out
            finally:
                await engine.dispose()

        _settings(args).data_dir.mkdir(parents=True, exist_ok=True)
        try:
            out = asyncio.run(main())
        except CodeError as e:
            print(json.dumps({"result": e.code, "msg": e.message}), file=sys.stderr)
            return 1
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0

    return run


async def _enterprise_create(sa: Any) -> object:
    from tkroom.store.companies import company_dict, create_company

    s, args = sa
    expires = None
    if args.expires:
        day = dt.date.fromisoformat(args.expires)
        expires = int(dt.datetime.combine(day, dt.time.max, dt.UTC).timestamp())
    c = await create_company(s, args.name, args.domain, max_rooms=args.max_rooms, expires=expires)
    return company_dict(c, with_key=True)


async def _enterprise_freeze(sa: Any, frozen: bool = True) -> object:
    from tkroom.store.companies import by_domain, company_dict

    s, args = sa
    c = await by_domain(s, args.domain)
    if c is None:
        raise CodeError(4001, f"No enterprise with domain {args.domain}")
    c.frozen = frozen
    return company_dict(c)


async def _enterprise_unfreeze(sa: Any) -> object:
    return await _enterprise_freeze(sa, frozen=False)


async def _enterprise_list(sa: Any) -> object:
    from sqlalchemy import select

    from tkroom.store.companies import company_dict
    from tkroom.store.models import Company

    s, _ = sa
    return [company_dict(c) for c in (await s.execute(select(Company).order_by(Company.id))).scalars()]


async def _server_add(sa: Any) -> object:
    from urllib.parse import urlsplit

    from tkroom.store.models import MediaServer

    s, args = sa
    if urlsplit(args.url).scheme not in ("ws", "wss") or len(args.url) > 300:
        raise CodeError(6001, "url must be a ws:// or wss:// URL")
    if not 1 <= args.maxusers <= 100000:
        raise CodeError(6002, "maxusers is 1-100000")
    if len(args.name) > 50 or len(args.apisecret) > 200:
        raise CodeError(4003, "name is at most 50 characters, apisecret 200")
    m = MediaServer(companyid=None, name=args.name, ip=urlsplit(args.url).hostname or "",
                    url=args.url, maxusers=args.maxusers, maxsidelineusers=0,
                    apisecret=args.apisecret, created=int(time.time()))
    s.add(m)
    await s.flush()
    return {"serverid": m.id, "name": m.name, "url": m.url, "maxusers": m.maxusers}


async def _server_list(sa: Any) -> object:
    from sqlalchemy import select

    from tkroom.store.models import MediaServer

    s, _ = sa
    rows = (await s.execute(select(MediaServer).order_by(MediaServer.id))).scalars()
    return [{"serverid": m.id, "name": m.name, "url": m.url, "maxusers": m.maxusers,
             "companyid": m.companyid, "apisecret": bool(m.apisecret)} for m in rows]


async def _server_delete(sa: Any) -> object:
    from tkroom.store.models import MediaServer

    s, args = sa
    m = await s.get(MediaServer, args.serverid)
    if m is None or m.companyid is not None:
        raise CodeError(6000, f"No operator media server {args.serverid}")
    await s.delete(m)
    return {}


def add_admin_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("admin", help="operate the platform: enterprises, media servers")
    asub = p.add_subparsers(dest="admin_command", required=True)
    ent = asub.add_parser("enterprise", help="create, freeze, unfreeze, list enterprises")
    esub = ent.add_subparsers(dest="enterprise_command", required=True)
    c = esub.add_parser("create", help="create an enterprise; prints companyid, domain and authkey")
    c.add_argument("name")
    c.add_argument("--domain", help="unique domain (default: a random one)")
    c.add_argument("--max-rooms", type=int, default=0, help="room quota (0 = no limit)")
    c.add_argument("--expires", help="last day of service, YYYY-MM-DD (UTC)")
    c.set_defaults(func=_admin(_enterprise_create))
    for name, fn, what in (("freeze", _enterprise_freeze, "freeze"), ("unfreeze", _enterprise_unfreeze, "unfreeze")):
        f = esub.add_parser(name, help=f"{what} an enterprise by domain")
        f.add_argument("domain")
        f.set_defaults(func=_admin(fn))
        _store_flags(f)
    lst = esub.add_parser("list", help="list enterprises (without keys)")
    lst.set_defaults(func=_admin(_enterprise_list))
    for q in (c, lst):
        _store_flags(q)
    srv = asub.add_parser("server", help="media servers for every enterprise: add, list, delete")
    ssub = srv.add_subparsers(dest="server_command", required=True)
    add = ssub.add_parser("add", help="register a Janus for every enterprise's classes "
                          "(an enterprise's own: WebAPI serveradd); prints its serverid")
    add.add_argument("url", help="its Janus WebSocket URL (ws:// or wss://)")
    add.add_argument("--name", required=True, help="its name (what switchServerByName takes)")
    add.add_argument("--maxusers", type=int, default=500, help="PeerConnections it is given")
    add.add_argument("--apisecret", default="", help="its Janus API secret")
    add.set_defaults(func=_admin(_server_add))
    sl = ssub.add_parser("list", help="every registered media server (never the secrets)")
    sl.set_defaults(func=_admin(_server_list))
    sd = ssub.add_parser("delete", help="remove an operator media server")
    sd.add_argument("serverid", type=int)
    sd.set_defaults(func=_admin(_server_delete))
    for q in (add, sl, sd):
        _store_flags(q)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tkroom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_codes_parser(sub)
    add_serve_parser(sub)
    add_admin_parser(sub)
    add_config_parser(sub)
    add_doctor_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as exc:  # a misspelt or malformed setting: one line, before anything starts
        print(f"tkroom: {exc}", file=sys.stderr)
        return 2
