"""The compositor's worker pool (tkroom.egress.jobs): real worker processes and ffmpeg; a job
killed mid-way, a corrupt input, a node restart."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from bench.egress.lesson import Lesson, Publisher, make

from conftest import need_binary
from egress_media import duration, streams
from tkroom.egress.jobs import (
    DONE,
    FAILED,
    RUNNING,
    Job,
    JobPool,
    PoolSettings,
    read_job,
    write_job,
)

ARGS = ["--width", "640", "--height", "360", "--preset", "ultrafast"]


def recording(root: Path, name: str, lesson: Lesson) -> Path:
    folder = make(root / "1234567890" / name, lesson)
    write_job(folder, Job(name, "1234567890", 1_700_000_000_000))
    return folder


async def until(cond, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"no {what} within {within:g} s")
        await asyncio.sleep(0.1)


class Outcomes:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    async def __call__(self, folder: Path, job: Job) -> None:
        self.jobs[folder.name] = job


@pytest.fixture
def lessons_root(tmp_path) -> Path:
    need_binary("ffmpeg")
    return tmp_path / "records"


async def test_a_job_killed_mid_way_is_retried_and_finishes(lessons_root):
    folder = recording(lessons_root, "long", Lesson(40_000, [Publisher("t", 0),
                                                             Publisher("s1", 2, hz=550)], pages=1))
    done = Outcomes()
    pool = JobPool(lessons_root, PoolSettings(workers=1, attempts=3, retry_s=0.2,
                                              compose_args=ARGS), done)
    await pool.start()
    try:
        # wait until the worker is encoding (its progress passed the planning step)
        def encoding() -> bool:
            j = read_job(folder)
            return j is not None and j.state == RUNNING and j.pid > 0 and 0.05 < j.progress < 0.9
        await until(encoding, 120, "encoding progress")
        first = read_job(folder)
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        await until(lambda: "long" in done.jobs and read_job(folder).registered, 300,
                    "the retried job's end")
    finally:
        await pool.stop()
    job = done.jobs["long"]
    assert job.state == DONE and job.attempts == 2 and job.progress == 1.0, job
    assert abs(duration(folder / "composite.mp4") - 40.0) <= 1.0
    assert streams(folder / "composite.mp4")["video"]["codec_name"] == "h264"
    assert not list(folder.glob("*.part.*"))


async def test_a_corrupt_input_fails_its_job_readably_and_the_others_finish(lessons_root):
    bad = recording(lessons_root, "bad", Lesson(3000, [Publisher("t", 0)], pages=1))
    (bad / "rec-t_video_default-0-audio.opus").write_bytes(b"OggS\x00garbage" * 10)
    good = recording(lessons_root, "good", Lesson(3000, [Publisher("t", 0)], pages=1))
    done = Outcomes()
    pool = JobPool(lessons_root, PoolSettings(workers=2, attempts=3, retry_s=0.2,
                                              compose_args=ARGS), done)
    await pool.start()  # both are picked up from their job.json, as after a restart
    try:
        await until(lambda: {"bad", "good"} <= set(done.jobs) and read_job(bad).registered,
                    300, "both jobs' ends")
    finally:
        await pool.stop()
    assert done.jobs["good"].state == DONE and (good / "composite.mp4").exists()
    failed = done.jobs["bad"]
    assert failed.state == FAILED and failed.attempts == 1  # no retry can read it
    assert "rec-t_video_default-0-audio.opus" in failed.reason and "cannot be read" in failed.reason
    assert not (bad / "composite.mp4").exists()


async def test_a_job_cut_off_by_a_node_restart_resumes_and_counts_the_attempt(lessons_root):
    folder = recording(lessons_root, "cut", Lesson(3000, [Publisher("t", 0)], pages=1))
    job = read_job(folder)
    job.state, job.attempts = RUNNING, 1  # what a node that died mid-job leaves
    write_job(folder, job)
    done = Outcomes()
    pool = JobPool(lessons_root, PoolSettings(workers=1, attempts=2, retry_s=0.2,
                                              compose_args=ARGS), done)
    await pool.start()
    try:
        await until(lambda: "cut" in done.jobs, 300, "the resumed job's end")
    finally:
        await pool.stop()
    assert done.jobs["cut"].state == DONE and done.jobs["cut"].attempts == 2


async def test_a_job_that_keeps_dying_fails_after_its_attempts(lessons_root):
    folder = recording(lessons_root, "dies", Lesson(3000, [Publisher("t", 0)], pages=1))
    done = Outcomes()
    # a worker that cannot even start ffmpeg's encoder: exit status 1 each time (retried)
    pool = JobPool(lessons_root, PoolSettings(workers=1, attempts=2, retry_s=0.1,
                                              compose_args=[*ARGS, "--preset", "nosuch"]), done)
    await pool.start()
    try:
        await until(lambda: "dies" in done.jobs, 300, "the job's failure")
    finally:
        await pool.stop()
    job = done.jobs["dies"]
    assert job.state == FAILED and job.attempts == 2
    assert "2 times" in job.reason and "ffmpeg failed" in job.reason
    assert read_job(folder).state == FAILED
