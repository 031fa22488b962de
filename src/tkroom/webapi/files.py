"""Courseware files: uploadfile, getcompanyfiles, roombindfile, roomdeletefile, deletefile,
getroomfile, delroomfile, and the ClientAPI's uploadfile and delroomfile for the classroom
page. Files live in the node's storage (``tkroom.storage``: a folder or S3, reached by every
node of a cluster when shared) under ``files_key``, a converted document's pages under
``pages_prefix`` of that key; ``File.path`` holds the key (an absolute path for rows written
before storage existed, which the folder backend still opens). A random token in the download
path is what lets a client fetch one. Conversion itself is the courseware plane's
(``tkroom.courseware``): here a document is only queued."""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from tkroom import tickets
from tkroom.errors import CodeError
from tkroom.roles import SUPER_ROLES
from tkroom.rooms.courseware import (
    DONE,
    FAILED,
    PDF_NAME,
    QUEUED,
    conversion_kind,
    page_name,
    source_problem,
    thumb_name,
)
from tkroom.storage.base import StorageError, TooLarge, files_key, pages_prefix
from tkroom.store.models import File, Room, RoomFile
from tkroom.webapi.access import enterable_room
from tkroom.webapi.params import MAX_ID
from tkroom.webapi.registry import Call, Param, method
from tkroom.webapi.rooms import SERIAL, SERIAL_CODES

log = logging.getLogger("tkroom.webapi")

FILEIDARR = Param("fileidarr", "array", doc="file ids, PHP style: fileidarr[]=1&fileidarr[]=2")
CHUNK = 1 << 20


def file_dict(call: Call, f: File, rf: RoomFile | None = None) -> dict[str, Any]:
    return file_entry(str(call.request.base_url).rstrip("/"), f, rf)


