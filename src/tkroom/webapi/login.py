"""Login without a room password: the 40-character login key and the original entry link."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

from tkroom import tickets
from tkroom.errors import CodeError
from tkroom.store.loginkeys import issue_login_key
from tkroom.store.models import Company, Room
from tkroom.webapi.access import enterable_room, parse_role, role_by_password
from tkroom.webapi.registry import Call, Param, check_company, method
from tkroom.webapi.rooms import SERIAL, SERIAL_CODES


@method(
    "WebAPI", "getloginkey", "A 40-character login key that lets one user into one room with one role.",
    (SERIAL,
     Param("usertype", "integer", True, "0 teacher, 1 assistant, 2 student, 3 live viewer, 4 inspector"),
     Param("username", required=True, doc="the nickname the user will have"),
     Param("userid", doc="the user's id (default: a random one)"),
     Param("validity", "integer", doc="seconds the key stays valid, 60-2678400 (default 3600)")),
    SERIAL_CODES + ((5207, "usertype missing or outside 0-4"), (5205, "username missing"),
                    (5101, "userid longer than 100 characters"), (4004, "validity not 60-2678400 seconds")),
)
async def getloginkey(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    usertype = parse_role(call.p.get("usertype"))
    if usertype is None:
        raise CodeError(5207)
    username = call.p.get("username")
    if not username:
        raise CodeError(5205)
    userid = call.p.get("userid") or secrets.token_hex(8)
    if len(userid) > 100 or len(username) > 200:
        raise CodeError(5101, "userid or username too long")
    validity = call.p.int("validity", default=int(call.state.settings.loginkey_ttl_s), bad=4004,
                          lo=60, hi=31 * 86400)
    row = await issue_login_key(call.s, call.state.secret, serial=room.serial, usertype=usertype,
                                username=username, userid=userid, validity_s=validity, now=call.now)
    return {"loginkey": row.loginkey, "expires": row.expires, "userid": userid}


def aes_decrypt_hex(authkey: str, data: str) -> str:
    """The original platform's ``userpassword``: AES-128-ECB with the authkey, hex; padding with
    NULs or spaces (integrators used both) is stripped."""
    raw = bytes.fromhex(data)
    if not raw or len(raw) % 16:
        raise ValueError("not whole AES blocks")
    key = authkey.encode()[:16].ljust(16, b"\0")
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    plain = dec.update(raw) + dec.finalize()
    return plain.rstrip(b"\0 ").decode()


@method(
    "WebAPI", "entry",
    "The original entry link: auth = md5(key + ts + serial + usertype); answers a join ticket.",
    (Param("domain", required=True, doc="the enterprise's domain"),
     Param("serial", doc="room number (or thirdroomid)"),
     Param("thirdroomid", doc="the integrator's room id instead of serial"),
     Param("username", required=True, doc="the nickname"),
     Param("usertype", "integer", True, "0-4"),
     Param("pid", doc="the integrator's user id (default 0)"),
     Param("ts", "integer", True, "Unix seconds, within 5 minutes of the server's clock"),
     Param("auth", required=True, doc="md5(key + ts + serial + usertype), lower-case hex"),
     Param("userpassword", doc="the role password, AES-128-ECB with the key, hex"),
     Param("jumpurl", doc="where to go after class (passed through)")),
    ((4101, "domain missing"), (4001, "unknown domain"), (5100, "serial and thirdroomid missing"),
     (4007, "no such room"), (4102, "the room belongs to another enterprise"), (3003, "room deleted or over"),
     (5207, "usertype outside 0-4"), (5205, "username missing"), (4109, "ts stale or auth wrong"),
     (5204, "no userpassword for a role that needs one"), (4110, "no userpassword for students of a room with passwordrequired=1"),
     (5200, "wrong teacher password"), (5203, "wrong student password"), (5007, "wrong live viewer password"),
     (4008, "wrong password"), (5006, "password of a wrong format")),
    key=False,
)
async def entry(call: Call) -> dict[str, Any]:
    p = call.p
    domain = p.get("domain")
    if not domain:
        raise CodeError(4101)
    company = (await call.s.execute(select(Company).where(Company.domain == domain))).scalar_one_or_none()
    if company is None or company.deleted:
        raise CodeError(4001)
    check_company(company, call.now)
    given = p.get("serial") or p.get("thirdroomid")
    if not given:
        raise CodeError(5100)
    if p.get("serial"):
        room = await call.s.get(Room, given)
    else:
        q = select(Room).where(Room.companyid == company.id, Room.thirdroomid == given, Room.deleted.is_(False))
        room = (await call.s.execute(q)).scalars().first()
    if room is None:
        raise CodeError(4007)
    if room.companyid != company.id:
        raise CodeError(4102)
    room, _ = await enterable_room(call, room.serial)
    usertype = parse_role(p.get("usertype"))
    if usertype is None:
        raise CodeError(5207)
    username = p.get("username")
    if not username:
        raise CodeError(5205)
    ts, auth = p.get("ts") or "", (p.get("auth") or "").lower()
    if not re.fullmatch(r"\d{1,13}", ts) or abs(call.now - int(ts)) > call.state.settings.entry_window_s:
        raise CodeError(4109, "ts is missing or too far from the server's clock")
    want = hashlib.md5(f"{company.authkey}{ts}{given}{usertype}".encode()).hexdigest()
    if not hmac.compare_digest(auth, want):
        raise CodeError(4109)
    enc = p.get("userpassword")
    password = None
    if enc:
        try:
            password = aes_decrypt_hex(company.authkey, enc)
        except ValueError as exc:
            raise CodeError(5006, "userpassword is not AES-128 hex of the password") from exc
    role = await role_by_password(call, room, password, usertype, wrong_live=5007)
    userid = p.get("pid") or secrets.token_hex(8)
    ident = tickets.Identity(serial=room.serial, userid=userid, role=role, nickname=username,
                             companyid=company.id)
    ticket = tickets.issue(call.state.secret, ident, call.now, call.state.settings.ticket_ttl_s)
    out = {"serial": room.serial, "roomrole": role, "ticket": ticket,
           "enterurl": f"/room/{room.serial}?ticket={quote(ticket)}"}
    if p.get("jumpurl"):
        out["jumpurl"] = p.get("jumpurl")
    return out
