"""Background tasks that are neither lost nor silent, and child processes that end.

The event loop keeps only a weak reference to a task, so a task nobody holds may be collected
before it ends, and an exception in a task nobody awaits is reported (if at all) only when
it is collected. ``spawn`` keeps each task until it ends and logs its failure at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """Run ``coro`` as a task of the running loop, kept alive until it ends; an exception it
    ends with is logged (cancellation is not a failure). Cancel or await the returned task
    as usual; owners that cancel their tasks on stop keep them in a ``weakref.WeakSet``."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_done)
    return task


def _done(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())


async def end_process(proc: asyncio.subprocess.Process, within: float) -> None:
    """Ask a supervised child (Janus, coturn, ffmpeg) to finish, so it can flush what it
    writes; kill it when it has not ended ``within`` seconds. A child already gone is fine."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port`` now (a child's readiness)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def wait_listening(port: int, within: float = 15.0, host: str = "127.0.0.1", *,
                         proc: asyncio.subprocess.Process | None = None,
                         what: str = "the child") -> None:
    """Poll until ``host:port`` accepts connections; ``TimeoutError`` after ``within`` seconds,
    ``RuntimeError`` at once when ``proc`` (the child that should listen) has exited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await tcp_open(port, host):
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} at start")
        if loop.time() > deadline:
            raise TimeoutError(f"{what} did not listen on {host}:{port} in {within} s")
        await asyncio.sleep(0.05)
