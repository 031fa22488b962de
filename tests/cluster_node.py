"""A signalling node on Redis for tests that need to kill a node: ``python cluster_node.py
REDIS_URL PREFIX ROOMS_JSON GRACE``. Prints ``PORT <n>`` once listening, runs until killed."""

from __future__ import annotations

import asyncio
import json
import sys

from signal_helpers import SECRET, MemoryDirectory
from tkroom.directory import RoomInfo
from tkroom.signal.server import SignalServer
from tkroom.state import open_state


async def main(url: str, prefix: str, rooms: str, grace: str) -> None:
    directory = MemoryDirectory(rooms={r["serial"]: RoomInfo(**r) for r in json.loads(rooms)})
    state = open_state(url, prefix=prefix, grace=float(grace), heartbeat=0.1)
    await state.start()
    server = SignalServer("127.0.0.1", 0, directory, state, SECRET, grace=float(grace),
                          sweep_interval=0.05)
    await server.start()
    print(f"PORT {server.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
