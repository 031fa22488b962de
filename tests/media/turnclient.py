"""A bare TURN client (aioice's protocol) for asking a real coturn what it allows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aioice import stun
from aioice.turn import TurnClientUdpProtocol


@contextlib.asynccontextmanager
async def turn_client(server: tuple[str, int], username: str,
                      password: str) -> AsyncIterator[TurnClientUdpProtocol]:
    """A UDP TURN client socket to ``server`` (no allocation yet: ``await client.connect()``)."""
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(server, username=username, password=password,
                                      lifetime=600, channel_refresh_time=500),
        remote_addr=server)
    try:
        yield client
    finally:
        if client.refresh_task is not None:
            client.refresh_task.cancel()
        transport.close()


async def allocate(client: TurnClientUdpProtocol) -> tuple[str, int] | int:
    """The relayed address, or the TURN error code the server answered."""
    try:
        return await asyncio.wait_for(client.connect(), 30)
    except stun.TransactionFailed as e:
        return int(e.response.attributes["ERROR-CODE"][0])


async def permit(client: TurnClientUdpProtocol, peer: str) -> int:
    """CreatePermission for ``peer`` (no packet goes to it): 0 granted, else the error code."""
    request = stun.Message(message_method=stun.Method.CREATE_PERMISSION,
                           message_class=stun.Class.REQUEST)
    request.attributes["XOR-PEER-ADDRESS"] = (peer, 9)
    try:
        await asyncio.wait_for(client.request_with_retry(request), 30)
    except stun.TransactionFailed as e:
        return int(e.response.attributes["ERROR-CODE"][0])
    return 0
