"""Breakout groups of a room: groupcreate, groupdelete, getgrouplist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tkroom.errors import CodeError
from tkroom.store.models import Group
from tkroom.webapi.params import MAX_ID
from tkroom.webapi.registry import Call, Param, method
from tkroom.webapi.rooms import SERIAL, SERIAL_CODES


@method("WebAPI", "groupcreate", "Create a group in a room; answers groupid.",
        (SERIAL, Param("groupname", required=True, doc="at most 200 characters")),
        SERIAL_CODES + ((4201, "groupname missing or too long"),))
async def groupcreate(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    name = call.p.get("groupname")
    if not name or len(name) > 200:
        raise CodeError(4201)
    g = Group(serial=room.serial, groupname=name, created=int(call.now))
    call.s.add(g)
    await call.s.flush()
    return {"groupid": str(g.id)}


@method("WebAPI", "groupdelete", "Delete a group of a room.",
        (SERIAL, Param("groupid", required=True)),
        SERIAL_CODES + ((4200, "groupid missing"), (4105, "no such group in this room")))
async def groupdelete(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    gid = call.p.get("groupid")
    if not gid:
        raise CodeError(4200)
    g = await call.s.get(Group, int(gid)) if gid.isdigit() and int(gid) <= MAX_ID else None
    if g is None or g.serial != room.serial:
        raise CodeError(4105, "No such group in this room")
    await call.s.delete(g)
    return {}


@method("WebAPI", "getgrouplist", "The groups of a room.", (SERIAL,), SERIAL_CODES + ((4105, "no group"),))
async def getgrouplist(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    rows = (await call.s.execute(select(Group).where(Group.serial == room.serial).order_by(Group.id))).scalars().all()
    if not rows:
        raise CodeError(4105, "No group")
    return {"grouplist": [{"groupid": str(g.id), "groupname": g.groupname, "createtime": g.created} for g in rows]}
