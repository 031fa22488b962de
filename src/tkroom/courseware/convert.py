"""Converting one document into pages with the real tools, each a subprocess.

Office formats go through LibreOffice (``soffice --headless``, its own profile per job so jobs
run side by side), images through ffmpeg (scaled, re-encoded as JPEG and wrapped in a one-page
PDF), and every PDF is measured with ``pdfinfo`` and rendered with poppler's ``pdftoppm``.
Whatever a file does to a tool (crash, hang, eat memory), it happens in another process:
each runs in its own process group, killed whole when the document's time is up, so the node
only ever sees a ``ConversionError`` with a readable reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tkroom.rooms.courseware import (
    IMAGE,
    JPEG_QUALITY,
    OFFICE,
    PAGE_WIDTH,
    PDF_NAME,
    THUMB_WIDTH,
    page_name,
    pages_problem,
    progress,
    thumb_name,
)

CHUNK_PAGES = 8             # pages per pdftoppm run: progress is reported between runs
RENDER_MEMORY = 2 << 30     # address space of poppler and ffmpeg (LibreOffice needs more)
IMAGE_MAX_SIDE = 4096       # px: larger images are scaled down before becoming a page
OFFICE_SHARE = 30           # % of the progress bar the LibreOffice step stands for
_STDERR_KEEP = 4000


class ConversionError(Exception):
    """A document that cannot be converted; the message is what the user reads (statusmsg)."""


Progress = Callable[[int], Awaitable[None]]


def tools_missing() -> list[str]:
    """The programs conversion needs that are not installed."""
    return [t for t in ("soffice", "pdfinfo", "pdftoppm", "ffmpeg") if shutil.which(t) is None]


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (RENDER_MEMORY, RENDER_MEMORY))


async def run(cmd: list[str], deadline: float, *, limit_memory: bool = True,
              env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``cmd`` in a new process group until ``deadline`` (monotonic): (exit code, output,
    errors).
    At the deadline, or if the caller is cancelled, the whole group is killed (LibreOffice
    starts children of its own)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ConversionError("The conversion took too long")
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, env=env,
            preexec_fn=_limit_memory if limit_memory else None)
    except FileNotFoundError as exc:
        raise ConversionError(f"{cmd[0]} is not installed on the server") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), remaining)
    except TimeoutError as exc:
        raise ConversionError("The conversion took too long") from exc
    finally:
        if proc.returncode is None or _group_alive(proc.pid):
            _kill_group(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
    return (proc.returncode or 0, out.decode("utf-8", "replace"),
            err[-_STDERR_KEEP:].decode("utf-8", "replace"))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def convert(source: Path, kind: str, out: Path, work: Path, *, seconds: float,
                  max_pages: int, report: Progress) -> int:
    """Convert ``source`` (of ``kind``, see ``tkroom.rooms.courseware``) into ``out``: the PDF,
    page images and thumbnails. ``work`` is an empty folder of this job on the same file
    system as ``out``; ``out`` appears complete or not at all. Paths are absolute (LibreOffice
    resolves nothing relative). Returns the page count."""
    deadline = time.monotonic() + seconds
    start = 0
    if kind == OFFICE:
        pdf = await _office_pdf(source, work, deadline)
        start = OFFICE_SHARE
        await report(start)
    elif kind == IMAGE:
        pdf = await _image_pdf(source, work, deadline)
    else:
        pdf = source
    pages = await _page_count(pdf, deadline)
    if problem := pages_problem(pages, max_pages):
        raise ConversionError(problem)
    staged = work / "out"
    staged.mkdir()
    await asyncio.to_thread(_place, pdf, staged / PDF_NAME)
    for first in range(1, pages + 1, CHUNK_PAGES):
        last = min(pages, first + CHUNK_PAGES - 1)
        await _render(pdf, staged, first, last, PAGE_WIDTH, "page", deadline)
        await _render(pdf, staged, first, last, THUMB_WIDTH, "thumb", deadline)
        await report(progress(last, pages, start))
    await asyncio.to_thread(_publish, staged, out)
    return pages


async def _office_pdf(source: Path, work: Path, deadline: float) -> Path:
    ext = source.name.rsplit(".", 1)[-1].lower()
    src = work / f"source.{ext}"
    os.symlink(source, src)
    env = {**os.environ, "HOME": str(work)}  # nothing of the node's user's home
    profile = work / "profile"
    code, _, err = await run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--invisible",
         "--nologo", "--norestore", "--nolockcheck", "--nodefault", "--convert-to", "pdf",
         "--outdir", str(work / "pdf"), str(src)],
        deadline, limit_memory=False, env=env)
    pdf = work / "pdf" / "source.pdf"
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise ConversionError("LibreOffice could not read the document (damaged, password-"
                              f"protected or not a {ext.upper()} file){_detail(err, code)}")
    return pdf


async def _image_pdf(source: Path, work: Path, deadline: float) -> Path:
    jpg = work / "image.jpg"
    side = IMAGE_MAX_SIDE
    scale = f"scale='min({side},iw)':'min({side},ih)':force_original_aspect_ratio=decrease"
    code, _, err = await run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-frames:v", "1",
         "-vf", f"{scale},format=yuvj420p", "-q:v", "3", "-y", str(jpg)], deadline)
    if code != 0 or not jpg.is_file():
        raise ConversionError(f"The image could not be read (damaged or not an image){_detail(err, code)}")
    data = await asyncio.to_thread(jpg.read_bytes)
    size = jpeg_size(data)
    if size is None:
        raise ConversionError("The image could not be read")
    pdf = work / "image.pdf"
    await asyncio.to_thread(pdf.write_bytes, image_pdf(data, *size))
    return pdf


async def _page_count(pdf: Path, deadline: float) -> int:
    proc_code, out, err = await run(["pdfinfo", str(pdf)], deadline)
    if proc_code != 0:
        if "password" in err.lower():
            raise ConversionError("The PDF is password-protected")
        raise ConversionError(f"The file is not a readable PDF{_detail(err, proc_code)}")
    m = re.search(r"^Pages:\s+(\d+)", out, re.M)
    if m is None:
        raise ConversionError("The file is not a readable PDF (no page count)")
    return int(m.group(1))


async def _render(pdf: Path, staged: Path, first: int, last: int, width: int, prefix: str,
                  deadline: float) -> None:
    tmp = staged / f".{prefix}"
    tmp.mkdir(exist_ok=True)
    code, _, err = await run(
        ["pdftoppm", "-jpeg", "-jpegopt", f"quality={JPEG_QUALITY}", "-f", str(first), "-l", str(last), "-scale-to-x", str(width),
         "-scale-to-y", "-1", "-forcenum", "-sep", "-", str(pdf), str(tmp / "p")], deadline)
    made = {int(p.stem.rsplit("-", 1)[1]): p for p in tmp.glob("p-*.jpg")}
    missing = [n for n in range(first, last + 1) if n not in made]
    if code != 0 or missing:
        raise ConversionError(f"Page {missing[0] if missing else first} could not be rendered"
                              f"{_detail(err, code)}")
    name = page_name if prefix == "page" else thumb_name
    for n, p in made.items():
        p.rename(staged / name(n))


def _place(pdf: Path, dest: Path) -> None:
    try:
        os.link(os.path.realpath(pdf), dest)
    except OSError:
        shutil.copyfile(pdf, dest)


def _publish(staged: Path, out: Path) -> None:
    for tmp in staged.glob(".*"):
        shutil.rmtree(tmp, ignore_errors=True)
    if out.exists():  # an earlier attempt that got this far before its node stopped
        shutil.rmtree(out)
    staged.rename(out)


def _detail(err: str, code: int) -> str:
    lines = [ln.strip() for ln in err.splitlines()
             if ln.strip() and "javaldx" not in ln and not ln.startswith("convert ")]
    if not lines:
        return ""
    return f": {lines[-1][:150]}"


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a baseline or progressive JPEG's frame header."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def image_pdf(jpeg: bytes, width: int, height: int) -> bytes:
    """A one-page PDF showing a JPEG at its size (one point per pixel): the page an image
    becomes. The JPEG is embedded as is (DCTDecode); nothing here decodes it."""
    content = f"q {width} 0 0 {height} 0 0 cm /Im0 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
        f"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>".encode(),
        f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace "
        f"/DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length {len(jpeg)} >>\nstream\n".encode()
        + jpeg + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
