"""A small keep-alive HTTP/1.1 load generator on raw asyncio streams.

httpx spends more CPU per request than the server under test does, which would cap every
endpoint at the client's speed and hide the differences; this client costs a few microseconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass
class Result:
    requests: int
    seconds: float
    errors: int
    codes: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _conn(host: str, port: int, req: bytes, stop: float, budget: list[int], out: Result) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget[0] > 0 and time.monotonic() < stop:
            budget[0] -= 1
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            status = int(head.split(b" ", 2)[1])
            out.requests += 1
            if status != 200 or not body.startswith(b'{"result":0'):
                out.errors += 1
            out.codes[status] = out.codes.get(status, 0) + 1
    finally:
        writer.close()


async def run(url_host: str, port: int, path: str, form: dict[str, str], *, connections: int = 16,
              max_requests: int = 20000, max_seconds: float = 5.0) -> Result:
    """POST ``form`` to ``path`` on ``connections`` keep-alive connections, bounded in count and time."""
    body = urlencode(form).encode()
    req = (f"POST {path} HTTP/1.1\r\nHost: {url_host}:{port}\r\n"
           f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    out = Result(0, 0.0, 0, {})
    budget = [max_requests]
    t0 = time.monotonic()
    await asyncio.gather(*(_conn(url_host, port, req, t0 + max_seconds, budget, out) for _ in range(connections)))
    out.seconds = time.monotonic() - t0
    return out
