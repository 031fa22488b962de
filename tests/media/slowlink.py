"""A slow link between the node and a media server: a TCP relay that delivers what the server
sends ``delay`` seconds late (in order), like a Janus on a distant or congested host."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
        queue.put_nowait((0.0, b""))
        await sender
    finally:
        sender.cancel()
        writer.close()


@contextlib.asynccontextmanager
async def slow_link(port: int, *, delay: float) -> AsyncIterator[int]:
    """Relay 127.0.0.1:<answered port> to 127.0.0.1:``port``; replies arrive ``delay`` late."""
    tasks: set[asyncio.Task[None]] = set()

    async def accept(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
        both = (asyncio.create_task(_pipe(client_r, server_w, 0.0)),
                asyncio.create_task(_pipe(server_r, client_w, delay)))
        tasks.update(both)
        await asyncio.gather(*both, return_exceptions=True)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
