"""What happened in a room: getroomchat (kept by the signalling plane) and getrecordlist
(recordings registered by the media plane)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tkroom.errors import CodeError
from tkroom.storage.base import record_key
from tkroom.store.models import ChatMessage, Record, Room
from tkroom.webapi.registry import Call, Param, method
from tkroom.webapi.rooms import SERIAL, SERIAL_CODES

JOB = "job.json"  # the compositor's job in a recording's folder (tkroom.egress.jobs.JOB)
TIME_PARAMS = (Param("starttime", "integer", doc="from, Unix seconds"),
               Param("endtime", "integer", doc="to, Unix seconds"))


def _window(call: Call) -> tuple[int, int]:
    start = call.p.int("starttime", default=0, bad=4004, lo=0, hi=2**40)
    end = call.p.int("endtime", default=2**40, bad=4004, lo=0, hi=2**40)
    if end < start:
        raise CodeError(4005, "endtime before starttime")
    return start, end


@method("WebAPI", "getroomchat", "The chat of a room: chattype 0 public, 2 private.",
        (SERIAL, Param("chattype", "integer", doc="0 public (default), 2 private"), *TIME_PARAMS),
        SERIAL_CODES + ((4004, "a time or chattype malformed"), (4005, "endtime before starttime"),
                        (4105, "no message")))
async def getroomchat(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    chattype = call.p.int("chattype", default=0, bad=4004)
    if chattype not in (0, 2):
        raise CodeError(4004, "chattype is 0 (public) or 2 (private)")
    start, end = _window(call)
    q = (select(ChatMessage).where(ChatMessage.serial == room.serial, ChatMessage.chattype == chattype,
                                   ChatMessage.ts >= start, ChatMessage.ts <= end)
         .order_by(ChatMessage.ts, ChatMessage.id).limit(10000))
    rows = (await call.s.execute(q)).scalars().all()
    if not rows:
        raise CodeError(4105, "No message")
    return {"chatlist": [{"fromid": m.fromid, "nickname": m.nickname, "toid": m.toid,
                          "message": m.message, "ts": m.ts, "chattype": m.chattype} for m in rows]}


RECORDTYPES = {0: "event playback", 1: "per-user MP4", 8: "merged MP4"}


def record_entry(base: str, r: Record) -> dict[str, Any]:
    """One output as the original platform lists it. ``playpath`` is what plays it: the
    playback page for event playback (0), the MP4 itself for 1 and 8; ``playpath_mp4`` the
    merged (or the user's) MP4, ``playpath_m4a`` the audio mix, each empty until made."""
    path = f"/download/record/{r.recordid}/{r.token}"
    files = r.files
    if files is None:  # a row from before the egress plane: its one file is the record
        play = mp4 = base + path
        m4a = ""
    else:
        mp4_name = next((f for f in files if f.endswith(".mp4")), "")
        mp4 = f"{base}{path}/{mp4_name}" if mp4_name else ""
        m4a = f"{base}{path}/audio.m4a" if "audio.m4a" in files else ""
        play = f"{base}/playback/{r.recordid}/{r.token}" if r.recordtype == 0 else mp4
    entry: dict[str, Any] = {
        "recordid": r.recordid, "serial": r.serial, "recordtitle": r.title,
        "starttime": r.starttime, "duration_ms": r.duration_ms, "duration": r.duration_ms // 1000,
        "size": r.size, "recordtype": r.recordtype, "kind": r.kind, "userid": r.userid,
        "webhost": base, "recordpath": path, "playpath": play, "https_playpath": play,
        "playpath_mp4": mp4, "https_playpath_mp4": mp4, "playpath_m4a": m4a,
        "https_playpath_m4a": m4a, "state": r.state}
    if r.reason:
        entry["reason"] = r.reason
    return entry


@method("WebAPI", "getrecordlist", "A room's recordings, one entry per output, with URLs served "
        "by the node (`state`: 0 processing, 1 ready, 2 failed with `reason`).",
        (Param("serial", doc="room number (or thirdroomid)"), Param("thirdroomid"), *TIME_PARAMS,
         Param("recordtype", "integer", doc="0 event playback, 1 per-user MP4, 8 merged MP4; "
               "absent: all")),
        SERIAL_CODES + ((4004, "a time or recordtype malformed"),
                        (4005, "endtime before starttime"), (4105, "no recording")))
async def getrecordlist(call: Call) -> dict[str, Any]:
    c = await call.company()
    if not call.p.get("serial") and call.p.get("thirdroomid"):
        q = select(Room).where(Room.companyid == c.id, Room.thirdroomid == call.p.get("thirdroomid"))
        room = (await call.s.execute(q)).scalars().first()
        if room is None:
            raise CodeError(4007)
    else:
        room = await call.own_room()
    start, end = _window(call)
    rtype = call.p.int("recordtype", default=None, bad=4004)
    if rtype is not None and rtype not in RECORDTYPES:
        raise CodeError(4004, "recordtype is 0 (event playback), 1 (per-user MP4) or 8 (merged MP4)")
    rq = select(Record).where(Record.serial == room.serial, Record.starttime >= start, Record.starttime <= end)
    if rtype is not None:
        rq = rq.where(Record.recordtype == rtype)
    rows = (await call.s.execute(rq.order_by(Record.starttime, Record.recordtype,
                                             Record.userid))).scalars().all()
    if not rows:
        raise CodeError(4105, "No recording")
    base = str(call.request.base_url).rstrip("/")
    out = [record_entry(base, r) for r in rows]
    data = call.state.settings.data_dir
    for entry, r in zip(out, rows, strict=True):
        if r.state == 0 and r.files is not None and r.recording:
            # the recording's folder on the node making it: <data>/media/records/<serial>/<id>/
            job = data / record_key(r.serial, r.recording, JOB)
            progress = await asyncio.to_thread(_progress, job)
            if progress is not None:
                entry["progress"] = progress
    return {"recordlist": out}



def _progress(job: Path) -> float | None:
    """How far the compositor is (its ``job.json`` in the recording's folder, on the node
    making it; docs/recordings.md); 0 before it starts; None on another node."""
    try:
        p = json.loads(job.read_text(encoding="utf-8")).get("progress", 0)
    except OSError:
        return None
    except (ValueError, AttributeError):
        return 0.0
    return float(p) if isinstance(p, int | float) and 0 <= p <= 1 else 0.0
