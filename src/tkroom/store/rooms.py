"""Rooms in the store: how a row becomes the RoomInfo and the JSON the APIs answer."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tkroom.directory import RoomInfo
from tkroom.roles import ASSISTANT, INSPECTOR, STUDENT, TEACHER, VIEWER
from tkroom.rooms.entry import Enterprise, Entry
from tkroom.store.models import Company, Room

ROLE_PASSWORD = {  # the room's column holding each role's password
    TEACHER: "chairmanpwd",
    ASSISTANT: "assistantpwd",
    STUDENT: "confuserpwd",
    VIEWER: "sidelineuserpwd",
    INSPECTOR: "patrolpwd",
}
PUBLIC_FIELDS = (
    "serial", "companyid", "roomname", "roomtype", "starttime", "endtime", "passwordrequired",
    "allowsidelineuser", "maxusers", "maxsidelineusers", "maxvideo", "maxaudio", "videotype",
    "videoframerate", "roomlayout", "autoopenav", "thirdroomid", "singlelogin",
    "bigroomthreshold", "keepstate", "registeredonly", "evictseconds",
)
# videotype -> (width, height); the numbers are the original platform's.
RESOLUTIONS = {
    0: (176, 144), 1: (320, 240), 2: (640, 480), 3: (1280, 720), 4: (1920, 1080),
    6: (960, 540), 7: (640, 360), 8: (320, 180), 9: (160, 120), 11: (960, 720),
}


def room_dict(room: Room) -> dict[str, Any]:
    """A room's settings as the APIs show them: never a password hash."""
    d: dict[str, Any] = {}
    for f in PUBLIC_FIELDS:
        v = getattr(room, f)
        d[f] = int(v) if isinstance(v, bool) else v
    w, h = RESOLUTIONS.get(room.videotype, (640, 480))
    d["videowidth"], d["videoheight"] = w, h
    return d


def enterprise(company: Company | None) -> Enterprise:
    """What entering a room needs to know of its enterprise (a missing row: deleted)."""
    if company is None:
        return Enterprise(deleted=True)
    return Enterprise(deleted=company.deleted, frozen=company.frozen, expires=company.expires)


def entry(room: Room | None, company: Company | None) -> Entry | None:
    """What ``check_entry`` needs to know of a room row (None: no such room)."""
    if room is None:
        return None
    return Entry(deleted=room.deleted, endtime=room.endtime, enterprise=enterprise(company))


def room_info(room: Room, company: Company | None) -> RoomInfo:
    return RoomInfo(
        serial=room.serial,
        companyid=room.companyid,
        roomname=room.roomname,
        roomtype=room.roomtype,
        starttime=room.starttime,
        endtime=room.endtime,
        maxusers=room.maxusers,
        maxsidelineusers=room.maxsidelineusers,
        allowsidelineuser=room.allowsidelineuser,
        maxvideo=room.maxvideo,
        maxaudio=room.maxaudio,
        videotype=room.videotype,
        videoframerate=room.videoframerate,
        singlelogin=room.singlelogin,
        bigroomthreshold=room.bigroomthreshold,
        keepstate=room.keepstate,
        evictseconds=room.evictseconds,
        deleted=room.deleted,
        extra={
            "thirdroomid": room.thirdroomid,
            "roomlayout": room.roomlayout,
            "registeredonly": room.registeredonly,
            "autoopenav": room.autoopenav,
            "passwordrequired": room.passwordrequired,
        },
        enterprise=enterprise(company),
    )


async def new_serial(s: AsyncSession) -> str:
    """A fresh random 10-digit room number."""
    while True:
        serial = str(secrets.randbelow(9 * 10**9) + 10**9)
        if await s.get(Room, serial) is None:
            return serial


async def count_active(s: AsyncSession, companyid: int, now: float) -> int:
    """Rooms that count against the enterprise's quota: not deleted and not over."""
    q = select(func.count()).select_from(Room).where(
        Room.companyid == companyid, Room.deleted.is_(False), Room.endtime >= int(now)
    )
    return int((await s.execute(q)).scalar_one())
