"""``SqlRoomDirectory``: the signalling plane's view of the store (tkroom.directory.RoomDirectory).

It also records class begin/end and queues the enterprise's class-state callbacks, and gives
the media plane the registered media servers (``media_servers``) and ``add_record`` to register
recordings.
It keeps the class records: each user's entries and exits (``login_events``, which also queue
the enterprise's ``roomloginouturl`` callback), closed answer cards and trophies.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tkroom.directory import RoomInfo
from tkroom.rooms.courseware import DONE, is_output, page_name
from tkroom.rooms.entry import check_entry
from tkroom.storage.base import pages_prefix
from tkroom.store.loginkeys import check_login_key
from tkroom.store.models import (
    AnswerCard,
    ChatMessage,
    ClassEvent,
    Company,
    File,
    Gift,
    Group,
    LoginEvent,
    MediaServer,
    Room,
)
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
        """Every enterprise's ``serveradd`` rows: the media plane places the rooms of their
        enterprise (``companyid``) on them, and talks to them with ``apisecret``."""
        async with self.sessions() as s:
            rows = (await s.execute(select(MediaServer).order_by(MediaServer.id))).scalars().all()
        return [{"serverid": m.id, "name": m.name, "ip": m.ip, "url": m.url,
                 "maxusers": m.maxusers, "companyid": m.companyid, "apisecret": m.apisecret}
                for m in rows]

    async def add_record(self, **kw: Any) -> str:
        """See RecordRepo.add: the media and egress planes register outputs."""
        return await self.records.add(**kw)

    async def login_event(self, serial: str, userid: str, *, entering: bool, ts_ms: int, role: int,
                          nickname: str, clienttype: str, address: str, sid: str) -> None:
        """One entry or exit (``login_events`` of one record)."""
        await self.login_events([{
            "serial": serial, "userid": userid, "entering": entering, "ts_ms": ts_ms,
            "role": role, "nickname": nickname, "clienttype": clienttype, "address": address,
            "sid": sid}])

    async def login_events(self, records: list[dict[str, Any]]) -> None:
        """Record entries and exits on their sessions' rows (whichever comes first creates a
        row: nodes record them independently) in one transaction, then queue the
        login/logout callbacks. When another node inserted one of these sessions' rows
        meanwhile, the batch is applied again: those rows are then found and updated."""
        for attempt in (1, 2):
            async with self.sessions() as s:
                try:
                    callbacks = await self._apply_logins(s, records)
                    await s.commit()
                    break
                except IntegrityError:
                    await s.rollback()
                    if attempt == 2:
                        raise
        for companyid, url, body in callbacks:
            await self.webhooks.enqueue(companyid, url, body)

    async def _apply_logins(self, s: AsyncSession, records: list[dict[str, Any]]
                            ) -> list[tuple[int, str, dict[str, Any]]]:
        """The records applied in order to their rows in ``s``; the callbacks they call for
        (enterprise, URL, body)."""
        rooms = {serial: await s.get(Room, serial) for serial in {r["serial"] for r in records}}
        companies = {cid: await s.get(Company, cid)
                     for cid in {room.companyid for room in rooms.values() if room is not None}}
        sids = {str(r["sid"])[:64] for r in records}
        rows = {row.sid: row for row in (await s.execute(
            select(LoginEvent).where(LoginEvent.sid.in_(sids)))).scalars()}
        callbacks: list[tuple[int, str, dict[str, Any]]] = []
        for r in records:
            sid, entering, ts_ms = str(r["sid"])[:64], bool(r["entering"]), int(r["ts_ms"])
            nickname, role = str(r["nickname"])[:200], int(r["role"])
            row = rows.get(sid)
            if row is None:
                row = rows[sid] = LoginEvent(sid=sid, serial=r["serial"][:20],
                                             userid=r["userid"][:100], nickname=nickname,
                                             role=role, clienttype="", address="")
                s.add(row)
            if entering:
                row.enter_ms = ts_ms
                row.nickname, row.role = nickname, role
            else:
                row.out_ms = ts_ms
            row.clienttype = row.clienttype or str(r["clienttype"])[:32]
            row.address = row.address or str(r["address"])[:64]
            room = rooms.get(r["serial"])
            company = companies.get(room.companyid) if room is not None else None
            url = (company.attributes or {}).get("roomloginouturl") if company else None
            if not url or company is None:
                continue
            body: dict[str, Any] = {
                "serial": r["serial"], "userid": r["userid"], "username": r["nickname"],
                "userrole": role, "type": "login" if entering else "logout",
                "time": ts_ms // 1000, "time_ms": ts_ms, "clienttype": row.clienttype,
                "ipaddress": row.address, "session": sid, "identify": secrets.token_hex(8)}
            if not entering and row.enter_ms is not None:
                body["entertime"] = row.enter_ms // 1000
                body["duration"] = max(0, ts_ms - row.enter_ms) // 1000
            callbacks.append((company.id, url, body))
        return callbacks

    async def save_answers(self, serial: str, qid: str, question: dict[str, Any],
                           answers: dict[str, list[int]], closed_ms: int) -> None:
        """Keep a closed card; closing the same card again replaces what was kept."""
        async with self.sessions() as s:
            row = await s.get(AnswerCard, (serial, qid))
            if row is None:
                s.add(AnswerCard(serial=serial, qid=qid, question=dict(question),
                                 answers={u: list(a) for u, a in answers.items()},
                                 closed_ms=int(closed_ms)))
            else:
                row.question = dict(question)
                row.answers = {u: list(a) for u, a in answers.items()}
                row.closed_ms = int(closed_ms)
            await s.commit()

    async def add_gift(self, serial: str, sender: str, receivers: list[str], ts_ms: int) -> None:
        """One row per receiver: ``getgiftinfo`` counts them."""
        async with self.sessions() as s:
            s.add_all([Gift(serial=serial, sender=sender[:100], receiver=r[:100], ts_ms=int(ts_ms))
                       for r in receivers])
            await s.commit()


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

    async def live_push_url(self, serial: str) -> str:
        """The enterprise's ``livertmpurl`` (``companyattribute``), or empty."""
        async with self.sessions() as s:
            room = await s.get(Room, serial)
            company = await s.get(Company, room.companyid) if room else None
        url = (company.attributes or {}).get("livertmpurl") if company else None
        return url if isinstance(url, str) else ""

    async def page_image(self, serial: str, fileid: int, page: int) -> str | None:
        """The storage key of a converted page of a file of the room's enterprise."""
        async with self.sessions() as s:
            room = await s.get(Room, serial)
            f = await s.get(File, fileid) if room is not None and 0 < fileid < 2**31 else None
        if f is None or room is None or f.companyid != room.companyid or \
                not (f.conversion and f.status == DONE and is_output(page_name(page), f.pagenum)):
            return None
        return pages_prefix(f.path) + page_name(page)
