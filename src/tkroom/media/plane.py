"""The media plane as a node service: its Janus servers, the MediaService, recordings.

``tkroom serve`` with no ``--janus``: the node runs its own Janus (when installed) with a
configuration it writes under the data folder. With ``--janus ws://…`` (repeatable) it uses
those servers, plus every server registered through the Web API (``serveradd`` with a ``url``)
which it re-reads every ``sync_every`` seconds. Without any server, media requests answer 151.

With ``janus_advertise`` the node's own Janus listens on that address and is offered to the
other nodes of the cluster through the room state (``share_media_server``): they add it to
their servers at their next sync, and drop it when the node withdraws it or dies.

Its settings (``janus_ice``, ``rtp_ports``, ``janus_secret``, ``embedded_janus``,
``janus_advertise``, ``media_sync_s``) are the node's ``Settings`` (docs/configuration.md).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tkroom.config import Settings
from tkroom.directory import RoomDirectory
from tkroom.media.deadfeeds import DeadNodeFeeds
from tkroom.media.failover import MediaRecords
from tkroom.media.janus_process import JanusProcess, JanusSettings, janus_available
from tkroom.media.layers import SimulcastMode
from tkroom.media.servers import MediaServer, ServerRegistry, static_name
from tkroom.media.service import MediaService, RoomSink
from tkroom.metrics import MediaServerState, Metric, media_families

log = logging.getLogger(__name__)

@dataclass
class MediaSettings:
    """What the media plane reads besides the node's ``Settings``."""

    janus_urls: list[str]
    workdir: Path
    ice_enforce_list: str = ""
    rtp_port_range: str = "20000-40000"
    embedded: bool = True
    janus_secret: str = ""
    simulcast: SimulcastMode = "auto"
    advertise: str = ""  # the embedded Janus listens there and is offered to the cluster

    @classmethod
    def from_settings(cls, s: Settings) -> MediaSettings:
        return cls(janus_urls=list(s.janus_urls), workdir=s.data_dir / "media",
                   ice_enforce_list=s.janus_ice, rtp_port_range=s.rtp_ports,
                   embedded=s.embedded_janus, janus_secret=s.janus_secret,
                   simulcast=s.simulcast, advertise=s.janus_advertise)


