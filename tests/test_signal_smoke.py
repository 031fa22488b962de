from __future__ import annotations

import pytest

from signal_helpers import Client, MemoryDirectory, no_server_errors, start_server, ticket  # noqa: F401
from tkroom.directory import RoomInfo


@pytest.fixture
async def env():
    d = MemoryDirectory(rooms={"r1": RoomInfo("r1", 1, "Room 1", maxusers=3)})
    server = await start_server(d, grace=1.0, sweep_interval=0.05)
    yield d, server
    await server.stop()


async def test_join_chat(env):
    d, server = env
    t = await Client.connect(server.url)
    a = await t.join(ticket("r1", "teach", 0))
    assert a["userlist"][0]["id"] == "teach"
    s = await Client.connect(server.url)
    b = await s.join(ticket("r1", "stu"))
    assert {u["id"] for u in b["userlist"]} == {"teach", "stu"}
    await t.event("participantJoined", id="stu")
    await s.ok("sendMessage", {"message": "hi"})
    e = await t.event("sendMessage")
    assert e["data"]["message"] == "hi"
    await s.close()
    await t.close()
