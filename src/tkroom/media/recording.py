"""Server recording: Janus writes .mjr files; after the class they become playable files.

``janus-pp-rec`` turns each .mjr (one per track) into a .webm (VP8) or .opus file; ffmpeg then
muxes each publisher's tracks into one file without re-encoding, and composes one mixed file
with all cameras tiled and all audio mixed. Each result is handed to a ``RecordSink`` (the Web
API's records table) so ``getrecordlist`` lists it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class RecordSink(Protocol):
    """Where finished recordings are registered (the Web API's records table)."""

    async def add_record(self, serial: str, record: dict[str, Any]) -> None:
        """``record``: recordid, name, path, kind ('publisher' | 'mixed'), userid,
        starttime (ms), duration (s), size (bytes)."""


@dataclass
class TrackFile:
    """One publication's recording: the base name Janus was given."""

    stream_id: str
    base: str


async def _run(argv: Sequence[str], within: float = 600.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timed out"
    return proc.returncode or 0, out.decode(errors="replace")


async def probe(path: Path) -> dict[str, Any]:
    """``ffprobe``'s view of a file: format and streams."""
    rc, out = await _run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", str(path)], 60)
    if rc != 0:
        raise RuntimeError(f"ffprobe failed on {path}: {out[-300:]}")
    return json.loads(out)


async def mjr_to_media(mjr: Path) -> Path | None:
    """Convert one .mjr with janus-pp-rec to .webm (video) or .opus (audio)."""
    rc, header = await _run(["janus-pp-rec", "--header", str(mjr)], 60)
    kind = "video" if '"t": "v"' in header or '"t":"v"' in header or "video" in mjr.name \
        else "audio"
    out = mjr.with_suffix(".webm" if kind == "video" else ".opus")
    rc, text = await _run(["janus-pp-rec", str(mjr), str(out)])
    if rc != 0 or not out.exists() or out.stat().st_size == 0:
        log.warning("janus-pp-rec failed on %s: %s", mjr, text[-300:])
        return None
    return out


@dataclass
class RecordingJob:
    """One recording of one room, from start to the files it produced: this node's part of
    it. In a cluster every node with the class's media records its own publications into the
    one recording (the same ``id`` and folder); ``holder``: this node writes the event log and
    ends it (the lease's ``segment``, taken over from ``previous`` when above 1)."""

    serial: str
    folder: Path
    started: float
    ended: float = 0.0
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    node: str = ""
    holder: bool = True
    segment: int = 1
    previous: str = ""
    tracks: list[TrackFile] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def base_for(self, stream_id: str) -> str:
        """The file name (without suffix) Janus records ``stream_id`` under."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stream_id)
        node = f"{self.node}-" if self.node else ""  # nodes share the folder
        base = str(self.folder / f"{self.id}-{node}{safe}-{len(self.tracks)}")
        self.tracks.append(TrackFile(stream_id, base))
        return base

    def stopped(self, base: str) -> None:
        """A publication stopped recording (nothing to do: its files are complete)."""

    async def process(self, sink: RecordSink | None) -> list[Path]:
        """Turn the .mjr files into one file per publishing user and one mixed file."""
        try:
            await self._process(sink)
        except Exception:
            log.exception("recording %s failed", self.id)
        finally:
            self.done.set()
        return self.outputs

    async def _process(self, sink: RecordSink | None) -> None:
        per_user: dict[str, list[Path]] = {}
        for t in self.tracks:
            for mjr in sorted(Path(t.base).parent.glob(Path(t.base).name + "*.mjr")):
                media = await mjr_to_media(mjr)
                if media is not None:
                    per_user.setdefault(t.stream_id.split(":")[0], []).append(media)
        videos: list[Path] = []
        audios: list[Path] = []
        for userid, files in per_user.items():
            safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in userid)
            out = self.folder / f"{self.id}-{safe}.mkv"
            argv = ["ffmpeg", "-y", "-v", "error"]
            for f in files:
                argv += ["-i", str(f)]
            argv += [a for i in range(len(files)) for a in ("-map", str(i))]
            rc, text = await _run([*argv, "-c", "copy", str(out)])
            if rc != 0:
                log.warning("ffmpeg mux failed for %s: %s", userid, text[-300:])
                continue
            videos += [f for f in files if f.suffix == ".webm"]
            audios += [f for f in files if f.suffix == ".opus"]
            await self._register(sink, out, "publisher", userid)
        if videos or audios:
            mixed = self.folder / f"{self.id}-mixed.mkv"
            if await mix(videos, audios, mixed):
                await self._register(sink, mixed, "mixed", "")

    async def _register(self, sink: RecordSink | None, path: Path, kind: str,
                        userid: str) -> None:
        self.outputs.append(path)
        try:
            fmt = (await probe(path)).get("format", {})
            duration, size = float(fmt.get("duration") or 0.0), int(fmt.get("size") or 0)
        except (RuntimeError, ValueError):
            duration, size = 0.0, 0
        record = {"recordid": f"{self.id}-{len(self.outputs)}", "name": path.name,
                  "path": str(path), "kind": kind, "userid": userid,
                  "starttime": int(self.started * 1000), "duration": round(duration, 3),
                  "size": size}
        if sink is not None:
            await sink.add_record(self.serial, record)


async def mix(videos: list[Path], audios: list[Path], out: Path) -> bool:
    """All cameras tiled in a grid of 320x240 cells, all audio mixed, in one file."""
    inputs = [*videos, *audios]
    argv = ["ffmpeg", "-y", "-v", "error"]
    for f in inputs:
        argv += ["-i", str(f)]
    parts: list[str] = []
    maps: list[str] = []
    if videos:
        n = len(videos)
        cols = math.ceil(math.sqrt(n))
        for i in range(n):
            parts.append(f"[{i}:v]scale=320:240:force_original_aspect_ratio=decrease,"
                         f"pad=320:240:(ow-iw)/2:(oh-ih)/2,setsar=1[v{i}]")
        if n == 1:
            parts.append("[v0]null[vout]")
        else:
            layout = "|".join(f"{(i % cols) * 320}_{(i // cols) * 240}" for i in range(n))
            parts.append("".join(f"[v{i}]" for i in range(n)) +
                         f"xstack=inputs={n}:layout={layout}:fill=black[vout]")
        maps += ["-map", "[vout]", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
                 "-b:v", "1M"]
    if audios:
        base = len(videos)
        parts.append("".join(f"[{base + i}:a]" for i in range(len(audios))) +
                     f"amix=inputs={len(audios)}:duration=longest[aout]")
        maps += ["-map", "[aout]", "-c:a", "libopus"]
    rc, text = await _run([*argv, "-filter_complex", ";".join(parts), *maps, str(out)])
    if rc != 0:
        log.warning("ffmpeg mix failed: %s", text[-500:])
        return False
    return True


def tools_available() -> bool:
    return all(shutil.which(t) for t in ("janus-pp-rec", "ffmpeg", "ffprobe"))
