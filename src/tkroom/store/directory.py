"""``SqlRoomDirectory``: the signalling plane's view of the store (tkroom.directory.RoomDirectory).

It also records class begin/end and queues the enterprise's class-state callbacks, and gives
the media plane the registered media servers (``media_servers``) and ``add_record`` to register
recordings.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from tkroom.directory import RoomInfo
from tkroom.rooms.courseware import DONE, is_output, output_dir, page_name
from tkroom.rooms.entry import check_entry
from tkroom.store.loginkeys import check_login_key
from tkroom.store.models import ChatMessage, ClassEvent, Company, File, Group, MediaServer, Room
from tkroom.store.records import RecordRepo
from tkroom.store.roomcache import RoomCache
from tkroom.store.rooms import entry, room_info
from tkroom.store.webhooks import WebhookWorker
from tkroom.tickets import Identity


class SqlRoomDirectory:
    def __init__(self, sessions: async_sessionmaker, webhooks: WebhookWorker, cache: RoomCache | None = None):
        self.sessions = sessions
        self.cache = cache
        self.webhooks = webhooks
        self.records = RecordRepo(sessions)

    async def room(self, serial: str) -> RoomInfo | None:
        hit = self.cache.get(serial) if self.cache is not None else None
        if hit is not None:
            return room_info(*hit)
        mark = self.cache.mark() if self.cache is not None else 0
        async with self.sessions() as s:
            row = (await s.execute(
                select(Room, Company).join(Company, Company.id == Room.companyid).where(Room.serial == serial)
            )).first()
        if row is None:
            return None
        if self.cache is not None:
            self.cache.put(row[0], row[1], mark)
        return room_info(row[0], row[1])

    async def verify_login_key(self, serial: str, loginkey: str, now: float) -> Identity:
        """The identity behind a login key: 5300 absent, 5301 bad, 4007 no room, 3003 room over,
        3002/3001 enterprise frozen or past its service period."""
        async with self.sessions() as s:
            room = await s.get(Room, serial)
            company = await s.get(Company, room.companyid) if room is not None else None
            check_entry(serial, entry(room, company), now)
            assert room is not None
            row = await check_login_key(s, serial, loginkey, now)
            return Identity(serial=serial, userid=row.userid, role=row.usertype, nickname=row.username,
                            companyid=room.companyid)

    async def group_exists(self, serial: str, groupid: str) -> bool:
        if not str(groupid).isdigit() or int(groupid) > 2**31 - 1:
            return False
        async with self.sessions() as s:
            g = await s.get(Group, int(groupid))
            return g is not None and g.serial == serial

    async def save_chat(self, serial: str, message: dict[str, Any]) -> None:
        """Keep a chat message: ``fromID``, ``nickname``, ``toID`` (``__all`` = public), ``message``,
        ``ts`` in milliseconds as the protocol stamps it; the store keeps Unix seconds, the unit
        of ``getroomchat``'s window."""
        to = str(message.get("toID", "__all"))
        text = message.get("message", "")
        async with self.sessions() as s:
            s.add(ChatMessage(serial=serial[:20], chattype=0 if to.startswith("__") else 2,
                              fromid=str(message.get("fromID", ""))[:100],
                              nickname=str(message.get("nickname", ""))[:200], toid=to[:100],
                              message=(text if isinstance(text, str) else str(text)).replace("\x00", ""),
                              ts=float(message.get("ts", 0)) / 1000.0))
            await s.commit()

    async def class_state(self, serial: str, classstate: int, ts: float, overclasstype: int = 0) -> None:
        """Record class begin (0) / end (1) and queue the POST to the enterprise's callback URL."""
        async with self.sessions() as s:
            s.add(ClassEvent(serial=serial, classstate=int(classstate), ts=ts))
            room = await s.get(Room, serial)
            company = await s.get(Company, room.companyid) if room else None
            await s.commit()
        if company is None:
            return
        attr = "roomstartcallbackurl" if classstate == 0 else "roomendcallbackurl"
        url = (company.attributes or {}).get(attr)
        if not url:
            return
        body: dict[str, Any] = {"serial": serial, "time": int(ts), "classstate": int(classstate),
                                "identify": secrets.token_hex(8)}
        if classstate == 1:
            body["overclasstype"] = int(overclasstype)
        await self.webhooks.enqueue(company.id, url, body)

    async def class_events(self, serial: str) -> list[tuple[int, float]]:
        async with self.sessions() as s:
            q = select(ClassEvent).where(ClassEvent.serial == serial).order_by(ClassEvent.id)
            return [(e.classstate, e.ts) for e in (await s.execute(q)).scalars()]

    async def media_servers(self) -> list[dict[str, Any]]:
        """Every enterprise's ``serveradd`` rows: the media plane places rooms on them."""
        async with self.sessions() as s:
            rows = (await s.execute(select(MediaServer).order_by(MediaServer.id))).scalars().all()
        return [{"serverid": m.id, "name": m.name, "ip": m.ip, "url": m.url,
                 "maxusers": m.maxusers} for m in rows]

    async def add_record(self, **kw: Any) -> str:
        """See RecordRepo.add: the media and egress planes register outputs."""
        return await self.records.add(**kw)

    async def update_record(self, recordid: str, **fields: Any) -> dict[str, Any] | None:
        """See RecordRepo.update; an output that becomes ready is announced to the
        enterprise's ``roomendcallbackurl`` as ``recordready`` (through the webhook worker)."""
        row = await self.records.update(recordid, **fields)
        if row is not None and fields.get("state") == 1:
            await self._record_ready(row)
        return row

    async def records_of(self, recording: str) -> list[dict[str, Any]]:
        return await self.records.of_recording(recording)

    async def _record_ready(self, row: dict[str, Any]) -> None:
        async with self.sessions() as s:
            room = await s.get(Room, row["serial"])
            company = await s.get(Company, room.companyid) if room else None
        url = (company.attributes or {}).get("roomendcallbackurl") if company else None
        if company is None or not url:
            return
        path = f"/download/record/{row['recordid']}/{row['token']}"
        await self.webhooks.enqueue(company.id, url, {
            "event": "recordready", "serial": row["serial"], "recordid": row["recordid"],
            "recordtype": row["recordtype"], "userid": row["userid"],
            "duration_ms": row["duration_ms"], "size": row["size"], "recordpath": path,
            "identify": secrets.token_hex(8)})

    async def page_image(self, serial: str, fileid: int, page: int) -> str | None:
        """A converted page of a file of the room's enterprise, if on this node's disk."""
        async with self.sessions() as s:
            room = await s.get(Room, serial)
            f = await s.get(File, fileid) if room is not None and 0 < fileid < 2**31 else None
        if f is None or room is None or f.companyid != room.companyid or \
                not (f.conversion and f.status == DONE and is_output(page_name(page), f.pagenum)):
            return None
        return str(output_dir(f.path) / page_name(page))
