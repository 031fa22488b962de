"""The embedded TURN server (a real coturn in the test's namespace) and the credentials the
node hands out: what coturn accepts, what it refuses, and the Web API's iceServers."""

from __future__ import annotations

import time

import httpx
import pytest

from client_node import PASSWORDS
from conftest import need_binary
from media.turnclient import allocate, permit, turn_client
from tkroom.config import Settings
from tkroom.iceservers import turn_credential
from tkroom.planes import build_node
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company
from tkroom.turn.coturn import TurnProcess, TurnSettings
from webapi_nodes import free_port

pytestmark = pytest.mark.media

SECRET = "a-test-shared-secret"


@pytest.fixture
async def coturn(in_netns, tmp_path):
    """coturn as the node runs it; the namespace's first address plays the media server."""
    need_binary("turnserver")
    proc = TurnProcess(TurnSettings(workdir=tmp_path / "turn", secret=SECRET, port=free_port(),
                                    relay_ports="50000-50999", allowed_peers=[in_netns.addr0]))
    await proc.start()
    try:
        yield proc, (in_netns.addr0, proc.settings.port)
    finally:
        await proc.stop()


async def test_a_fresh_credential_allocates_an_expired_or_forged_one_is_refused(coturn) -> None:
    _, server = coturn
    now = time.time()
    name, cred = turn_credential(SECRET, "s1", now, 600)
    async with turn_client(server, name, cred) as c:
        relayed = await allocate(c)
        assert isinstance(relayed, tuple) and relayed[0] == server[0]
    old_name, old_cred = turn_credential(SECRET, "s1", now - 7200, 3600)  # expired an hour ago
    async with turn_client(server, old_name, old_cred) as c:
        assert await allocate(c) == 401
    forged = turn_credential("another-secret", "s1", now, 600)
    async with turn_client(server, *forged) as c:
        assert await allocate(c) == 401


async def test_the_relay_reaches_the_media_server_and_nothing_private(coturn, in_netns) -> None:
    _, server = coturn
    async with turn_client(server, *turn_credential(SECRET, "s1", time.time(), 600)) as c:
        assert isinstance(await allocate(c), tuple)
        assert await permit(c, in_netns.addr0) == 0  # the media server
        for private in (in_netns.addr1, "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1",
                        "169.254.1.1", "100.64.0.1"):
            assert await permit(c, private) == 403, private


async def test_coturn_is_restarted_when_it_dies(coturn) -> None:
    proc, server = coturn
    proc.kill()
    deadline = time.monotonic() + 30
    while proc.restarts < 1:
        assert time.monotonic() < deadline, "coturn was not restarted"
        await _sleep()
    async with turn_client(server, *turn_credential(SECRET, "s1", time.time(), 600)) as c:
        assert isinstance(await allocate(c), tuple)


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.1)


async def test_checkroom_and_getconfig_hand_out_per_user_credentials(in_netns, tmp_path) -> None:
    """The node as ``tkroom serve`` builds it (embedded TURN), reached at the namespace's
    address: the iceServers point there, name the user, expire after turn_ttl_s, and work."""
    need_binary("turnserver")
    settings = Settings(host=in_netns.addr0, port=0, signal_port=free_port(), data_dir=tmp_path,
                        throttle_base_s=0.001, throttle_max_s=0.01, embedded_janus=False,
                        turn_port=free_port(), turn_relay_ports="51000-51999", turn_ttl_s=900,
                        turn_allowed_peers=[in_netns.addr0])
    node = build_node(settings, state=MemoryState(), web=False, courseware=False)
    await node.start()
    try:
        async with node.sessions() as s:
            company = await create_company(s, "School")
            await s.commit()
        async with httpx.AsyncClient(base_url=node.base_url, timeout=30) as http:
            async def api(path: str, **params: object) -> dict:
                return (await http.post(path, data=params)).json()

            now = int(time.time())
            made = await api("/WebAPI/roomcreate", key=company.authkey, roomname="Math",
                             roomtype=3, starttime=now, endtime=now + 3600, passwordrequired=1,
                             **PASSWORDS)
            other = await api("/WebAPI/roomcreate", key=company.authkey, roomname="Art",
                              roomtype=3, starttime=now, endtime=now + 3600, passwordrequired=1,
                              **PASSWORDS)
            checked = await api("/ClientAPI/checkroom", serial=made["serial"], nickname="Ann",
                                userid="ann", password=PASSWORDS["confuserpwd"])
            assert checked["result"] == 0
            [ice] = checked["iceServers"]
            host = f"{in_netns.addr0}:{settings.turn_port}"
            assert ice["urls"] == [f"turn:{host}?transport=udp", f"turn:{host}?transport=tcp"]
            expiry, user = ice["username"].split(":")
            assert user == "ann" and abs(int(expiry) - (time.time() + 900)) < 60

            config = await api("/ClientAPI/getconfig", serial=made["serial"],
                               ticket=checked["ticket"])
            assert config["result"] == 0 and config["iceServers"][0]["username"].endswith(":ann")
            bare = await api("/ClientAPI/getconfig", serial=made["serial"])
            assert bare["result"] == 0 and bare["iceServers"] == []  # no ticket: no credentials
            wrong = await api("/ClientAPI/getconfig", serial=other["serial"],
                              ticket=checked["ticket"])
            assert wrong["result"] == 4108
            forged = await api("/ClientAPI/getconfig", serial=made["serial"],
                               ticket=checked["ticket"][:-4] + "AAAA")
            assert forged["result"] == 5301

            ready = (await http.get("/readyz")).json()
            assert ready["checks"]["turn"]["ok"] is True, ready

        server = (in_netns.addr0, settings.turn_port)
        async with turn_client(server, ice["username"], ice["credential"]) as c:
            assert isinstance(await allocate(c), tuple)
    finally:
        await node.stop()
