"""Capture 'devices' a test can break: FIFOs fed by an ffmpeg that plays the camera or the
microphone, and a way to lose root's permission bypass for one thread."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_V3 = 0x20080522
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


@contextlib.contextmanager
def without_permission_bypass() -> Iterator[None]:
    """Drop CAP_DAC_OVERRIDE/READ_SEARCH from this thread's effective set (root then gets
    EACCES like anyone else), and restore them afterwards."""
    head = _Header(_V3, 0)
    data = (_Data * 2)()
    if _libc.capget(ctypes.byref(head), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    saved = data[0].effective
    data[0].effective = saved & ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH))
    if _libc.capset(ctypes.byref(head), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    try:
        yield
    finally:
        data[0].effective = saved
        _libc.capset(ctypes.byref(head), data)


class FifoDevice:
    """A named pipe an ffmpeg writes live video (y4m) or audio (wav) into; killing the
    writer is unplugging the device."""

    def __init__(self, folder: Path, kind: str) -> None:
        self.kind = kind
        self.path = folder / f"{kind}-device"
        os.mkfifo(self.path)
        src = (["-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-f", "yuv4mpegpipe",
                "-pix_fmt", "yuv420p"] if kind == "video" else
               ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "1",
                "-f", "wav"])
        self.proc = subprocess.Popen(["ffmpeg", "-v", "error", "-re", *src, "-y", str(self.path)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    @property
    def fmt(self) -> str:
        return "yuv4mpegpipe" if self.kind == "video" else "wav"

    def unplug(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.unplug()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
