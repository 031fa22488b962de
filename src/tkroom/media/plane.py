"""The media plane as a node service: its Janus servers, the MediaService, recordings.

``tkroom serve`` with no ``--janus``: the node runs its own Janus (when installed) with a
configuration it writes under the data folder. With ``--janus ws://…`` (repeatable) it uses
those servers, plus every server registered through the Web API (``serveradd`` with a ``url``)
which it re-reads every ``sync_every`` seconds. Without any server, media requests answer 151.

Settings beyond ``Settings`` come from the environment: ``TKROOM_JANUS_ICE`` (Janus's
``ice_enforce_list``, e.g. the public interface), ``TKROOM_RTP_PORTS`` (``20000-40000``),
``TKROOM_JANUS_SECRET`` (the API secret of the ``--janus`` servers), ``TKROOM_EMBEDDED_JANUS=0``
(never start an own Janus).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tkroom.config import Settings
from tkroom.directory import RoomDirectory
from tkroom.media.janus_process import JanusProcess, JanusSettings, janus_available
from tkroom.media.servers import MediaServer, ServerRegistry
from tkroom.media.service import MediaService, RoomSink

log = logging.getLogger(__name__)

ServerRows = Callable[[], Awaitable[list[dict[str, Any]]]]


@dataclass
class MediaSettings:
    """What the media plane reads besides the node's ``Settings``."""

    janus_urls: list[str]
    workdir: Path
    ice_enforce_list: str = ""
    rtp_port_range: str = "20000-40000"
    embedded: bool = True
    janus_secret: str = ""

    @classmethod
    def from_settings(cls, s: Settings) -> MediaSettings:
        env = os.environ
        return cls(janus_urls=list(s.janus_urls), workdir=s.data_dir / "media",
                   ice_enforce_list=env.get("TKROOM_JANUS_ICE", ""),
                   rtp_port_range=env.get("TKROOM_RTP_PORTS", "20000-40000"),
                   embedded=env.get("TKROOM_EMBEDDED_JANUS", "1") != "0",
                   janus_secret=env.get("TKROOM_JANUS_SECRET", ""))


class RecordRepoSink:
    """``RecordSink`` over the Web API's ``RecordRepo`` (what ``getrecordlist`` reads)."""

    def __init__(self, repo: Any) -> None:
        self.repo = repo

    async def add_record(self, serial: str, record: dict[str, Any]) -> None:
        await self.repo.add(serial=serial, path=record["path"],
                            starttime=int(record["starttime"] // 1000),
                            duration_ms=int(record["duration"] * 1000), size=record["size"],
                            title=record["name"], kind=record["kind"], userid=record["userid"],
                            recordid=record["recordid"])


class MediaPlane:
    """Start/stop the servers and the service; ``service`` exists from construction on."""

    def __init__(self, settings: MediaSettings, directory: RoomDirectory, sink: RoomSink, *,
                 records: Any = None, server_rows: ServerRows | None = None,
                 sync_every: float = 10.0) -> None:
        self.settings = settings
        self.registry = ServerRegistry()
        self.service = MediaService(self.registry, directory, sink,
                                    record_dir=settings.workdir / "records",
                                    records=RecordRepoSink(records) if records else None)
        self.server_rows = server_rows
        self.sync_every = sync_every
        self.janus: JanusProcess | None = None
        self._sync: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        (s.workdir / "records").mkdir(parents=True, exist_ok=True)
        for i, url in enumerate(s.janus_urls, 1):
            await self.registry.add(MediaServer(f"janus-{i}", url, secret=s.janus_secret,
                                                static=True))
        if not s.janus_urls and s.embedded and janus_available():
            self.janus = JanusProcess(JanusSettings(
                workdir=s.workdir / "janus", ice_enforce_list=s.ice_enforce_list,
                rtp_port_range=s.rtp_port_range))
            await self.janus.start()
            await self.registry.add(MediaServer("embedded", self.janus.url, embedded=True,
                                                secret=self.janus.api_secret))
        elif not s.janus_urls:
            log.warning("no Janus: media requests will answer 151")
        self.registry.start()
        if self.server_rows is not None:
            self._sync = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while True:
            try:
                rows = [r for r in await self.server_rows() if r.get("url")]
                await self.registry.sync(rows)
            except Exception:
                log.exception("could not read the media-server registry")
            await asyncio.sleep(self.sync_every)

    async def stop(self) -> None:
        if self._sync is not None:
            self._sync.cancel()
            await asyncio.wait({self._sync})
        await self.service.close()
        await self.registry.close()
        if self.janus is not None:
            await self.janus.stop()


def install_media(node: Any, signal: Any) -> MediaPlane:
    """Add the media plane to a ``tkroom.node.Node`` whose ``SignalServer`` is ``signal``:
    media requests on the signal sockets, Janus (embedded or ``--janus``), the Web API's
    media-server registry, recordings into the records table. Call before ``node.start()``."""
    from sqlalchemy import select

    from tkroom.media.bridge import StateSink, attach_media
    from tkroom.store.models import MediaServer as ServerRow
    from tkroom.store.records import RecordRepo
    from tkroom.webapi.servers import server_dict

    async def rows() -> list[dict[str, Any]]:
        async with node.sessions() as s:
            found = (await s.execute(select(ServerRow).order_by(ServerRow.id))).scalars().all()
        return [server_dict(m) for m in found]

    plane = MediaPlane(MediaSettings.from_settings(node.settings), node.directory,
                       StateSink(signal.state), records=RecordRepo(node.sessions),
                       server_rows=rows)
    attach_media(signal, plane.service)
    node.services.append(plane)
    return plane
