"""An in-process stand-in for the signalling server's media wiring, for media tests.

It does what the signal server does around ``MediaService``: routes a user's media requests
to ``MediaService.handle`` with the user's room and role, turns the saved ``OnlyAudioRoom`` /
``ClassBegin`` messages into ``on_saved_message`` / ``on_deleted_message``, and delivers the
service's events to the users' SDK media clients.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tkroom.client.media import MediaClient
from tkroom.directory import RoomInfo
from tkroom.media.servers import MediaServer, ServerRegistry
from tkroom.media.service import MEDIA_EVENTS, MediaService


def _strip_candidates(data: dict[str, Any]) -> dict[str, Any]:
    jsep = data.get("jsep")
    if not isinstance(jsep, dict):
        return data
    lines = [ln for ln in jsep["sdp"].split("\r\n")
             if not ln.startswith(("a=candidate", "a=end-of-candidates"))]
    return {**data, "jsep": {**jsep, "sdp": "\r\n".join(lines)}}


class Directory:
    def __init__(self, *rooms: RoomInfo) -> None:
        self.rooms = {r.serial: r for r in rooms}

    async def room(self, serial: str) -> RoomInfo | None:
        return self.rooms.get(serial)


class Records:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    async def add_record(self, serial: str, record: dict[str, Any]) -> None:
        self.rows.append({"serial": serial, **record})


@dataclass
class Sink:
    clients: dict[tuple[str, str], MediaClient] = field(default_factory=dict)
    events: dict[str, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list))

    async def to_user(self, serial: str, userid: str, ev: str, data: dict[str, Any]) -> None:
        self.events[userid].append((ev, data))
        c = self.clients.get((serial, userid))
        if c is not None:
            await c.dispatch(ev, data)

    async def to_room(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        for (s, uid) in list(self.clients):
            if s == serial:
                await self.to_user(serial, uid, ev, data)

    async def to_nodes(self, serial: str, ev: str, data: dict[str, Any]) -> None:
        """One node: nobody else to tell."""


class Node:
    """The media side of one node: a registry, the service, the sink and the users."""

    def __init__(self, record_dir: Path, *rooms: RoomInfo, **service_kw: Any) -> None:
        self.registry = ServerRegistry(check_every=0.5, check_within=2.0)
        self.sink = Sink()
        self.records = Records()
        self.directory = Directory(*rooms)
        self.service = MediaService(self.registry, self.directory, self.sink,
                                    record_dir=record_dir, records=self.records, **service_kw)

    async def add_server(self, sid: str, url: str, capacity: int = 500,
                         secret: str = "") -> MediaServer:
        return await self.registry.add(MediaServer(sid, url, capacity, secret=secret))

    def user(self, serial: str, userid: str, role: int = 2, *, block_media: bool = False,
             **kw: Any) -> MediaClient:
        """A user's SDK media client; ``block_media``: a firewall drops its ICE candidates
        both ways (signalling works, media can never connect)."""

        async def request(ev: str, data: dict[str, Any]) -> Any:
            if ev in MEDIA_EVENTS:
                if block_media:
                    data = _strip_candidates(data)
                ack = await self.service.handle(ev, serial, userid, role, data)
                return _strip_candidates(ack) if block_media else ack
            if ev == "pubMsg":
                await self.service.on_saved_message(serial, data)
                return {"seq": 1}
            if ev == "delMsg":
                await self.service.on_deleted_message(serial, data)
                return {}
            raise AssertionError(f"unexpected request {ev}")

        client = MediaClient(request, userid, **kw)
        self.sink.clients[(serial, userid)] = client
        return client

    def codes(self, client: MediaClient, kind: str | None = None) -> list[int]:
        return [n["code"] for n in client.notices if kind is None or n["kind"] == kind]

    async def close(self) -> None:
        for c in self.sink.clients.values():
            await c.close()
        await self.service.close()
        await self.registry.close()
