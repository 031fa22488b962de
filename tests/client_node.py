"""A whole tkroom node in the test's event loop, built as ``tkroom serve`` builds it
(``tkroom.planes.build_node``, without media and pages), plus an enterprise and a room."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tkroom.config import Settings
from tkroom.node import Node
from tkroom.planes import build_node
from tkroom.signal.server import SignalServer
from tkroom.state.memory import MemoryState
from tkroom.store.companies import create_company
from webapi_nodes import free_port

PASSWORDS = {"chairmanpwd": "teach1", "assistantpwd": "assist1", "patrolpwd": "patrol1",
             "confuserpwd": "stud1"}



@dataclass
class NodeEnv:
    node: Node
    signal: SignalServer | None
    key: str
    serial: str = ""
    verify: Any = True  # what httpx trusts: an ssl.SSLContext for a node serving TLS


    @property
    def port(self) -> int:
        return self.node.port

    async def webapi(self, method: str, **params: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.node.base_url, timeout=30,
                                     verify=self.verify) as http:
            r = await http.post(f"/WebAPI/{method}", data={"key": self.key, **params})
        body = r.json()
        assert body["result"] == 0, body
        return body

    async def create_room(self, **over: Any) -> str:
        now = int(time.time())
        params = dict(roomname="Math", roomtype=3, starttime=now, endtime=now + 3600,
                      passwordrequired=1, **PASSWORDS)
        params.update(over)
        return (await self.webapi("roomcreate", **params))["serial"]


@contextlib.asynccontextmanager
async def running_node(tmp: Path, *, signal: bool = True, state: MemoryState | None = None,
                       signal_port: int | None = None, grace: float = 5.0, verify: Any = True,
                       **more: Any) -> AsyncIterator[NodeEnv]:
    """A node on free ports. ``signal=False``: HTTP only (getconfig still points at a port).
    ``more``: further settings (``tls_cert``/``tls_key``, with ``verify`` the CA to trust)."""
    sp = signal_port or free_port()
    settings = Settings(host="127.0.0.1", port=0, signal_port=sp, data_dir=tmp,
                        throttle_base_s=0.001, throttle_max_s=0.01, **more)
    sig = None
    if signal:
        node = build_node(settings, state=state or MemoryState(), media=False, web=False,
                          grace=grace, sweep_interval=0.05)
        sig = node.signal
    else:
        node = Node(settings)
    await node.start()
    try:
        async with node.sessions() as s:
            c = await create_company(s, "School")
            await s.commit()
            key = c.authkey
        env = NodeEnv(node, sig, key, verify=verify)
        env.serial = await env.create_room(maxusers=50)
        yield env
    finally:
        await node.stop()
