"""The live compositor as a node service (``install_live``), wired by ``tkroom.planes``."""

from __future__ import annotations

import logging
import shutil
from typing import Any

from tkroom.config import Settings
from tkroom.egress.live import LiveService, LiveSettings
from tkroom.egress.live_http import live_routes
from tkroom.egress.live_plan import Output

log = logging.getLogger(__name__)


def live_settings(s: Settings) -> LiveSettings:
    width, height = (int(v) for v in s.live_size.split("x"))
    first, last = (int(v) for v in s.live_ports.split("-"))
    return LiveSettings(
        workdir=s.data_dir / "live",
        output=Output(width=width, height=height, fps=s.live_fps, video_kbps=s.live_video_kbps,
                      segment_s=s.live_segment_s, list_size=s.live_list_size),
        max_rooms=s.live_max_rooms, ports=(first, last), rtp_host=s.live_rtp_host,
        rtmp_url=s.live_rtmp_url, ffmpeg=shutil.which("ffmpeg") or "ffmpeg")


def install_live(node: Any, signal: Any) -> LiveService | None:
    """Serve ``/live/...`` and run the live compositor for the rooms this node serves (the
    media plane's rooms: call after ``install_media``). None when disabled or without ffmpeg."""
    s: Settings = node.settings
    if not s.live_enabled:
        return None
    if shutil.which("ffmpeg") is None:
        # checkroom then hands out no pullinfo: live viewers subscribe over WebRTC instead
        log.warning("ffmpeg not found: no live streaming (live_enabled turned off)")
        s.live_enabled = False
        return None
    settings = live_settings(s)
    media = node.media.service if node.media is not None else None

    async def push_url(serial: str) -> str:
        """The enterprise's own RTMP URL, else the node's."""
        own = await node.directory.live_push_url(serial)
        return own or settings.rtmp_url

    service = LiveService(settings, signal.state, node.directory, media, push_url=push_url,
                          storage=node.storage)
    signal.room_hooks.append(service.watch)
    node.services.append(service)
    node.metrics.add(service.metrics)
    node.routes.extend(live_routes(settings.workdir, lambda: node.secret,
                                   settings.output.segment_s))
    node.live = service
    return service
