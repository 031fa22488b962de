"""Whether a room may be entered: the one rule behind checkroom, login keys and joinRoom, alone
(pure) and on the signalling socket of a whole node, where a join ticket issued before the
enterprise was frozen must not open the room."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from client_node import running_node
from tkroom.client import ClientError, Room
from tkroom.errors import CodeError
from tkroom.rooms.entry import Enterprise, Entry, check_entry
from tkroom.store.models import Company

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("room", "code"), [
    (None, 4007),
    (Entry(deleted=True, endtime=NOW + 60), 3003),
    (Entry(endtime=NOW - 1), 3003),
    (Entry(endtime=NOW + 60, enterprise=Enterprise(deleted=True)), 4001),
    (Entry(endtime=NOW + 60, enterprise=Enterprise(frozen=True)), 3002),
    (Entry(endtime=NOW + 60, enterprise=Enterprise(expires=NOW - 1)), 3001),
    (Entry(deleted=True, enterprise=Enterprise(frozen=True)), 3003),  # the room first
])
def test_refusals_in_order(room: Entry | None, code: int) -> None:
    with pytest.raises(CodeError) as e:
        check_entry("1234567890", room, NOW)
    assert e.value.code == code and e.value.message


@pytest.mark.parametrize("room", [
    Entry(endtime=NOW),  # the last second still counts
    Entry(),  # no end time, no known enterprise
    Entry(endtime=NOW + 1, enterprise=Enterprise(expires=NOW)),
    Entry(endtime=NOW + 1, enterprise=Enterprise(expires=None)),
])
def test_enterable(room: Entry) -> None:
    check_entry("1234567890", room, NOW)


async def _freeze(env, **values: object) -> None:
    async with env.node.sessions() as s:
        company = (await s.execute(select(Company).where(Company.authkey == env.key))).scalar_one()
        for k, v in values.items():
            setattr(company, k, v)
        await s.commit()
    env.node.rooms.clear()  # as ``tkroom admin enterprise freeze`` on another node, once cached out


@pytest.mark.parametrize(("change", "code"), [
    ({"frozen": True}, 3002),
    ({"expires": int(time.time()) - 1}, 3001),
])
async def test_a_ticket_does_not_outlive_its_enterprise(tmp_path, change, code) -> None:
    async with running_node(tmp_path) as env:
        async with httpx.AsyncClient(base_url=env.node.base_url, timeout=30) as http:
            checked = (await http.post("/ClientAPI/checkroom", data={
                "serial": env.serial, "password": "stud1", "nickname": "Ann"})).json()
            config = (await http.post("/ClientAPI/getconfig", data={"serial": env.serial})).json()
        assert checked["result"] == 0
        await _freeze(env, **change)
        room = Room()
        room.init()
        with pytest.raises(ClientError) as e:
            await room.joinroomEx(config["signal"]["url"], checked["ticket"])
        assert e.value.code == code
