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
import functools
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
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
GUARD_S = 2.0               # the tool's own guard fires this long after the node would


class ConversionError(Exception):
    """A document that cannot be converted; the message is what the user reads (statusmsg)."""


Progress = Callable[[int], Awaitable[None]]


def tools_missing() -> list[str]:
    """The programs conversion needs that are not installed."""
    return [t for t in ("soffice", "pdfinfo", "pdftoppm", "ffmpeg") if shutil.which(t) is None]


@functools.cache
def offline_prefix() -> tuple[str, ...]:
    """``unshare -rn`` when this machine lets a process give itself a network namespace of its
    own (no network at all, not even the node's loopback), else nothing. A document can make
    LibreOffice fetch what it links to; isolated, it reaches nothing."""
    try:
        ok = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return ("unshare", "-rn") if ok else ()


# LibreOffice opens what a document links to (a linked picture is drawn into the PDF): it runs
# where the node's folders are not there. In a user, network and mount namespace of its own
# this script shows the job's folder at $2, mounts an empty tmpfs over each folder to hide
# (the data folder: the secret, the database, every enterprise's files; the node user's home),
# and runs the command.
SANDBOX = r"""
set -e
job=$1; view=$2; shift 2
mount --bind "$job" "$view"
while [ "$1" != "--" ]; do mount -t tmpfs -o size=64k,mode=000 tkroom-hidden "$1"; shift; done
shift
export HOME="$view"
cd "$view"
exec "$@"
"""


@functools.cache
def sandbox_ready() -> bool:
    """Whether ``SANDBOX`` works here (user namespaces that may mount; not in every container)."""
    with tempfile.TemporaryDirectory(prefix="tkroom-sandbox-") as tmp:
        dirs = [Path(tmp, d) for d in ("job", "view", "hide")]
        for d in dirs:
            d.mkdir()
        try:
            return subprocess.run(["unshare", "-rnm", "sh", "-c", SANDBOX, "sh", *map(str, dirs),
                                   "--", "true"], capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (RENDER_MEMORY, RENDER_MEMORY))


