"""Room methods: roomcreate, roommodify, roomdelete, getroom, getroomlist, getroombytime."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import select

from tkroom.errors import CodeError
from tkroom.store.models import Company, Room
from tkroom.store.rooms import count_active, new_serial, room_dict
from tkroom.webapi.registry import Call, Param, method
from tkroom.webapi.roomparams import validate

ROOM_PARAMS = (
    Param("roomname", doc="room name, UTF-8, at most 200 characters"),
    Param("roomtype", "integer", doc="0 one-to-one, 3 one-to-many, 4 live, 6 meeting, 7 super large class, 8 cloud live"),
    Param("starttime", "integer", doc="start, Unix seconds"),
    Param("endtime", "integer", doc="end, Unix seconds, after starttime and not in the past"),
    Param("passwordrequired", "integer", doc="1: students need confuserpwd"),
    Param("chairmanpwd", doc="teacher password, 4-16 visible ASCII characters"),
    Param("assistantpwd", doc="assistant password"),
    Param("patrolpwd", doc="inspector (patrol) password"),
    Param("confuserpwd", doc="student password (required when passwordrequired=1)"),
    Param("allowsidelineuser", "integer", doc="1: live viewers (eavesdroppers) may enter"),
    Param("sidelineuserpwd", doc="live viewer password (required when allowsidelineuser=1)"),
    Param("maxusers", "integer", doc="student limit, 0-10000 (0: no limit)"),
    Param("maxsidelineusers", "integer", doc="live viewer limit, 0-100000"),
    Param("maxvideo", "integer", doc="video streams on stage, 1-32 (default 6)"),
    Param("maxaudio", "integer", doc="audio streams, 0-64 (0: no limit)"),
    Param("videotype", "integer", doc="0 176x144, 1 320x240, 2 640x480, 3 1280x720, 4 1920x1080, 6 960x540, 7 640x360, 8 320x180, 9 160x120, 11 960x720"),
    Param("videoframerate", "integer", doc="10, 15, 20, 25 or 30"),
    Param("roomlayout", "integer", doc="layout number 0-99"),
    Param("autoopenav", "integer", doc="0/1: open camera and microphone on entry"),
    Param("thirdroomid", doc="the integrator's own room id, at most 100 characters"),
    Param("singlelogin", "integer", doc="0/1 (ours): refuse a second login of the same user id (5208)"),
    Param("bigroomthreshold", "integer", doc="(ours) users above which the room switches to big-room mode, 1-100000"),
    Param("keepstate", "integer", doc="0/1 (ours): saved messages survive the room emptying"),
    Param("registeredonly", "integer", doc="0/1 (ours): only the enterprise's registered users may enter"),
    Param("evictseconds", "integer", doc="(ours) seconds an evicted user may not enter again, 0-86400 (default 180; 0: at once)"),
)
ROOM_CODES = (
    (4003, "roomname empty or too long"),
    (4011, "roomtype missing or not a known type"),
    (5004, "starttime or endtime missing"),
    (4004, "a time that is not Unix seconds"),
    (4005, "endtime not after starttime, or already past"),
    (5001, "passwordrequired missing or not 0/1"),
    (5002, "chairmanpwd missing"),
    (4006, "chairmanpwd format"),
    (5018, "assistantpwd missing"),
    (5019, "patrolpwd missing"),
    (5003, "confuserpwd missing while passwordrequired=1"),
    (4009, "confuserpwd format"),
    (5005, "allowsidelineuser=1 without sidelineuserpwd, or allowsidelineuser not 0/1"),
    (4010, "assistantpwd, patrolpwd or sidelineuserpwd format"),
    (5102, "two roles given the same password"),
    (5008, "maxusers not an integer"), (5009, "maxusers outside 0-10000"),
    (5010, "maxsidelineusers not an integer"), (5011, "maxsidelineusers outside 0-100000"),
    (5012, "maxvideo not an integer"), (5013, "maxvideo outside 1-32"),
    (5014, "maxaudio not an integer"), (5015, "maxaudio outside 0-64"),
    (5016, "videotype or videoframerate not one of the listed values"),
    (5020, "videotype above the enterprise's resolution limit"),
    (5017, "roomlayout, or one of our settings (autoopenav, singlelogin, keepstate, registeredonly, bigroomthreshold, evictseconds, thirdroomid), malformed"),
)
SERIAL = Param("serial", required=True, doc="room number")
SERIAL_CODES = ((5100, "serial missing"), (4007, "no such room, or deleted"), (4108, "the room belongs to another enterprise"))


async def _hash_all(call: Call, plain: dict[str, str]) -> dict[str, str]:
    """Hash the role passwords in parallel threads (Argon2id releases the GIL)."""
    hashes = await asyncio.gather(*(call.state.checker.hash(v) for v in plain.values()))
    return dict(zip(plain, hashes, strict=True))


@method("WebAPI", "roomcreate", "Create a room; answers its serial.", ROOM_PARAMS,
        ROOM_CODES + ((4103, "the enterprise's room quota is full"),))
async def roomcreate(call: Call) -> dict[str, Any]:
    c = await call.company()
    values, plain = await validate(call.p, c, call.now, call.state.checker)
    hashes = await _hash_all(call, plain)
    now = int(call.now)
    room = Room(serial=await new_serial(call.s), companyid=c.id, created=now, modified=now,
                **values, **hashes)
    if not c.max_rooms:
        call.s.add(room)
        await call.s.flush()
        return {"serial": room.serial}
    # Count and insert atomically: one creator per enterprise at a time on this node, and the
    # enterprise row locked (PostgreSQL) against the other nodes, until the commit.
    async with _quota_lock(c.id):
        await call.s.execute(select(Company.id).where(Company.id == c.id).with_for_update())
        if await count_active(call.s, c.id, call.now) >= c.max_rooms:
            raise CodeError(4103, f"The enterprise may have {c.max_rooms} rooms")
        call.s.add(room)
        await call.s.commit()
    return {"serial": room.serial}


_QUOTA_LOCKS: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def _quota_lock(companyid: int) -> asyncio.Lock:
    lock = _QUOTA_LOCKS.get(companyid)
    if lock is None:
        lock = _QUOTA_LOCKS[companyid] = asyncio.Lock()
    return lock


@method("WebAPI", "roommodify", "Change a room's settings; only the given fields change.",
        (SERIAL, *ROOM_PARAMS), SERIAL_CODES + ROOM_CODES)
async def roommodify(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    c = await call.company()
    values, plain = await validate(call.p, c, call.now, call.state.checker, room)
    for k, v in {**values, **await _hash_all(call, plain)}.items():
        setattr(room, k, v)
    room.modified = int(call.now)
    call.uncache(room.serial)
    return {"serial": room.serial}


@method("WebAPI", "roomdelete", "Delete a room: nobody can enter it any more (3003).", (SERIAL,), SERIAL_CODES)
async def roomdelete(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    room.deleted = True
    room.modified = int(call.now)
    call.uncache(room.serial)
    return {"serial": room.serial}


@method("WebAPI", "getroom", "One room's settings (no passwords).", (SERIAL,), SERIAL_CODES)
async def getroom(call: Call) -> dict[str, Any]:
    return {"room": room_dict(await call.own_room())}


@method("WebAPI", "getroomlist", "The enterprise's rooms.",
        (Param("timetype", "integer", doc="0 all (default), 1 current, 2 future, 3 history"),),
        ((4004, "timetype not 0-3"), (4105, "no room matches")))
async def getroomlist(call: Call) -> dict[str, Any]:
    c = await call.company()
    tt = call.p.int("timetype", default=0, bad=4004, lo=0, hi=3)
    now = int(call.now)
    q = select(Room).where(Room.companyid == c.id, Room.deleted.is_(False))
    if tt == 1:
        q = q.where(Room.starttime <= now, Room.endtime >= now)
    elif tt == 2:
        q = q.where(Room.starttime > now)
    elif tt == 3:
        q = q.where(Room.endtime < now)
    rooms = (await call.s.execute(q.order_by(Room.starttime, Room.serial))).scalars().all()
    if not rooms:
        raise CodeError(4105, "No room matches")
    return {"room": [room_dict(r) for r in rooms]}


@method("WebAPI", "getroombytime", "Rooms whose time overlaps [starttime, endtime].",
        (Param("starttime", "integer", True), Param("endtime", "integer", True)),
        ((5004, "starttime or endtime missing"), (4004, "not Unix seconds"),
         (4005, "endtime before starttime"), (4105, "no room matches")))
async def getroombytime(call: Call) -> dict[str, Any]:
    c = await call.company()
    start = call.p.int("starttime", missing=5004, bad=4004, lo=0, hi=2**40)
    end = call.p.int("endtime", missing=5004, bad=4004, lo=0, hi=2**40)
    if end < start:  # type: ignore[operator]
        raise CodeError(4005, "endtime before starttime")
    q = select(Room).where(
        Room.companyid == c.id, Room.deleted.is_(False), Room.starttime <= end, Room.endtime >= start
    )
    rooms = (await call.s.execute(q.order_by(Room.starttime, Room.serial))).scalars().all()
    if not rooms:
        raise CodeError(4105, "No room matches")
    return {"room": [room_dict(r) for r in rooms]}
