"""The media-server registry (codes 6000-6003): serveradd, servermodify, serverdelete,
getserverlist. Each enterprise registers its own servers; ``getconfig`` lists them, and the
media plane places only that enterprise's classes on them (the operator's ``--janus`` servers
carry every enterprise's)."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from tkroom.errors import CodeError
from tkroom.store.models import MediaServer
from tkroom.webapi.params import MAX_ID
from tkroom.webapi.registry import Call, Param, method

SERVER_PARAMS = (
    Param("ip", doc="IPv4 or IPv6 address of the media server"),
    Param("name", doc="region label such as cn, at most 50 characters"),
    Param("maxusers", "integer", doc="regular users it may serve, 1-100000"),
    Param("maxsidelineusers", "integer", doc="eavesdropping (live) users, 0-1000000"),
    Param("url", doc="its Janus WebSocket URL (ws:// or wss://)"),
    Param("apisecret", doc="its Janus API secret (`api_secret`), at most 200 characters; "
          "never listed back (getserverlist says `apisecret: true` when one is set)"),
)
SERVER_CODES = ((6001, "ip missing or malformed, url not ws(s)://, or apisecret longer than 200"), (6002, "maxusers outside 1-100000"),
                (6003, "maxsidelineusers outside 0-1000000"), (4003, "name longer than 50 characters"))
SERVERID = Param("serverid", "integer", True)
SERVERID_CODES = ((6000, "serverid missing or unknown"), (4108, "a server of another enterprise"))


def _apply(call: Call, m: MediaServer, create: bool) -> None:
    ip = call.p.get("ip")
    if ip is not None or create:
        try:
            m.ip = str(ipaddress.ip_address(ip or ""))
        except ValueError as exc:
            raise CodeError(6001) from exc
    url = call.p.get("url")
    if url is not None:
        if urlsplit(url).scheme not in ("ws", "wss") or len(url) > 300:
            raise CodeError(6001, "url must be a ws:// or wss:// URL")
        m.url = url
    secret = call.p.raw("apisecret")
    if secret is not None:
        if len(secret) > 200:
            raise CodeError(6001, "apisecret is at most 200 characters")
        m.apisecret = secret
    name = call.p.get("name")
    if name is not None:
        if len(name) > 50:
            raise CodeError(4003, "name is at most 50 characters")
        m.name = name
    mu = call.p.int("maxusers", default=1000 if create else None, bad=6002, lo=1, hi=100000)
    ms = call.p.int("maxsidelineusers", default=0 if create else None, bad=6003, lo=0, hi=1000000)
    if mu is not None:
        m.maxusers = mu
    if ms is not None:
        m.maxsidelineusers = ms


def server_dict(m: MediaServer) -> dict[str, Any]:
    return {"serverid": m.id, "name": m.name, "ip": m.ip, "url": m.url, "maxusers": m.maxusers,
            "maxsidelineusers": m.maxsidelineusers, "apisecret": bool(m.apisecret)}


async def _own(call: Call) -> MediaServer:
    c = await call.company()
    sid = call.p.int("serverid", missing=6000, bad=6000, lo=1, hi=MAX_ID)
    m = await call.s.get(MediaServer, sid)
    if m is None:
        raise CodeError(6000)
    if m.companyid != c.id:
        raise CodeError(4108, "This server belongs to another enterprise")
    return m


@method("WebAPI", "serveradd", "Register a media server; answers serverid.", SERVER_PARAMS, SERVER_CODES)
async def serveradd(call: Call) -> dict[str, Any]:
    c = await call.company()
    m = MediaServer(companyid=c.id, name="", url="", apisecret="", created=int(call.now))
    _apply(call, m, create=True)
    call.s.add(m)
    await call.s.flush()
    return {"serverid": m.id}


@method("WebAPI", "servermodify", "Change a media server; only the given fields change.",
        (SERVERID, *SERVER_PARAMS), SERVERID_CODES + SERVER_CODES)
async def servermodify(call: Call) -> dict[str, Any]:
    m = await _own(call)
    _apply(call, m, create=False)
    return {"serverid": m.id}


@method("WebAPI", "serverdelete", "Remove a media server from the registry.", (SERVERID,), SERVERID_CODES)
async def serverdelete(call: Call) -> dict[str, Any]:
    await call.s.delete(await _own(call))
    return {}


@method("WebAPI", "getserverlist", "The enterprise's media servers.", (), ((4105, "no server"),))
async def getserverlist(call: Call) -> dict[str, Any]:
    c = await call.company()
    rows = (await call.s.execute(select(MediaServer).where(MediaServer.companyid == c.id)
                                 .order_by(MediaServer.id))).scalars().all()
    if not rows:
        raise CodeError(4105, "No server")
    return {"serverlist": [server_dict(m) for m in rows]}
