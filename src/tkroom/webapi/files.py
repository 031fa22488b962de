"""Courseware files: uploadfile, getcompanyfiles, roombindfile, roomdeletefile, deletefile,
getroomfile. Files live under ``<data>/files/<companyid>/``; a random token in the download
path is what lets a client fetch one."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from tkroom.errors import CodeError
from tkroom.store.models import File, RoomFile
from tkroom.webapi.params import MAX_ID
from tkroom.webapi.registry import Call, Param, method
from tkroom.webapi.rooms import SERIAL, SERIAL_CODES

FILEIDARR = Param("fileidarr", "array", doc="file ids, PHP style: fileidarr[]=1&fileidarr[]=2")
CHUNK = 1 << 20


def file_dict(call: Call, f: File, rf: RoomFile | None = None) -> dict[str, Any]:
    base = str(call.request.base_url).rstrip("/")
    path = f"/download/file/{f.id}/{f.token}"
    return {
        "fileid": f.id, "companyid": f.companyid, "filename": f.filename, "size": f.size,
        "uploaduserid": f.uploaduserid, "uploadusername": f.uploadusername,
        "uploadtime": f.uploadtime, "filepath": path, "downloadpath": base + path,
        "swfpath": "", "pdfpath": "", "filetype": f.filetype, "pagenum": 1, "active": 1,
        "status": 1, "dynamicppt": int(f.dynamicppt), "isopen": int(f.isopen),
        "type": int(rf.isdefault) if rf else 0, "sort": rf.sort if rf else 0,
    }


async def room_files(call: Call, serial: str) -> list[dict[str, Any]]:
    q = (select(File, RoomFile).join(RoomFile, RoomFile.fileid == File.id)
         .where(RoomFile.serial == serial).order_by(RoomFile.sort, File.id))
    return [file_dict(call, f, rf) for f, rf in (await call.s.execute(q)).all()]


def _file_ids(call: Call) -> list[int]:
    raw = call.p.list("fileidarr") or call.p.list("fileid")
    if not raw:
        raise CodeError(4202)
    try:
        ids = {int(x) for x in raw}
    except ValueError as exc:
        raise CodeError(4202, "file ids are integers") from exc
    if any(not 0 < i <= MAX_ID for i in ids):
        raise CodeError(4105, "No such file")
    return sorted(ids)


async def _own_files(call: Call, ids: list[int]) -> list[File]:
    c = await call.company()
    rows = (await call.s.execute(select(File).where(File.id.in_(ids)))).scalars().all()
    if len(rows) != len(ids):
        raise CodeError(4105, "No such file")
    if any(f.companyid != c.id for f in rows):
        raise CodeError(4108, "A file belongs to another enterprise")
    return list(rows)


def _safe_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/"))
    return re.sub(r"[^\w.\-]+", "_", base)[:120] or "file"


async def _bind(call: Call, serial: str, ids: list[int], default: int | None) -> None:
    have = set((await call.s.execute(select(RoomFile.fileid).where(RoomFile.serial == serial))).scalars())
    new = [i for i in ids if i not in have]
    limit = call.state.settings.room_file_limit
    if len(have) + len(new) > limit:
        raise CodeError(4106, f"A room may have {limit} files")
    top = (await call.s.execute(select(func.max(RoomFile.sort)).where(RoomFile.serial == serial))).scalar()
    for n, fid in enumerate(new, start=(top or 0) + 1):
        call.s.add(RoomFile(serial=serial, fileid=fid, isdefault=False, sort=n))
    await call.s.flush()
    if default is not None:
        for rf in (await call.s.execute(select(RoomFile).where(RoomFile.serial == serial))).scalars():
            rf.isdefault = rf.fileid == default


@method("WebAPI", "uploadfile", "Upload a courseware file (multipart field filedata); answers fileid.",
        (Param("filedata", "file", True, "the file"),
         Param("serial", doc="bind the file to this room at once"),
         Param("isopen", "integer", doc="0/1: public to the whole enterprise"),
         Param("isdefault", "integer", doc="0/1: the room's default document (with serial)"),
         Param("dynamicppt", "integer", doc="0/1"),
         Param("conversion", "integer", doc="accepted and ignored: files are served as uploaded")),
        ((4202, "filedata missing"), (5017, "a flag not 0/1"), (4106, "the room's file limit"),
         (5206, "the file could not be written"), *SERIAL_CODES[1:]),
        multipart=True)
async def uploadfile(call: Call) -> dict[str, Any]:
    c = await call.company()
    up = call.p.file("filedata")
    if up is None or not up.filename:
        raise CodeError(4202, "filedata (the file) is required")
    isopen = call.p.flag("isopen", bad=5017)
    isdefault = call.p.flag("isdefault", bad=5017)
    dynamic = call.p.flag("dynamicppt", bad=5017)
    room = await call.own_room() if call.p.get("serial") else None
    folder = call.state.files_dir / str(c.id)
    name = _safe_name(up.filename)
    token = secrets.token_hex(16)
    dest = folder / f"{token}_{name}"
    size = await _save(up, dest, call.state.settings.max_upload_bytes)
    f = File(companyid=c.id, filename=name, size=size, path=str(dest), token=token,
             filetype=Path(name).suffix.lstrip(".").lower()[:20], isopen=isopen, dynamicppt=dynamic,
             uploadtime=int(call.now))
    call.s.add(f)
    await call.s.flush()
    if room is not None:
        await _bind(call, room.serial, [f.id], f.id if isdefault else None)
    return {"fileid": f.id}


async def _save(up: Any, dest: Path, limit: int) -> int:
    def _mk() -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)

    await asyncio.to_thread(_mk)
    size = 0
    try:
        with open(dest, "wb") as out:  # noqa: ASYNC230 - chunks are small; writes go to local disk
            while chunk := await up.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise CodeError(5206, f"Files are limited to {limit} bytes")
                out.write(chunk)
    except OSError as exc:
        await asyncio.to_thread(dest.unlink, missing_ok=True)
        raise CodeError(5206, "The file could not be written") from exc
    except CodeError:
        await asyncio.to_thread(dest.unlink, missing_ok=True)
        raise
    return size


@method("WebAPI", "getcompanyfiles", "The enterprise's files.", (), ((4105, "no file"),))
async def getcompanyfiles(call: Call) -> dict[str, Any]:
    c = await call.company()
    rows = (await call.s.execute(select(File).where(File.companyid == c.id).order_by(File.id))).scalars().all()
    if not rows:
        raise CodeError(4105, "No file")
    return {"companyfile": [file_dict(call, f) for f in rows]}


@method("WebAPI", "roombindfile", "Bind files to a room; fileid names the default document.",
        (SERIAL, FILEIDARR, Param("fileid", "integer", doc="the default document")),
        SERIAL_CODES + ((4202, "no file id"), (4105, "no such file"),
                        (4108, "a file of another enterprise"), (4106, "the room's file limit")))
async def roombindfile(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    ids = _file_ids(call)
    default = call.p.int("fileid", bad=4202, lo=1, hi=MAX_ID, out_of_range=4105)
    await _own_files(call, sorted(set(ids) | ({default} if default is not None else set())))
    await _bind(call, room.serial, ids, default)
    return {}


@method("WebAPI", "roomdeletefile", "Unbind files from a room.", (SERIAL, FILEIDARR),
        SERIAL_CODES + ((4202, "no file id"),))
async def roomdeletefile(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    ids = _file_ids(call)
    await call.s.execute(delete(RoomFile).where(RoomFile.serial == room.serial, RoomFile.fileid.in_(ids)))
    return {}


@method("WebAPI", "deletefile", "Delete files of the enterprise (and unbind them everywhere).",
        (FILEIDARR,), ((4202, "no file id"), (4105, "no such file"), (4108, "a file of another enterprise")))
async def deletefile(call: Call) -> dict[str, Any]:
    files = await _own_files(call, _file_ids(call))
    ids = [f.id for f in files]
    await call.s.execute(delete(RoomFile).where(RoomFile.fileid.in_(ids)))
    await call.s.execute(delete(File).where(File.id.in_(ids)))
    await call.s.flush()
    for f in files:
        await asyncio.to_thread(Path(f.path).unlink, missing_ok=True)
    return {}


@method("WebAPI", "getroomfile", "The files bound to a room.", (SERIAL,), SERIAL_CODES + ((4105, "no file"),))
async def getroomfile(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    files = await room_files(call, room.serial)
    if not files:
        raise CodeError(4105, "No file")
    return {"roomfile": files}
