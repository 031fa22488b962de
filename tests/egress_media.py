"""Looking at a compositor's output the way a viewer would: a frame at a time, the colour of a
region, when a flash shows and a beep sounds (ffmpeg decodes; no numpy)."""

from __future__ import annotations

import array
import io
import json
import subprocess
from pathlib import Path
from typing import Any

from PIL import Image


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", str(path)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return json.loads(out)


def streams(path: Path) -> dict[str, dict[str, Any]]:
    """codec_type -> stream (the first of each)."""
    out: dict[str, dict[str, Any]] = {}
    for s in probe(path)["streams"]:
        out.setdefault(s["codec_type"], s)
    return out


def duration(path: Path) -> float:
    return float(probe(path)["format"]["duration"])


def frame_at(path: Path, t: float) -> Image.Image:
    png = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{t:.3f}", "-i", str(path),
                          "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"],
                         capture_output=True, check=True, timeout=60).stdout
    return Image.open(io.BytesIO(png)).convert("RGB")


def mean_color(img: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, float, float]:
    """Mean RGB of ``box`` (x, y, w, h)."""
    x, y, w, h = box
    region = img.crop((x, y, x + w, y + h)).resize((1, 1), Image.Resampling.BOX)
    r, g, b = region.getpixel((0, 0))
    return (r, g, b)


def close(a: tuple[float, ...], b: tuple[float, ...], tol: float = 24) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def flash_time(path: Path, box: tuple[int, int, int, int], level: float = 160) -> float | None:
    """The time of the first frame whose ``box`` is mostly white."""
    x, y, w, h = box
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-vf",
                          f"crop={w}:{h}:{x}:{y},scale=8:8,format=gray", "-f", "rawvideo",
                          "-"], capture_output=True, check=True, timeout=300).stdout
    times = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                            "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True, timeout=300).stdout.split()
    for n in range(min(len(raw) // 64, len(times))):
        if sum(raw[n * 64:(n + 1) * 64]) / 64 > level:
            return float(times[n].strip(","))
    return None


def beep_time(path: Path, level: float = 0.5) -> float | None:
    """When the audio first passes ``level`` of full scale (the beep over a quiet tone)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
                          "-ar", "48000", "-f", "s16le", "-"], capture_output=True, check=True,
                         timeout=300).stdout
    pcm = array.array("h", raw)
    limit = int(level * 32767)
    for i, v in enumerate(pcm):
        if v > limit or v < -limit:
            return i / 48000
    return None
