"""The ClientAPI that SDKs call before they connect: checkroom, getconfig, getroomfile."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select

from tkroom import tickets
from tkroom.errors import CodeError
from tkroom.roles import VIEWER
from tkroom.store.loginkeys import check_login_key
from tkroom.store.models import Group, MediaServer, Room
from tkroom.store.rooms import room_dict
from tkroom.webapi.access import enterable_room, parse_role, registered_user, role_by_password
from tkroom.webapi.files import room_files
from tkroom.webapi.registry import Call, Param, method
from tkroom.webapi.servers import server_dict

ENTER_CODES = (
    (5100, "serial missing"),
    (4007, "no such room"),
    (3003, "the room was deleted or its endtime has passed"),
    (3002, "the room's enterprise is frozen"),
    (3001, "the room's enterprise's service period has ended"),
)


@method(
    "ClientAPI", "checkroom",
    "Check a room password (or login key) and get the room's settings, the role and a join ticket.",
    (
        Param("serial", required=True, doc="room number"),
        Param("nickname", required=True, doc="the name shown to others"),
        Param("password", doc="a role password of the room; the role is the one it matches"),
        Param("loginkey", doc="a 40-character login key from getloginkey, instead of a password"),
        Param("userrole", "integer", doc="the role asked for, 0-4 (optional)"),
        Param("userid", doc="the caller's user id (default: a random one)"),
        Param("account", doc="enterprise user account (registered-users-only rooms)"),
        Param("userpassword", doc="enterprise user password (registered-users-only rooms)"),
    ),
    ENTER_CODES + (
        (5205, "nickname missing or longer than 200 characters"),
        (5101, "userid longer than 100 characters"),
        (5207, "userrole outside 0-4"),
        (5006, "password of a wrong format"),
        (4110, "no password for a room whose students need one"),
        (5204, "no password for a role that always needs one"),
        (5200, "wrong password with userrole 0"),
        (5203, "wrong password with userrole 2"),
        (5201, "wrong password with userrole 3"),
        (4008, "a password that matches no role (or the asked role 1/4), or live viewers not admitted"),
        (5301, "login key malformed, unknown, expired, for another room or another role"),
        (4111, "registered-users-only room without a valid enterprise user"),
        (4002, "wrong enterprise user password"),
    ),
    key=False,
)
async def checkroom(call: Call) -> dict[str, Any]:
    p = call.p
    room, company = await enterable_room(call, p.get("serial"))
    nickname = p.get("nickname")
    asked = parse_role(p.get("userrole"))
    loginkey = p.get("loginkey")
    userid = p.get("userid") or ""
    if loginkey:
        row = await check_login_key(call.s, room.serial, loginkey, call.now)
        if asked is not None and asked != row.usertype:
            raise CodeError(5301, "This login key is for another role")
        role, userid, nickname = row.usertype, row.userid, nickname or row.username
    else:
        if not nickname:
            raise CodeError(5205)
        role = await role_by_password(call, room, p.raw("password"), asked)
    if not nickname:
        raise CodeError(5205)
    if len(nickname) > 200 or len(userid) > 100:
        raise CodeError(5205 if len(nickname) > 200 else 5101, "nickname (200) or userid (100) too long")
    if room.registeredonly and not loginkey:
        userid = await registered_user(call, room, p.get("account"), p.raw("userpassword"))
    thirdid = userid
    if not userid:
        userid = secrets.token_hex(8)
    ident = tickets.Identity(serial=room.serial, userid=userid, role=role, nickname=nickname,
                             companyid=company.id)
    ticket = tickets.issue(call.state.secret, ident, call.now, call.state.settings.ticket_ttl_s)
    answer = {"room": room_dict(room), "roomrole": role, "nickname": nickname, "thirdid": thirdid,
              "userid": userid, "ticket": ticket,
              "iceServers": ice_servers(call, userid)}
    if role == VIEWER and call.state.settings.live_enabled:
        answer["pullinfo"] = {"hls": live_url(call, room.serial)}
    return answer


def live_url(call: Call, serial: str) -> str:
    """The room's live HLS playlist: under the configured public (CDN) URL, else the address
    the viewer reached this node by."""
    base = call.state.settings.live_public_url.rstrip("/") or str(call.request.base_url).rstrip("/")
    return f"{base}/live/{serial}/{tickets.live_token(call.state.secret, serial)}/index.m3u8"


def ice_servers(call: Call, userid: str) -> list[dict[str, Any]]:
    """TURN credentials for ``userid`` (empty when the node has no TURN server): signed here,
    checked by the TURN server, expiring after ``turn_ttl_s``."""
    offer = call.state.turn
    if offer is None:
        return []
    return offer.ice_servers(userid, call.request.url.hostname or call.state.settings.host,
                             call.now)


def signal_url(call: Call) -> str:
    """Where to open the signalling WebSocket: the configured public URL, else the host the
    client reached us by (``wss://`` when the node serves TLS itself)."""
    if call.state.settings.signal_urls:
        return call.state.settings.signal_urls[0]
    host = call.request.url.hostname or call.state.settings.host
    scheme = "wss" if call.state.settings.tls_cert is not None else "ws"
    return f"{scheme}://{host}:{call.state.settings.effective_signal_port}/signal"


@method(
    "ClientAPI", "getconfig", "Where to connect for signalling and which media servers serve the room.",
    (Param("serial", required=True, doc="room number"),
     Param("userrole", "integer", doc="the caller's role (ignored)"),
     Param("selfip", doc="the caller's address as it sees it (ignored)"),
     Param("ticket", doc="the join ticket checkroom gave: with it the answer carries the "
                         "caller's own TURN credentials (`iceServers`)")),
    ((5100, "serial missing"), (4007, "no such room"),
     (5301, "the ticket is malformed, forged or too old"),
     (4108, "the ticket is for another room")),
    key=False,
)
async def getconfig(call: Call) -> dict[str, Any]:
    serial = call.p.get("serial")
    if not serial:
        raise CodeError(5100)
    room = await call.s.get(Room, serial)
    if room is None:
        raise CodeError(4007, f"No room {serial}")
    q = select(MediaServer).where(or_(MediaServer.companyid == room.companyid,
                                      MediaServer.companyid.is_(None))).order_by(MediaServer.id)
    # Clients never talk to Janus: they learn the servers' names (for switchServerByName), not
    # their API addresses.
    servers = [{k: v for k, v in server_dict(m).items() if k not in ("url", "apisecret")}
               for m in (await call.s.execute(q)).scalars()]
    if call.state.settings.janus_urls:
        servers.append({"serverid": 0, "name": "default", "ip": ""})
    ice: list[dict[str, Any]] = []
    if raw := call.p.get("ticket"):
        ident = tickets.verify(call.state.secret, raw, call.now)
        if ident.serial != room.serial:
            raise CodeError(4108, "This ticket is for another room")
        ice = ice_servers(call, ident.userid)
    url = signal_url(call)
    host = call.request.url.hostname or ""
    port = call.request.url.port or 80
    parsed_port = urlsplit(url).port
    sig_port = 80 if parsed_port is None else parsed_port
    return {
        "signal": {"url": url, "urls": list(call.state.settings.signal_urls)},
        "mediaservers": servers,
        "iceServers": ice,
        "courseserver": host,
        "courseserverport": sig_port,
        "ClassDocServerAddr": f"{host}:{port}",
        "newcourseaddr": [{"name": "default", "signaladdr": host, "signalport": sig_port,
                           "webaddr": f"{host}:{port}", "docaddr": [f"{host}:{port}"], "change": 0}],
    }


@method(
    "ClientAPI", "getroomfile", "The courseware files bound to a room (an empty list when none).",
    (Param("serial", required=True, doc="room number"),),
    ENTER_CODES,
    key=False,
)
async def client_getroomfile(call: Call) -> dict[str, Any]:
    room, _ = await enterable_room(call, call.p.get("serial"))
    return {"roomfile": await room_files(call, room.serial)}


@method(
    "ClientAPI", "getgrouplist",
    "The room's breakout groups, for the teacher's page to choose from (an empty list when none).",
    (Param("serial", required=True, doc="room number"),),
    ENTER_CODES,
    key=False,
)
async def client_getgrouplist(call: Call) -> dict[str, Any]:
    room, _ = await enterable_room(call, call.p.get("serial"))
    q = select(Group).where(Group.serial == room.serial).order_by(Group.id)
    rows = (await call.s.execute(q)).scalars().all()
    return {"grouplist": [{"groupid": str(g.id), "groupname": g.groupname} for g in rows]}
