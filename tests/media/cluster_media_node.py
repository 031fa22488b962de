"""A node with its media plane on Redis, as ``tkroom serve`` builds it, for the tests that
kill (or freeze) a node of a cluster: ``python cluster_media_node.py DATA REDIS_URL PREFIX
JANUS_URLS HEARTBEAT``. Prints ``PORT <http port> NODE <state's node name>`` once serving,
runs until killed or until its standard input closes (its parent went)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tkroom.config import Settings
from tkroom.planes import build_node
from tkroom.state import open_state


async def main(data: str, redis_url: str, prefix: str, janus: str, heartbeat: str) -> None:
    settings = Settings(host="127.0.0.1", port=0, signal_port=0, data_dir=Path(data),
                        throttle_base_s=0.001, throttle_max_s=0.01,
                        janus_urls=janus.split(","), embedded_janus=False, media_sync_s=0.2)
    state = open_state(redis_url, prefix=prefix, grace=5.0, heartbeat=float(heartbeat))
    node = build_node(settings, state=state, web=False, courseware=False, grace=5.0,
                      sweep_interval=0.05)
    await node.start()
    print(f"PORT {node.port} NODE {getattr(state, 'node', '')}", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # a bounded life: ends with the test process


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
