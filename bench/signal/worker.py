"""A load-generator process: holds a share of the room's members and reports what they receive.

Driven by the coordinator over a pipe with small commands, so that joining, arming a
measurement and collecting it happen at the same moment in every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.signal.dialects import Counters, Dialect, dialect_class
from bench.signal.rawws import RawWS


def run(coro: Any) -> Any:
    """Run the load generator on uvloop: its per-socket overhead is a fraction of asyncio's,
    so the clients' core is not what limits the measured deliveries per second."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(pipe: Connection, dialect_name: str, host: str, port: int, parallel: int) -> None:
    run(_serve(pipe, dialect_name, host, port, parallel))


async def _join_one(
    sem: asyncio.Semaphore, dialect: Dialect, host: str, port: int, cred: dict[str, Any],
    conns: list[RawWS],
) -> None:
    async with sem:
        ws = await RawWS.open(host, port, dialect.path, dialect.on_text)
        conns.append(ws)
        await asyncio.wait_for(dialect.join(ws, cred), 60)


async def _serve(pipe: Connection, dialect_name: str, host: str, port: int, parallel: int) -> None:
    loop = asyncio.get_running_loop()
    counters = Counters()
    dialect = dialect_class(dialect_name)(counters)
    conns: list[RawWS] = []
    while True:
        cmd, arg = await loop.run_in_executor(None, pipe.recv)
        if cmd == "join":
            sem = asyncio.Semaphore(parallel)
            results = await asyncio.gather(
                *(_join_one(sem, dialect, host, port, c, conns) for c in arg),
                return_exceptions=True,
            )
            errors = [repr(r) for r in results if isinstance(r, BaseException)]
            pipe.send({"t": time.monotonic(), "ok": len(results) - len(errors), "errors": errors[:3],
                       "n_errors": len(errors)})
        elif cmd == "arm":
            kind, total = arg
            counters.chat_latencies_ms = []
            counters.pub_count = 0
            counters.marks = []
            counters.done.clear()
            counters.target_chat = total if kind == "chat" else -1
            counters.target_pub = total if kind == "pub" else -1
            counters.target_marks = total if kind == "marks" else -1
            pipe.send("armed")
        elif cmd == "wait":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(counters.done.wait(), arg)
            pipe.send({"latencies": counters.chat_latencies_ms, "pub": counters.pub_count,
                       "marks": counters.marks, "last": counters.last_receipt})
        elif cmd == "close":
            for ws in conns:
                ws.close()
            pipe.send("closed")
            return
