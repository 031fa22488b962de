"""A bare WebSocket client for the load generator: one asyncio Protocol per connection.

A thousand members of a room receive a hundred thousand frames a second between them; a
full client library spends most of that on per-frame machinery the benchmark does not need.
This one parses only what servers send (unmasked text/ping/close frames), hands each text
payload to a callback as bytes, and masks its own frames with a zero key (valid per RFC 6455,
and the payload stays as it is).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable

FrameHandler = Callable[["RawWS", bytes], None]


class RawWS(asyncio.Protocol):
    """A client connection; ``on_text(ws, payload)`` is called for every text frame."""

    def __init__(self, host: str, port: int, path: str, on_text: FrameHandler) -> None:
        self.host, self.port, self.path = host, port, path
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.state: object = None  # what the dialect keeps per connection
        self.live = False  # the upgrade is done: frames follow

    @classmethod
    async def open(cls, host: str, port: int, path: str, on_text: FrameHandler) -> RawWS:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: cls(host, port, path, on_text), host, port)
        await proto.upgraded
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(exc)

    def data_received(self, data: bytes) -> None:
        if self.live and not self.buf:
            rest = self._frames(data)  # the common case: whole frames, no copy into a buffer
            if rest:
                self.buf += rest
            return
        self.buf += data
        if not self.live:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buf[:end]).split(b"\r\n", 1)[0]
            del self.buf[: end + 4]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.live = True
            self.upgraded.set_result(None)
        data, self.buf = bytes(self.buf), bytearray()
        rest = self._frames(data)
        if rest:
            self.buf += rest

    def _frames(self, data: bytes) -> bytes:
        """Handle every whole frame in ``data``; what is left of an incomplete one."""
        pos, n = 0, len(data)
        on_text = self.on_text
        while n - pos >= 2:
            b0, length = data[pos], data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = (data[pos + 2] << 8) | data[pos + 3], 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = struct.unpack_from("!Q", data, pos + 2)[0], 10
            end = pos + head + length
            if end > n:
                break
            op = b0 & 0x0F
            if op == 1:
                on_text(self, data[pos + head : end])
            elif op == 9:
                self._send(0xA, data[pos + head : end])
            elif op == 8:
                self._send(0x8, data[pos + head : pos + head + 2])
                assert self.transport is not None
                self.transport.close()
            pos = end
        return data[pos:]

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        assert self.transport is not None
        self.transport.write(head + b"\0\0\0\0" + payload)

    def send_text(self, payload: bytes) -> None:
        self._send(0x1, payload)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()
