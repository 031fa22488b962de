"""The event log (``events.jsonl``) of a recording, written while the class is recorded.

``EventLog`` follows the recorded room's events in the room state (the same events every
client receives, in ``s`` order), appends each one students could see as a line, plus a
``track`` line whenever Janus starts or stops recording a publication. In a cluster only the
node holding the recording's lease writes it (a node taking over appends a ``segment`` line);
the others write their publications' ``track`` lines into their own ``tracks-<node>.jsonl``
(``TrackLog``), and ``read_log`` merges them. The format is
docs/recordings.md's; ``tkroom.rooms.scene`` reads it. The converted page images a class shows
are fetched from the storage into the recording's folder (``page-<fileid>_<page>.jpg``; a hard
link on a folder backend) so the recording stays whole when the document is deleted later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
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
    merge_logs,
    parse_log,
    segment_line,
    start_line,
    track_line,
)
from tkroom.state.base import RoomState
from tkroom.storage.base import Storage

log = logging.getLogger(__name__)

EVENTS = "events.jsonl"
TRACKS = "tracks-{node}.jsonl"
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


def read_log(folder: Path) -> list[dict[str, Any]]:
    """A recording's log as readers replay it: ``events.jsonl`` with the ``track`` lines of
    every node's ``tracks-<node>.jsonl`` merged in by time."""
    with open(folder / EVENTS, encoding="utf-8") as f:
        main = parse_log(f)
    others = []
    for path in sorted(folder.glob(TRACKS.format(node="*"))):
        with open(path, encoding="utf-8") as f:
            others.append(parse_log(f))
    return merge_logs(main, others)


class TrackLog:
    """A node's ``track`` lines for a recording whose event log another node writes."""

    def __init__(self, folder: Path, started: float, node: str) -> None:
        self.path = folder / TRACKS.format(node=node)
        self.at_ms = int(started * 1000)
        self.node = node
        self._out: IO[str] | None = None

    async def start(self) -> None:
        self._out = await asyncio.to_thread(_open, self.path, "a")

    def track(self, userid: str, stream_id: str, kind: str, base: str, on: bool) -> None:
        if self._out is None:
            return
        t = max(0, int(time.time() * 1000) - self.at_ms)
        self._out.write(dumps(track_line(t, userid, stream_id, kind, Path(base).name, on,
                                         self.node)) + "\n")
        self._out.flush()

    async def close(self) -> None:
        if self._out is not None:
            with contextlib.suppress(OSError):
                self._out.close()
            self._out = None


class EventLog:
    """One recording's log. ``start`` writes the first line (a ``segment`` line, appended,
    when ``segment`` says this node took the recording over) and follows the room; ``track``
    records a media file; ``close`` writes the last line."""

    def __init__(self, state: RoomState, serial: str, folder: Path, started: float,
                 room: dict[str, Any], pages: PageFiles | None = None,
                 storage: Storage | None = None, *, node: str = "",
                 segment: tuple[int, str] | None = None) -> None:
        self.node = node
        self.segment = segment  # (segment number, the previous holder) of a takeover
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
        if self._early is not None and line.get("kind") not in ("start", "segment"):
            self._early.append(line)
            return
        if self._out is None:
            return
        self._out.write(dumps(line) + "\n")
        self._out.flush()

    async def start(self) -> None:
        """Subscribe first (live from then on), then write what the room holds now: a saved
        message changed in between shows twice, which readers tolerate (the later wins)."""
        self._out = await asyncio.to_thread(_open, self.path, "a" if self.segment else "w")
        await self.state.subscribe(self.serial, self._on_event)
        members = [m.public() for m in await self.state.get_members(self.serial)]
        for m in members:
            m["properties"].setdefault("role", STUDENT)
        saved = await self.state.messages(self.serial)
        if self.segment:
            n, previous = self.segment
            self._write(segment_line(self._now(), n, self.node, previous, members, saved))
        else:
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
        self._write(track_line(self._now(), userid, stream_id, kind, Path(base).name, on,
                               self.node))

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


def _open(path: Path, mode: str = "w") -> IO[str]:
    """The log opened for writing; appending after a writer that died mid-line first ends
    that torn line, so it stays one line readers skip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if mode == "a" and path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    out = open(path, mode, encoding="utf-8")  # noqa: SIM115 (kept open until close)
    if torn:
        out.write("\n")
    return out
