"""The event log (``events.jsonl``) of a recording, written while the class is recorded.

``EventLog`` follows the recorded room's events in the room state (the same events every
client receives, in ``s`` order), appends each one students could see as a line, plus a
``track`` line whenever Janus starts or stops recording a publication. The format is
docs/recordings.md's; ``tkroom.rooms.scene`` reads it. The converted page images a class shows
are fetched from the storage into the recording's folder (``page-<fileid>_<page>.jpg``; a hard
link on a folder backend) so the recording stays whole when the document is deleted later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import IO, Any, Protocol

from tkroom.rooms.model import STUDENT, Event
from tkroom.rooms.scene import (
    SHOW_PAGE_ID,
    dumps,
    end_line,
    event_line,
    logged,
    start_line,
    track_line,
)
from tkroom.state.base import RoomState
from tkroom.storage.base import Storage

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"
# whom an event reaches: the log keeps what every student of the class saw (not what one
# group, one user or the teachers alone did)
_STUDENT_KINDS = frozenset(("all", "except_sender", "except_auditor"))


class PageFiles(Protocol):
    async def page_image(self, serial: str, fileid: int, page: int) -> str | None:
        """The storage key of the converted page's image, when the file belongs to the room's
        enterprise and is converted."""


def page_file(key: str) -> str:
    """The name of a shown page's image in the recording's folder."""
    return f"page-{key}.jpg"


def _seen_by_students(event: Event) -> bool:
    t = event.target
    return t.kind in _STUDENT_KINDS or (t.kind == "roles" and STUDENT in t.roles)


class EventLog:
    """One recording's log. ``start`` writes the first line and follows the room; ``track``
    records a media file; ``close`` writes the last line."""

    def __init__(self, state: RoomState, serial: str, folder: Path, started: float,
                 room: dict[str, Any], pages: PageFiles | None = None,
                 storage: Storage | None = None) -> None:
        self.state = state
        self.serial = serial
        self.folder = folder
        self.at_ms = int(started * 1000)
        self.room = room
        self.pages = pages
        self.storage = storage
        self.linked: set[str] = set()
        self._out: IO[str] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._early: list[dict[str, Any]] | None = []  # events before the first line

    @property
    def path(self) -> Path:
        return self.folder / EVENTS

    def _now(self) -> int:
        return max(0, int(time.time() * 1000) - self.at_ms)

    def _write(self, line: dict[str, Any]) -> None:
        if self._early is not None and line.get("kind") != "start":
            self._early.append(line)
            return
        if self._out is None:
            return
        self._out.write(dumps(line) + "\n")
        self._out.flush()

    async def start(self) -> None:
        """Subscribe first (live from then on), then write what the room holds now: a saved
        message changed in between shows twice, which readers tolerate (the later wins)."""
        self._out = await asyncio.to_thread(_open, self.path)
        await self.state.subscribe(self.serial, self._on_event)
        members = [m.public() for m in await self.state.get_members(self.serial)]
        for m in members:
            m["properties"].setdefault("role", STUDENT)
        saved = await self.state.messages(self.serial)
        self._write(start_line(self.at_ms, self.serial, self.room, members, saved))
        early, self._early = self._early or [], None
        for line in early:
            self._write(line)
        for msg in saved:
            self._maybe_page(msg)

    def _on_event(self, event: Event) -> None:
        if not logged(event.ev, event.data) or not _seen_by_students(event):
            return
        line = event_line(self._now(), event.ev, event.data)
        self._write(line)
        if event.ev == "pubMsg":
            self._maybe_page(event.data)

    def track(self, userid: str, stream_id: str, kind: str, base: str, on: bool) -> None:
        self._write(track_line(self._now(), userid, stream_id, kind, Path(base).name, on))

    def _maybe_page(self, msg: dict[str, Any]) -> None:
        """Keep the image of a shown courseware page in the folder (in the background)."""
        if self.pages is None or self.storage is None or msg.get("id") != SHOW_PAGE_ID:
            return
        data = msg.get("data") or {}
        fileid, page = data.get("fileid"), data.get("currpage")
        if not (isinstance(fileid, int) and isinstance(page, int) and fileid > 0 and page > 0):
            return
        key = f"{fileid}_{page}"
        if key in self.linked:
            return
        self.linked.add(key)
        task = asyncio.get_running_loop().create_task(self._link(key, fileid, page))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _link(self, key: str, fileid: int, page: int) -> None:
        assert self.pages is not None and self.storage is not None
        dest = self.folder / page_file(key)
        try:
            src = await self.pages.page_image(self.serial, fileid, page)
            if src and not await asyncio.to_thread(dest.exists):
                await self.storage.fetch(src, dest)
        except Exception:
            log.exception("recording %s: page %s not kept", self.folder.name, key)

    async def close(self) -> None:
        """The last line; stop following the room; wait for the page images."""
        self.state.unsubscribe(self.serial, self._on_event)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._write(end_line(self._now()))
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None


def _open(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8")  # noqa: SIM115 (kept open until close)