async def run(cmd: list[str], deadline: float, *, limit_memory: bool = True,
              env: dict[str, str] | None = None, offline: bool = True) -> tuple[int, str, str]:
    """Run ``cmd`` in a new process group until ``deadline`` (monotonic): (exit code, output,
    errors).

    At the deadline, or if the caller is cancelled, the whole group is killed (LibreOffice
    starts children of its own). The command runs under coreutils' ``timeout``, which kills
    the group a moment after the deadline by itself: even if the node is killed, no tool it
    started outlives its document's time. Where the machine allows, it runs without network
    (``offline_prefix``; ``offline=False`` when ``cmd`` isolates itself)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ConversionError("The conversion took too long")
    if shutil.which(cmd[0]) is None:
        raise ConversionError(f"{cmd[0]} is not installed on the server")
    guard = ["timeout", "--signal=KILL", f"{remaining + GUARD_S:.1f}",
             *(await asyncio.to_thread(offline_prefix) if offline else ())]
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *guard, *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True, env=env,
        preexec_fn=_limit_memory if limit_memory else None))
    try:
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:  # cancelled while starting: the process still starts
        started = await spawn
        _kill_group(started.pid)
        await started.wait()
        raise
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
                  max_pages: int, report: Progress, hide: tuple[Path, ...] = ()) -> int:
    """Convert ``source`` (of ``kind``, see ``tkroom.rooms.courseware``) into ``out``: the PDF,
    page images and thumbnails. ``work`` is an empty folder of this job on the same file
    system as ``out``; ``out`` appears complete or not at all. Paths are absolute (LibreOffice
    resolves nothing relative). LibreOffice runs where the folders ``hide`` are empty (when the
    machine allows: ``sandbox_ready``). Returns the page count."""
    deadline = time.monotonic() + seconds
    start = 0
    if kind == OFFICE:
        pdf = await _office_pdf(source, work, deadline, hide)
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
    await asyncio.to_thread(staged.mkdir)
    await asyncio.to_thread(_place, pdf, staged / PDF_NAME)
    for first in range(1, pages + 1, CHUNK_PAGES):
        last = min(pages, first + CHUNK_PAGES - 1)
        await _render(pdf, staged, first, last, PAGE_WIDTH, "page", deadline)
        await _render(pdf, staged, first, last, THUMB_WIDTH, "thumb", deadline)
        await report(progress(last, pages, start))
    await asyncio.to_thread(_publish, staged, out)
    return pages


async def _office_pdf(source: Path, work: Path, deadline: float, hide: tuple[Path, ...]) -> Path:
    ext = source.name.rsplit(".", 1)[-1].lower()
    name = f"source.{ext}"
    await asyncio.to_thread(shutil.copyfile, source, work / name)  # the source's folder is hidden
    view, prefix = work, []
    if await asyncio.to_thread(sandbox_ready):
        # named after the job's folder (the worker's and the job's ids): whose it is shows
        view = Path(await asyncio.to_thread(
            tempfile.mkdtemp, prefix=f"tkroom-lo-{work.parent.name}-{work.name}-"))
        hidden = [str(h) for h in hide if _hideable(h, view)]
        prefix = ["unshare", "-rnm", "sh", "-c", SANDBOX, "sh", str(work), str(view), *hidden, "--"]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")}
    env["HOME"] = str(view)  # nothing of the node's user's home, nor its environment
    try:
        _, _, err = await run(
            [*prefix, "soffice", f"-env:UserInstallation={(view / 'profile').as_uri()}",
             "--headless", "--invisible", "--nologo", "--norestore", "--nolockcheck",
             "--nodefault", "--convert-to", "pdf", "--outdir", str(view / "pdf"), str(view / name)],
            deadline, limit_memory=False, env=env, offline=not prefix)
    finally:
        if view != work:
            await asyncio.to_thread(os.rmdir, view)
    pdf = work / "pdf" / "source.pdf"
    if not await asyncio.to_thread(_nonempty, pdf):
        raise ConversionError("LibreOffice could not read the document (damaged, password-"
                              f"protected or not a {ext.upper()} file){_detail(err)}")
    return pdf


async def _image_pdf(source: Path, work: Path, deadline: float) -> Path:
    jpg = work / "image.jpg"
    side = IMAGE_MAX_SIDE
    scale = f"scale='min({side},iw)':'min({side},ih)':force_original_aspect_ratio=decrease"
    code, _, err = await run(
        ["ffmpeg", "-nostdin", "-v", "error", "-protocol_whitelist", "file", *_demuxer(source),
         "-i", str(source), "-frames:v", "1", "-vf", f"{scale},format=yuvj420p", "-q:v", "3", "-y", str(jpg)], deadline)
    if code != 0 or not await asyncio.to_thread(_nonempty, jpg):
        raise ConversionError(f"The image could not be read (damaged or not an image){_detail(err)}")
    data = await asyncio.to_thread(jpg.read_bytes)
    size = jpeg_size(data)
    if size is None:
        raise ConversionError("The image could not be read")
    pdf = work / "image.pdf"
    await asyncio.to_thread(pdf.write_bytes, image_pdf(data, *size))
    return pdf


def _demuxer(source: Path) -> list[str]:
    """ffmpeg reads the upload as the image its name says, never as whatever its bytes claim
    (a playlist that names URLs or other files, say); no file-name patterns either."""
    if source.suffix.lower() == ".gif":
        return ["-f", "gif"]
    return ["-f", "image2", "-pattern_type", "none"]


async def _page_count(pdf: Path, deadline: float) -> int:
    proc_code, out, err = await run(["pdfinfo", str(pdf)], deadline)
    if proc_code != 0:
        if "password" in err.lower():
            raise ConversionError("The PDF is password-protected")
        raise ConversionError(f"The file is not a readable PDF{_detail(err)}")
    m = re.search(r"^Pages:\s+(\d+)", out, re.M)
    if m is None:
        raise ConversionError("The file is not a readable PDF (no page count)")
    return int(m.group(1))


async def _render(pdf: Path, staged: Path, first: int, last: int, width: int, prefix: str,
                  deadline: float) -> None:
    tmp = staged / f".{prefix}"
    await asyncio.to_thread(tmp.mkdir, exist_ok=True)
    code, _, err = await run(
        ["pdftoppm", "-jpeg", "-jpegopt", f"quality={JPEG_QUALITY}", "-f", str(first),
         "-l", str(last), "-scale-to-x", str(width), "-scale-to-y", "-1", "-forcenum",
         "-sep", "-", str(pdf), str(tmp / "p")], deadline)
    name = page_name if prefix == "page" else thumb_name
    missing = await asyncio.to_thread(_collect, tmp, staged, first, last, name)
    if code != 0 or missing:
        raise ConversionError(f"Page {missing[0] if missing else first} could not be rendered"
                              f"{_detail(err)}")


def _collect(tmp: Path, staged: Path, first: int, last: int,
             name: Callable[[int], str]) -> list[int]:
    """Move pdftoppm's ``p-<n>.jpg`` to their names; the pages of first..last it did not make."""
    made = {int(p.stem.rsplit("-", 1)[1]): p for p in tmp.glob("p-*.jpg")}
    for n, p in made.items():
        p.rename(staged / name(n))
    return [n for n in range(first, last + 1) if n not in made]


def _hideable(folder: Path, view: Path) -> bool:
    """A folder LibreOffice can do without: not one holding the system or the job's view."""
    keep = (view, Path("/usr"), Path("/etc"), Path("/tmp"))
    return folder.is_dir() and not any(k == folder or folder in k.parents for k in keep)


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


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


def _detail(err: str) -> str:
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
    return pdf_file(objects)


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of numbered ``objects`` (object 1 the catalog), with its cross-reference table:
    what ``image_pdf`` writes (and the tests use to make documents)."""
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
