"""Sub-enterprises (companycreate, companydelete), enterprise settings (companyattribute) and
registered enterprise users (useradd, userdelete)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update

from tkroom.errors import CodeError
from tkroom.store.companies import by_domain, create_company
from tkroom.store.models import EnterpriseUser, Room
from tkroom.webapi.registry import Call, Param, method

ACCOUNT_CODES = ((5000, "userpassword missing (or both missing)"), (5101, "account missing"))


def _account(call: Call) -> tuple[str, str]:
    account, pw = call.p.get("account"), call.p.raw("userpassword")
    if not pw or not pw.strip():
        raise CodeError(5000)
    if not account:
        raise CodeError(5101)
    if len(account) > 100 or len(pw) > 100 or len(call.p.get("username") or "") > 200:
        raise CodeError(5101, "account and userpassword are at most 100 characters, username 200")
    return account, pw


@method("WebAPI", "companycreate", "Create a sub-enterprise with its administrator; answers its key.",
        (Param("companyname", required=True), Param("companydomain", required=True),
         Param("account", required=True, doc="the sub-enterprise administrator's account"),
         Param("username", doc="the administrator's name"),
         Param("userpassword", required=True, doc="the administrator's password")),
        ((4101, "companyname or companydomain missing or malformed"), *ACCOUNT_CODES,
         (5206, "the domain is taken")))
async def companycreate(call: Call) -> dict[str, Any]:
    parent = await call.company()
    name, domain = call.p.get("companyname"), call.p.get("companydomain")
    if not name or not domain or len(name) > 200:
        raise CodeError(4101, "companyname and companydomain are required")
    account, pw = _account(call)
    child = await create_company(call.s, name, domain, expires=parent.expires, parentid=parent.id,
                                 max_videotype=parent.max_videotype)
    call.s.add(EnterpriseUser(companyid=child.id, account=account, username=call.p.get("username") or account,
                              pwhash=await call.state.checker.hash(pw), created=int(time.time())))
    return {"companyid": child.id, "domain": child.domain, "authkey": child.authkey}


@method("WebAPI", "companydelete", "Delete a sub-enterprise of the caller (its rooms close).",
        (Param("companydomain", required=True),),
        ((4101, "companydomain missing"), (4001, "no enterprise with this domain"),
         (4108, "not a sub-enterprise of the caller")))
async def companydelete(call: Call) -> dict[str, Any]:
    parent = await call.company()
    domain = call.p.get("companydomain")
    if not domain:
        raise CodeError(4101)
    child = await by_domain(call.s, domain)
    if child is None or child.deleted:
        raise CodeError(4001)
    if child.parentid != parent.id:
        raise CodeError(4108, "Only the parent enterprise may delete a sub-enterprise")
    child.deleted = True
    call.uncache()
    await call.s.execute(update(Room).where(Room.companyid == child.id).values(deleted=True))
    return {}


URL_ATTRS = ("roomstartcallbackurl", "roomendcallbackurl", "roomloginouturl", "companyico")


@method("WebAPI", "companyattribute", "Set the enterprise's callback URLs and name; answers them all.",
        (Param("roomstartcallbackurl", doc="POSTed when a class begins"),
         Param("roomendcallbackurl", doc="POSTed when a class ends"),
         Param("roomloginouturl"), Param("companyname"), Param("companyico", doc="logo URL"),
         Param("livertmpurl", doc="RTMP URL (`rtmp://` or `rtmps://`) every live stream of the "
               "enterprise's rooms is also pushed to, `{serial}` replaced by the room number; "
               "empty: none (the node's `live_rtmp_url` then)"),
         Param("updateflag", "integer", doc="accepted for compatibility")),
        ((6001, "a URL that is not http(s), or a livertmpurl that is not rtmp(s)"),
         (4003, "companyname too long")))
async def companyattribute(call: Call) -> dict[str, Any]:
    c = await call.company()
    attrs = dict(c.attributes or {})
    for name in URL_ATTRS:
        v = call.p.get(name)
        if v is None:
            continue
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname or len(v) > 500:
            raise CodeError(6001, f"{name} must be an http(s) URL")
        attrs[name] = v
    rtmp = call.p.get("livertmpurl")
    if rtmp is not None:
        u = urlsplit(rtmp)
        if rtmp and (u.scheme not in ("rtmp", "rtmps") or not u.hostname or len(rtmp) > 500):
            raise CodeError(6001, "livertmpurl must be an rtmp:// or rtmps:// URL")
        attrs["livertmpurl"] = rtmp
    companyname = call.p.get("companyname")
    if companyname:
        if len(companyname) > 200:
            raise CodeError(4003, "companyname too long")
        c.name = companyname
    c.attributes = attrs
    call.uncache()
    return {"companyname": c.name, **{k: attrs.get(k, "") for k in (*URL_ATTRS, "livertmpurl")}}


@method("WebAPI", "useradd", "Register an enterprise user (for rooms with registeredonly=1).",
        (Param("account", required=True), Param("userpassword", required=True), Param("username")),
        (*ACCOUNT_CODES, (5206, "the account exists")))
async def useradd(call: Call) -> dict[str, Any]:
    c = await call.company()
    account, pw = _account(call)
    q = select(EnterpriseUser.id).where(EnterpriseUser.companyid == c.id, EnterpriseUser.account == account)
    if (await call.s.execute(q)).first():
        raise CodeError(5206, "This account exists")
    call.s.add(EnterpriseUser(companyid=c.id, account=account, username=call.p.get("username") or account,
                              pwhash=await call.state.checker.hash(pw), created=int(call.now)))
    return {"account": account}


@method("WebAPI", "userdelete", "Remove an enterprise user.", (Param("account", required=True),),
        ((5101, "account missing"), (4105, "no such account")))
async def userdelete(call: Call) -> dict[str, Any]:
    c = await call.company()
    account = call.p.get("account")
    if not account:
        raise CodeError(5101)
    q = select(EnterpriseUser).where(EnterpriseUser.companyid == c.id, EnterpriseUser.account == account)
    user = (await call.s.execute(q)).scalar_one_or_none()
    if user is None:
        raise CodeError(4105, "No such account")
    await call.s.delete(user)
    return {}
