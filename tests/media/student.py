"""A student's Python SDK in its own process, so that it can run inside the student's network
namespace (``ip netns exec``): joins, waits to be put on stage, publishes generated video,
plays the teacher's camera, and prints one JSON line per step (``step``, and for media the
ICE candidate types aiortc nominated). It leaves when a line arrives on its standard input.

    python student.py BASE_URL SERIAL PASSWORD USERID TEACHER_USERID
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from tkroom.client import Room
from tkroom.client.media import attach


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def nominated(pc: Any) -> list[str]:
    """The local candidate types of the pairs ICE nominated (``relay``: through TURN)."""
    kinds = []
    for t in pc.getTransceivers():
        conn = t.receiver.transport.transport._connection  # aioice's Connection
        kinds += [pair.local_candidate.type for pair in conn._nominated.values()]
    return sorted(set(kinds))


async def until(cond: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def main(base: str, serial: str, password: str, userid: str, teacher: str) -> None:
    url = urlsplit(base)
    room = Room()
    room.init("app")
    media = attach(room)
    await room.joinroom(url.hostname, url.port, userid, userid,
                        {"serial": serial, "password": password})
    say(step="joined", iceServers=room.iceServers)
    await until(lambda: (room.getMySelf() or {}).get("properties", {}).get("publishstate") == 3,
                60, "put on stage")
    await media.publishVideo()
    say(step="published", nominated=nominated(media.local[("video", "default")].pc))
    await media.waitForStream(teacher, "video", within=60)
    started = time.monotonic()
    stream = await media.playVideo(teacher)
    await until(lambda: stream.frames_received >= 30, 60, "30 frames of the teacher")
    say(step="played", frames=stream.frames_received, seconds=time.monotonic() - started,
        nominated=nominated(stream.pc), notices=[n["code"] for n in media.notices])
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await media.close()
    await room.leaveroom()


if __name__ == "__main__":
    try:
        asyncio.run(main(*sys.argv[1:6]))
    except Exception as exc:  # the test reads this line instead of a bare exit status
        say(step="failed", error=f"{type(exc).__name__}: {exc}")
        raise
