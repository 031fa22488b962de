"""``tkroom.tasks.spawn``: a background task's failure is logged when it happens, with the
task's name, not when (or if) the task is garbage collected; cancelling is not a failure."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tkroom.tasks import spawn


async def test_a_failure_is_logged_at_once_with_the_name(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise ValueError("boom")

    caplog.set_level(logging.ERROR, logger="tkroom.tasks")
    task = spawn(broken(), name="replay to u1")
    assert task.get_name() == "replay to u1"
    await asyncio.wait([task], timeout=30)
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    [record] = [r for r in caplog.records if r.name == "tkroom.tasks"]
    assert "replay to u1" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


async def test_results_and_cancellation_are_not_failures(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="tkroom.tasks")

    async def answer() -> int:
        return 42

    assert await spawn(answer()) == 42
    stuck = spawn(asyncio.Event().wait())
    await asyncio.sleep(0)
    stuck.cancel()
    await asyncio.wait([stuck], timeout=30)
    await asyncio.sleep(0)
    assert stuck.cancelled()
    assert not [r for r in caplog.records if r.name == "tkroom.tasks"]
