"""The converter's subprocess handling without documents: a tool that outlives its time is
killed with everything it started, a missing tool is a readable failure, and an image's page
is a PDF poppler reads at the image's size."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import courseware_docs as docs
from conftest import need_binary
from tkroom.courseware.convert import ConversionError, image_pdf, jpeg_size, run
from webapi_nodes import SRC


def _alive(marker: str) -> list[int]:
    """Processes running ``sleep <marker>``."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"sleep\0" + marker.encode()):
                pids.append(int(pid))
    return pids


async def test_a_tool_past_its_time_is_killed_with_its_children():
    marker = f"{os.getpid() % 1000}.{time.time_ns() % 100000}"  # a unique sleep length
    t0 = time.monotonic()
    with pytest.raises(ConversionError, match="took too long"):
        await run(["sh", "-c", f"sleep {marker} & sleep {marker}; true"], time.monotonic() + 0.5)
    assert time.monotonic() - t0 < 5
    for _ in range(100):  # the kill is immediate; reaping by init may take a moment
        if not _alive(marker):
            break
        await asyncio.sleep(0.05)
    assert not _alive(marker), "the grandchild was killed too"


async def test_a_cancelled_conversion_kills_its_tool():
    marker = f"{os.getpid() % 1000}.{(time.time_ns() + 7) % 100000}"
    task = asyncio.create_task(run(["sleep", marker], time.monotonic() + 60))
    for _ in range(200):
        if _alive(marker):
            break
        await asyncio.sleep(0.02)
    assert _alive(marker)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if not _alive(marker):
            break
        await asyncio.sleep(0.05)
    assert not _alive(marker)


async def test_a_missing_tool_is_a_reason():
    with pytest.raises(ConversionError, match="no-such-converter is not installed"):
        await run(["no-such-converter"], time.monotonic() + 5)


def test_an_image_page_is_a_pdf_of_its_size(tmp_path):
    need_binary("pdfinfo")
    jpg = tmp_path / "a.jpg"
    docs.image(docs.png(321, 123)).save(jpg, "JPEG")
    data = jpg.read_bytes()
    assert jpeg_size(data) == (321, 123)
    assert jpeg_size(b"\xff\xd8\xff\xe0\x00\x04xx") is None
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(image_pdf(data, 321, 123))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=30)
    assert info.returncode == 0 and "Page size:       321 x 123 pts" in info.stdout, info.stderr


def test_a_killed_node_leaves_no_tool_running_past_its_time():
    marker = f"{os.getpid() % 1000}.{(time.time_ns() + 13) % 100000}"
    script = ("import asyncio, time\n"
              "from tkroom.courseware.convert import run\n"
              f"asyncio.run(run(['sleep', '{marker}'], time.monotonic() + 3.0))\n")
    node = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": SRC})
    try:
        deadline = time.monotonic() + 30
        while not _alive(marker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _alive(marker)
        node.kill()  # the node dies; its tool is an orphan now
        node.wait(10)
        assert _alive(marker)
        deadline = time.monotonic() + 30
        while _alive(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(marker), "the tool's own guard killed it"
    finally:
        node.kill()


class _Listener:
    """A TCP port on 127.0.0.1 that counts the connections it is offered."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            conn.close()

    def close(self) -> None:
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


async def test_an_image_that_is_a_playlist_reads_nothing_else(tmp_path):
    """An "image" that is an HLS playlist naming another file of the node: ffmpeg left to
    itself would show that file's picture as the page (checked by hand with ffmpeg 5.1); read
    as the image its name says, it is just a damaged image."""
    need_binary("ffmpeg")
    from tkroom.courseware.convert import convert
    from tkroom.rooms.courseware import IMAGE

    await asyncio.to_thread(
        subprocess.run, ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=blue:s=64x64:d=2",
                         "-c:v", "mpeg2video", "-f", "mpegts", "-y", str(tmp_path / "secret.ts")],
        check=True, timeout=60)
    evil = tmp_path / "evil.png"
    evil.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nsecret.ts\n#EXT-X-ENDLIST\n")
    (tmp_path / "work").mkdir()

    async def report(_: int) -> None:
        pass

    with pytest.raises(ConversionError, match="The image could not be read"):
        await convert(evil, IMAGE, tmp_path / "out", tmp_path / "work", seconds=30,
                      max_pages=10, report=report)
    assert not (tmp_path / "out").exists()


async def test_tools_run_without_network():
    from tkroom.courseware.convert import offline_prefix

    if not offline_prefix():
        pytest.skip("this machine gives no process a network namespace of its own")
    listener = _Listener()
    try:
        connect = f"import socket; socket.create_connection(('127.0.0.1', {listener.port}), 5)"
        code, _, err = await run([sys.executable, "-c", connect], time.monotonic() + 30)
        assert code != 0 and "Network is unreachable" in err, err
        assert listener.count == 0
        outside = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", connect], timeout=30)
        assert outside.returncode == 0  # the same call reaches it from the node's namespace
    finally:
        listener.close()


async def test_libreoffice_sees_no_file_of_the_node(tmp_path):
    """A document that links a picture of the node's data folder: LibreOffice would draw it
    into the page (shown first, unhidden); with the data folder hidden, the page has none of it."""
    need_binary("soffice")
    from PIL import Image

    from tkroom.courseware.convert import convert, sandbox_ready
    from tkroom.rooms.courseware import OFFICE

    if not sandbox_ready():
        pytest.skip("this machine gives no process a mount namespace of its own")
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (300, 300), (0, 0, 255)).save(data / "private.png")
    doc = tmp_path / "linking.docx"
    doc.write_bytes(docs.docx_linking((data / "private.png").as_uri()))

    async def blue_pixels(hide: tuple[Path, ...], name: str) -> int:
        work, out = tmp_path / f"work-{name}", tmp_path / f"out-{name}"
        work.mkdir()

        async def report(_: int) -> None:
            pass

        assert await convert(doc, OFFICE, out, work, seconds=120, max_pages=5, report=report,
                             hide=hide) == 1
        page = docs.image((out / "page-1.jpg").read_bytes()).convert("RGB")
        return sum(n for n, (r, g, b) in page.getcolors(1 << 24) if b > 200 and r < 60 and g < 60)

    assert await blue_pixels((), "open") > 10_000, "LibreOffice draws a linked local picture"
    assert await blue_pixels((data,), "hidden") == 0
