"""Recovery from a Redis restart: ``python -m bench.redis_restart [--members N] [--down S]``
(a table, and bench/results/redis_restart-<time>.json).

Two signalling nodes in this process share a private ``redis-server`` (Unix socket, temp dir);
N members join through the Python SDK, half on each node, and the teacher saves a message.
Redis is killed with SIGKILL and started again on the same directory after ``--down`` seconds,
once with AOF (``appendonly yes``, ``appendfsync everysec``) and once without persistence.
Nobody sends anything while Redis is away. Measured, from Redis answering PING again:

* ``restored_s``: the room has all N members in Redis again (the nodes' heartbeat found the
  restart and put back their members on their own: idle users recover too);
* ``requests_s``: every member's next request (``getRoomUserNum``) has succeeded;
* ``events_s``: a chat sent then has reached every other member;

and ``kill_to_back_s``: from the kill to every member's request having succeeded (includes
``--down``). ``baseline_s`` is how long the same N concurrent requests took before the kill
(on a busy machine most of ``requests_s`` is that). ``saved_kept`` tells whether a newcomer
still gets the saved message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from tkroom import tickets
from tkroom.client import Room
from tkroom.directory import RoomInfo
from tkroom.signal.server import SignalServer
from tkroom.state.redis import RedisState

SECRET = b"bench-redis-restart"
SERIAL = "bench-room"


@dataclass
class Directory:
    """The one room of the benchmark; chats, class state and attendance go nowhere."""

    info: RoomInfo

    async def room(self, serial: str) -> RoomInfo | None:
        return self.info if serial == self.info.serial else None

    async def verify_login_key(self, serial: str, loginkey: str, now: float) -> Any:
        raise NotImplementedError

    async def group_exists(self, serial: str, groupid: str) -> bool:
        return False

    async def save_chat(self, serial: str, message: dict[str, Any]) -> None:
        return None

    async def class_state(self, serial: str, classstate: int, ts: float) -> None:
        return None

    async def login_events(self, records: list[dict[str, Any]]) -> None:
        return None


class RedisServer:
    """A redis-server that can be killed and started again on the same directory."""

    def __init__(self, directory: Path, appendonly: bool) -> None:
        self.sock = directory / "redis.sock"
        self.args = [shutil.which("redis-server") or "redis-server", "--port", "0",
                     "--unixsocket", str(self.sock), "--dir", str(directory), "--save", "",
                     *(["--appendonly", "yes", "--appendfsync", "everysec"] if appendonly
                       else ["--appendonly", "no"])]
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    async def start(self) -> None:
        """Start and return once Redis answers PING (its data loaded)."""
        self.sock.unlink(missing_ok=True)
        self.proc = await asyncio.create_subprocess_exec(*self.args, stdout=subprocess.DEVNULL,
                                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                r = aioredis.Redis(unix_socket_path=str(self.sock))
                try:
                    if await r.ping():
                        return
                finally:
                    await r.aclose()
            except Exception:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.005)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def _member(url: str, userid: str, role: int) -> tuple[Room, list[str]]:
    room = Room()
    room.init("bench", request_timeout=30.0)
    heard: list[str] = []
    room.on("room-text-message", lambda e: heard.append(e["message"]))

    async def ticket() -> str:
        return tickets.issue(SECRET, tickets.Identity(SERIAL, userid, role, userid), time.time())

    await room.joinroomEx(url, ticket)
    return room, heard


async def _until(pred: Any, wait: float = 60.0) -> None:
    deadline = time.monotonic() + wait
    while not await pred():
        if time.monotonic() > deadline:
            raise TimeoutError("not recovered in time")
        await asyncio.sleep(0.005)


async def run(members: int, down: float, appendonly: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tkroom-bench-redis-"))
    redis = RedisServer(tmp, appendonly)
    await redis.start()
    prefix = f"b{secrets.token_hex(3)}"
    directory = Directory(RoomInfo(SERIAL, 1, maxusers=0, bigroomthreshold=0))
    nodes: list[SignalServer] = []
    rooms: list[tuple[Room, list[str]]] = []
    try:
        for _ in range(2):   # production settings: heartbeat 1 s, grace 15 s
            state = RedisState(redis.url, prefix=prefix)
            await state.start()
            node = SignalServer("127.0.0.1", 0, directory, state, SECRET)
            await node.start()
            nodes.append(node)
        rooms = list(await asyncio.gather(*(
            _member(nodes[i % 2].url, f"u{i}", 0 if i == 0 else 2) for i in range(members))))
        await rooms[0][0].pubMsg(name="ClassBegin", id="ClassBegin", save=True, data={})
        t0 = time.monotonic()
        await asyncio.gather(*(r.getRoomUserNum() for r, _ in rooms))
        baseline = time.monotonic() - t0
        probe = aioredis.Redis(unix_socket_path=str(redis.sock), decode_responses=True)
        order = nodes[0].state._room(SERIAL) + "order"

        killed = time.monotonic()
        await redis.kill()
        await asyncio.sleep(down)
        await redis.start()
        up = time.monotonic()
        await _until(lambda: _count(probe, order, members))
        restored = time.monotonic() - up
        counts = await asyncio.gather(*(r.getRoomUserNum() for r, _ in rooms))
        back = time.monotonic()
        assert counts == [members] * members, counts
        await rooms[1][0].sendMessage("still here")
        await _until(lambda: _heard(rooms, "still here"))
        events = time.monotonic() - up
        await probe.aclose()
        late, _ = await _member(nodes[0].url, "late", 2)
        kept = [m["id"] for m in late.getMsgList()] == ["ClassBegin"]
        await late.leaveroom()
        return {"persistence": "aof" if appendonly else "none", "members": members,
                "down_s": down, "baseline_s": round(baseline, 3), "restored_s": round(restored, 3),
                "requests_s": round(back - up, 3), "events_s": round(events, 3),
                "kill_to_back_s": round(back - killed, 3), "saved_kept": kept}
    finally:
        for room, _ in rooms:
            try:
                await asyncio.wait_for(room.leaveroom(), 10)
            except Exception as exc:
                print(f"leaving: {exc!r}", file=sys.stderr)
        for node in nodes:
            await node.stop()
            await node.state.stop()
        await redis.kill()
        shutil.rmtree(tmp, ignore_errors=True)


async def _count(probe: aioredis.Redis, key: str, want: int) -> bool:
    try:
        return int(await probe.zcard(key)) >= want
    except Exception:
        return False


async def _heard(rooms: list[tuple[Room, list[str]]], text: str) -> bool:
    return all(text in heard for i, (_, heard) in enumerate(rooms) if i != 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=40)
    ap.add_argument("--down", type=float, default=2.0, help="seconds Redis stays dead")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = [asyncio.run(run(args.members, args.down, aof)) for aof in (True, False)]
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row[k]) for k in keys))
    dest = Path(__file__).parent / "results" / \
        f"redis_restart-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps({"members": args.members, "down_s": args.down, "results": rows},
                               indent=1))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