class DirectoryRecords:
    """``RecordSink`` over the node's directory (``add_record``: what ``getrecordlist`` reads)."""

    def __init__(self, directory: RoomDirectory) -> None:
        self.directory = directory

    async def add_record(self, serial: str, record: dict[str, Any]) -> None:
        await self.directory.add_record(
            serial=serial, path=record["path"], starttime=int(record["starttime"] // 1000),
            duration_ms=int(record["duration"] * 1000), size=record["size"],
            title=record["name"], kind=record["kind"], userid=record["userid"],
            recordid=record["recordid"])


class MediaPlane:
    """Start/stop the servers and the service; ``service`` exists from construction on.

    Recordings are registered through ``directory.add_record``; with ``sync_servers`` the
    servers registered through the Web API (``directory.media_servers``) join the pool.
    ``shared``: the room state that records each class's media room (the cluster's)."""

    def __init__(self, settings: MediaSettings, directory: RoomDirectory, sink: RoomSink, *,
                 sync_servers: bool = False, sync_every: float = 10.0,
                 shared: MediaRecords | None = None) -> None:
        self.settings = settings
        self.directory = directory
        self.registry = ServerRegistry()
        self.service = MediaService(self.registry, directory, sink,
                                    record_dir=settings.workdir / "records",
                                    records=DirectoryRecords(directory), shared=shared,
                                    simulcast=settings.simulcast)
        self.sync_servers = sync_servers
        self.sync_every = sync_every
        self.janus: JanusProcess | None = None
        self._sync: asyncio.Task[None] | None = None
        self.dead_feeds = DeadNodeFeeds(self.service.rooms, self.service.shared, sink,
                                        self.service.remote_gone)
        self._dead: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        (s.workdir / "records").mkdir(parents=True, exist_ok=True)
        for url in s.janus_urls:
            name = static_name(url)
            if name in self.registry.servers:
                log.warning("--janus %s is listed twice (as %s): added once", url, name)
                continue
            await self.registry.add(MediaServer(name, url, secret=s.janus_secret, static=True))
        if not s.janus_urls and s.embedded and janus_available():
            self.janus = JanusProcess(JanusSettings(
                workdir=s.workdir / "janus", ice_enforce_list=s.ice_enforce_list,
                rtp_port_range=s.rtp_port_range, ws_ip=s.advertise or "127.0.0.1"))
            await self.janus.start()
            # offered to the cluster, it is named as every node will name it: from its URL
            name = static_name(self.janus.url) if s.advertise else "embedded"
            await self.registry.add(MediaServer(name, self.janus.url, embedded=True,
                                                secret=self.janus.api_secret))
            if not s.advertise and self.service.shared.node:
                log.warning("this node's own Janus is on loopback but the node is in a cluster: "
                            "set TKROOM_JANUS_ADVERTISE (or use --janus), or a class split "
                            "over nodes runs in one VideoRoom per node")
        elif not s.janus_urls:
            log.warning("no Janus: media requests will answer 151")
        self.registry.start()
        self._dead = asyncio.create_task(self.dead_feeds.run())
        if self.sync_servers:
            self._sync = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while True:
            try:
                rows = [r for r in await self.directory.media_servers() if r.get("url")]
                await self.registry.sync(rows + await self._shared_rows())
            except Exception:
                log.exception("could not read the media-server registry")
            await asyncio.sleep(self.sync_every)

    async def _shared_rows(self) -> list[dict[str, Any]]:
        """The Janus servers the other live nodes of the cluster offer (``janus_advertise``),
        as registry rows; this node offers its own again (a state that restarted lost it),
        and forgets those of dead nodes."""
        shared = self.service.shared
        if self.janus is not None and self.settings.advertise:
            await shared.share_media_server({"url": self.janus.url,
                                             "secret": self.janus.api_secret})
        offered = {n: r for n, r in (await shared.shared_media_servers()).items()
                   if n != shared.node}
        dead = await shared.dead_nodes(offered) if offered else set()
        for node in dead:
            await shared.forget_media_server(node)
        return [{"name": static_name(r["url"]), "url": r["url"], "apisecret": r.get("secret", "")}
                for n, r in offered.items() if n not in dead]

    async def readiness(self) -> dict[str, Any]:
        """Ready when some media server answers its health check, or when the node has none
        at all (it was set up without media: media requests answer 151)."""
        servers = {s.id: {"healthy": s.healthy, "load": s.load, "capacity": s.capacity}
                   for s in self.registry.servers.values()}
        ok = not servers or any(s["healthy"] for s in servers.values())
        return {"ok": ok, "servers": servers}

    def metrics(self) -> list[Metric]:
        pubs: dict[str, int] = {}
        subs: dict[str, int] = {}
        recordings = 0
        for room in list(self.service.rooms.values()):
            if room.recording is not None:
                recordings += 1
            server = room.server
            if server is not None:
                pubs[server.id] = pubs.get(server.id, 0) + len(room.pubs)
                subs[server.id] = subs.get(server.id, 0) + len(room.subs)
        states = [MediaServerState(s.id, s.healthy, s.load, s.capacity, pubs.get(s.id, 0),
                                   subs.get(s.id, 0)) for s in self.registry.servers.values()]
        return media_families(states, recordings, len(self.service.postprocessing))

    async def stop(self) -> None:
        for task in (self._sync, self._dead):
            if task is not None:
                task.cancel()
                await asyncio.wait({task})
        if self.janus is not None and self.settings.advertise:
            try:
                await self.service.shared.share_media_server(None)
            except Exception:
                log.exception("could not withdraw this node's Janus from the cluster")
        await self.service.close()
        await self.registry.close()
        if self.janus is not None:
            await self.janus.stop()


def install_media(node: Any, signal: Any) -> MediaPlane:
    """Add the media plane to a ``tkroom.node.Node`` whose ``SignalServer`` is ``signal``:
    media requests on the signal sockets, Janus (embedded or ``--janus``), the Web API's
    media-server registry, recordings into the records table (all through ``node.directory``).
    Call before ``node.start()``."""
    from tkroom.media.bridge import StateSink, attach_media

    plane = MediaPlane(MediaSettings.from_settings(node.settings), node.directory,
                       StateSink(signal.state), sync_servers=True,
                       sync_every=node.settings.media_sync_s, shared=signal.state)
    attach_media(signal, plane.service)
    node.services.append(plane)
    node.readiness.add("media", plane.readiness)
    node.metrics.add(plane.metrics)
    return plane
