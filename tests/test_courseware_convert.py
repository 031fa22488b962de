"""The converter's subprocess handling without documents: a tool that outlives its time is
killed with everything it started, a missing tool is a readable failure, and an image's page
is a PDF poppler reads at the image's size."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

import courseware_docs as docs
from conftest import need_binary
from tkroom.courseware.convert import ConversionError, image_pdf, jpeg_size, run


def _alive(marker: str) -> list[int]:
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


async def test_a_tool_past_its_time_is_killed_with_its_children():
    marker = f"{os.getpid() % 1000}.{time.time_ns() % 100000}"  # a unique sleep length
    t0 = time.monotonic()
    with pytest.raises(ConversionError, match="took too long"):
        await run(["sh", "-c", f"sleep {marker} & sleep {marker}; true"], time.monotonic() + 0.5)
    assert time.monotonic() - t0 < 5
    for _ in range(100):  # the kill is immediate; reaping by init may take a moment
        if not _alive(f"sleep\0{marker}") and not _alive(f"sleep {marker}"):
            break
        await asyncio.sleep(0.05)
    assert not _alive(f"sleep\0{marker}"), "the grandchild was killed too"


async def test_a_cancelled_conversion_kills_its_tool():
    marker = f"{os.getpid() % 1000}.{(time.time_ns() + 7) % 100000}"
    task = asyncio.create_task(run(["sleep", marker], time.monotonic() + 60))
    for _ in range(100):
        if _alive(f"sleep\0{marker}"):
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(f"sleep\0{marker}")


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