def file_entry(base: str, f: File, rf: RoomFile | None = None) -> dict[str, Any]:
    """A file as getroomfile lists it, its URLs under ``base`` (the playback page reuses it)."""
    path = f"/download/file/{f.id}/{f.token}"
    pages = range(1, f.pagenum + 1) if f.conversion and f.status == DONE else range(0)
    return {
        "fileid": f.id, "companyid": f.companyid, "filename": f.filename, "size": f.size,
        "uploaduserid": f.uploaduserid, "uploadusername": f.uploadusername,
        "uploadtime": f.uploadtime, "filepath": path, "downloadpath": base + path,
        "swfpath": "", "pdfpath": f"{base}{path}/{PDF_NAME}" if pages else "",
        "filetype": f.filetype, "pagenum": f.pagenum, "active": 1,
        "status": f.status, "statusmsg": f.statusmsg, "progress": f.progress,
        "pageimages": [f"{base}{path}/{page_name(n)}" for n in pages],
        "thumbnails": [f"{base}{path}/{thumb_name(n)}" for n in pages],
        "dynamicppt": int(f.dynamicppt), "isopen": int(f.isopen),
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


CONVERSION_DOC = ("1: convert a PDF, Office document (ppt/pptx/doc/docx/xls/xlsx/odp/odt...) or "
                  "image into page images and a PDF (status, progress, pageimages in getroomfile); "
                  "other formats are kept as uploaded")


@method("WebAPI", "uploadfile", "Upload a courseware file (multipart field filedata); answers fileid.",
        (Param("filedata", "file", True, "the file"),
         Param("serial", doc="bind the file to this room at once"),
         Param("isopen", "integer", doc="0/1: public to the whole enterprise"),
         Param("isdefault", "integer", doc="0/1: the room's default document (with serial)"),
         Param("dynamicppt", "integer", doc="0/1"),
         Param("conversion", "integer", doc=CONVERSION_DOC + " (default 0)")),
        ((4202, "filedata missing"), (5017, "a flag not 0/1"), (4106, "the room's file limit"),
         (5206, "over the upload limit, or the file storage could not store it"), *SERIAL_CODES[1:]),
        multipart=True)
async def uploadfile(call: Call) -> dict[str, Any]:
    c = await call.company()
    up = _upload(call)
    isopen = call.p.flag("isopen", bad=5017)
    isdefault = call.p.flag("isdefault", bad=5017)
    dynamic = call.p.flag("dynamicppt", bad=5017)
    conversion = call.p.flag("conversion", bad=5017)
    room = await call.own_room() if call.p.get("serial") else None
    f = await _store(call, c.id, up, conversion=conversion, isopen=isopen, dynamic=dynamic)
    if room is not None:
        await _bind_new(call, f, room.serial, f.id if isdefault else None)
    await _queued(call, f)
    return {"fileid": f.id}


def _upload(call: Call) -> Any:
    up = call.p.file("filedata")
    if up is None or not up.filename:
        raise CodeError(4202, "filedata (the file) is required")
    return up


async def _store(call: Call, companyid: int, up: Any, *, conversion: bool, isopen: bool = False,
                 dynamic: bool = False, userid: str = "", username: str = "") -> File:
    """Stream the upload into the storage and add its row; a document to convert is queued
    (or failed at once when it is empty or too large to convert)."""
    name = _safe_name(up.filename)
    token = secrets.token_hex(16)
    key = files_key(companyid, token, name)
    size = await _save(call, up, key)
    filetype = Path(name).suffix.lstrip(".").lower()[:20]
    f = File(companyid=companyid, filename=name, size=size, path=key, token=token,
             filetype=filetype, isopen=isopen, dynamicppt=dynamic, uploadtime=int(call.now),
             uploaduserid=userid[:100], uploadusername=username[:200])
    if conversion and conversion_kind(filetype):
        problem = source_problem(size, call.state.settings.convert_max_bytes)
        f.conversion, f.node, f.progress, f.pagenum = True, call.state.node_id, 0, 0
        f.status, f.statusmsg = (FAILED, problem) if problem else (QUEUED, "")
    call.s.add(f)
    try:
        await call.s.flush()
    except BaseException:
        await _remove(call, key)
        raise
    return f


async def _bind_new(call: Call, f: File, serial: str, default: int | None) -> None:
    """Bind a just-stored file; when the room refuses it (4106), its bytes go too."""
    try:
        await _bind(call, serial, [f.id], default)
    except BaseException:
        await _remove(call, f.path)
        raise


async def _queued(call: Call, f: File) -> None:
    """Commit, then tell the converter (it reads the queue in its own session)."""
    await call.s.commit()
    if f.status == QUEUED:
        call.state.wake_converter()


async def _save(call: Call, up: Any, key: str) -> int:
    """The upload's bytes into the storage, a chunk at a time; its size."""
    limit = call.state.settings.max_upload_bytes

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await up.read(CHUNK):
            yield chunk

    try:
        return await call.state.storage.put_stream(key, chunks(), limit=limit)
    except TooLarge as exc:
        raise CodeError(5206, f"Files are limited to {limit} bytes") from exc
    except (StorageError, OSError) as exc:
        log.warning("upload %s: the storage refused it: %s", key, exc)
        raise CodeError(5206, f"The file could not be stored: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """What a user may read of a storage failure (the backend's message, else its kind)."""
    text = str(exc).strip() if isinstance(exc, StorageError) else ""
    return text[:200] or "the file storage is unavailable"


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
    await call.s.commit()
    for f in files:
        await _remove(call, f.path)
    return {}


async def _remove(call: Call, key: str) -> None:
    """A file's objects: the upload and its pages. Called once its row is gone, so a storage
    failure here leaves only unreachable bytes behind: logged, not the caller's error."""
    storage = call.state.storage
    try:
        await storage.delete(key)
        await storage.delete_prefix(pages_prefix(key))
    except (StorageError, OSError):
        log.exception("file %s: its objects could not be removed from the storage", key)


FILEID = Param("fileid", "integer", True, "the file")


async def _delete_from_room(call: Call, room: Room) -> None:
    """Unbind a file from the room; when no other room uses it, delete it with its pages."""
    fid = call.p.int("fileid", missing=4202, bad=4202, lo=1, hi=MAX_ID, out_of_range=4105)
    if fid is None:
        raise CodeError(4202, "fileid is required")
    bound = await call.s.get(RoomFile, (room.serial, fid))
    f = await call.s.get(File, fid)
    if bound is None or f is None or f.companyid != room.companyid:
        raise CodeError(4105, f"No file {fid} in room {room.serial}")
    await call.s.delete(bound)
    await call.s.flush()
    others = (await call.s.execute(select(func.count()).select_from(RoomFile)
                                   .where(RoomFile.fileid == fid))).scalar()
    if not others:
        await call.s.delete(f)
        await call.s.commit()
        await _remove(call, f.path)


@method("WebAPI", "delroomfile",
        "Remove a file from a room; a file no other room uses is deleted with its pages.",
        (SERIAL, FILEID), SERIAL_CODES + ((4202, "fileid missing"), (4105, "no such file in the room")))
async def delroomfile(call: Call) -> dict[str, Any]:
    await _delete_from_room(call, await call.own_room())
    return {}


TICKET = Param("ticket", required=True,
               doc="the join ticket checkroom gave (accepted for file calls for "
                   "TKROOM_FILE_TICKET_HOURS after issue)")
TICKET_CODES = (
    (5100, "serial missing"), (4007, "no such room"),
    (3003, "the room was deleted or its endtime has passed"), (3002, "the enterprise is frozen"),
    (3001, "the enterprise's service period has ended"),
    (4108, "no ticket, or the ticket of a student, viewer, inspector or another room"),
    (5301, "the ticket is malformed, forged or too old"),
)


async def _teacher(call: Call) -> tuple[Room, tickets.Identity]:
    """The room of ``serial`` and the identity of a teacher's or assistant's ticket for it."""
    room, _ = await enterable_room(call, call.p.get("serial"))
    raw = call.p.get("ticket")
    if not raw:
        raise CodeError(4108, "ticket (the join ticket of checkroom) is required")
    grace = call.state.settings.file_ticket_hours * 3600
    ident = tickets.verify(call.state.secret, raw, call.now, grace=grace)
    if ident.serial != room.serial:
        raise CodeError(4108, "This ticket is for another room")
    if ident.role not in SUPER_ROLES:
        raise CodeError(4108, "Only the teacher or an assistant may change the room's files")
    return room, ident


@method("ClientAPI", "uploadfile",
        "Upload a courseware file into the room from the classroom (teacher or assistant); "
        "answers fileid.",
        (Param("serial", required=True, doc="room number"), TICKET,
         Param("filedata", "file", True, "the file"),
         Param("conversion", "integer", doc=CONVERSION_DOC + " (default 1)")),
        TICKET_CODES + ((4202, "filedata missing"), (5017, "conversion not 0/1"),
                        (4106, "the room's file limit"), (5206, "over the upload limit, or the file storage could not store it")),
        key=False, multipart=True)
async def client_uploadfile(call: Call) -> dict[str, Any]:
    room, ident = await _teacher(call)
    up = _upload(call)
    conversion = call.p.flag("conversion", default=True, bad=5017)
    f = await _store(call, room.companyid, up, conversion=conversion, userid=ident.userid,
                     username=ident.nickname)
    await _bind_new(call, f, room.serial, None)
    await _queued(call, f)
    return {"fileid": f.id}


@method("ClientAPI", "delroomfile",
        "Remove a file from the room from the classroom (teacher or assistant); a file no "
        "other room uses is deleted with its pages.",
        (Param("serial", required=True, doc="room number"), TICKET, FILEID),
        TICKET_CODES + ((4202, "fileid missing"), (4105, "no such file in the room")),
        key=False)
async def client_delroomfile(call: Call) -> dict[str, Any]:
    room, _ = await _teacher(call)
    await _delete_from_room(call, room)
    return {}


@method("WebAPI", "getroomfile", "The files bound to a room.", (SERIAL,), SERIAL_CODES + ((4105, "no file"),))
async def getroomfile(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    files = await room_files(call, room.serial)
    if not files:
        raise CodeError(4105, "No file")
    return {"roomfile": files}
