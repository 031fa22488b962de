"""The node's Prometheus metrics: the one home of their names, types, labels and meanings
(``docs/operations.md`` lists them).

Each node has its own registry (several nodes may share a process, as in the tests). The
planes feed it without importing prometheus-client on their hot paths:

- the signalling server adds to plain integers in a ``SignalCounts`` (one event loop, so no
  lock) and the fan-out counts deliveries per written batch, not per frame;
- gauges (rooms, members, media servers) are read from the planes at scrape time through
  ``NodeMetrics.add``;
- backlogs that live in the database are counted by ``NodeMetrics.probe`` functions, awaited
  (with a timeout) when ``/metrics`` is scraped;
- the Web API, off the hot path, uses a prometheus-client counter and histogram directly.

Labels are bounded: roles are the five of ``tkroom.roles``, codes those of ``tkroom.codes``
(anything else is ``other``), request and method names those the node answers (anything else
is ``unknown``). No serial, user id or address is ever a label.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tkroom.codes import CODES
from tkroom.roles import NAMES as ROLE_NAMES

log = logging.getLogger("tkroom.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
PROBE_TIMEOUT_S = 2.0
PROBE_EVERY_S = 1.0  # scrapes closer together share one run of the probes
UNKNOWN = "unknown"
OTHER = "other"

_KNOWN_CODES = frozenset(c.code for c in CODES)


def code_label(code: int) -> str:
    """A status code as a label: one of the registry's, else ``other`` (a bounded set)."""
    return str(code) if code in _KNOWN_CODES else OTHER


def role_label(role: int) -> str:
    return ROLE_NAMES.get(role, OTHER)


@dataclass
class SignalCounts:
    """What the signalling server counts, as plain integers (read at scrape time).

    ``requests``: frames received by request name (only names the server answers, else
    ``unknown``); ``deliveries``: frames written to sockets (events times recipients, acks
    included); ``refusals``: joinRoom/resume refused, by code; ``errors``: other requests
    refused, by code."""

    requests: dict[str, int] = field(default_factory=dict)
    joins: dict[int, int] = field(default_factory=dict)
    refusals: dict[int, int] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)
    deliveries: int = 0
    slow_consumers: int = 0
    resumes: int = 0
    force_reconnects: int = 0


@dataclass
class MediaServerState:
    """One media server as the media plane sees it at scrape time."""

    id: str
    healthy: bool
    load: int
    capacity: int
    publishers: int
    subscribers: int


__all__ = ["Metric", "MediaServerState", "NodeMetrics", "SignalCounts", "media_families",
           "signal_families"]

Collect = Callable[[], Iterable[Metric]]
Probe = Callable[[], Awaitable[None]]


class _Fn(Collector):
    def __init__(self, fn: Collect) -> None:
        self.fn = fn

    def collect(self) -> Iterable[Metric]:
        try:
            yield from self.fn()
        except Exception:  # one plane's failure must not hide the others' metrics
            log.exception("collecting metrics")


class NodeMetrics:
    """One node's registry; ``render()`` answers ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        ProcessCollector(registry=r)  # CPU, memory, file descriptors of the node's process
        self.webapi_requests = Counter(
            "tkroom_webapi_requests", "WebAPI/ClientAPI requests answered, by method and result code",
            ["method", "result"], registry=r)
        self.webapi_seconds = Histogram(
            "tkroom_webapi_request_seconds", "Time to answer a WebAPI/ClientAPI request, by method",
            ["method"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.webhook_backlog = Gauge(
            "tkroom_webhook_backlog", "Callbacks (class state, login/logout) waiting to be delivered (whole cluster)",
            registry=r)
        self.webhook_failed = Gauge(
            "tkroom_webhook_failed", "Callbacks (class state, login/logout) given up after their last attempt",
            registry=r)
        self.conversion_backlog = Gauge(
            "tkroom_conversion_backlog", "Documents of this node waiting for or in conversion",
            ["status"], registry=r)
        self.probe_failures = Counter(
            "tkroom_metrics_probe_failures", "Scrapes whose database probe failed or timed out",
            ["probe"], registry=r)
        self._probes: dict[str, Probe] = {}
        self._probing = asyncio.Lock()
        self._probed = -PROBE_EVERY_S

    def add(self, collect: Collect) -> None:
        """Gauges (or counters) a plane computes when ``/metrics`` is scraped."""
        self.registry.register(_Fn(collect))

    def probe(self, name: str, fn: Probe) -> None:
        """An async refresh run before each scrape (a database count): at most
        ``PROBE_TIMEOUT_S``; on failure the gauge keeps its last value and
        ``tkroom_metrics_probe_failures{probe}`` counts it."""
        self._probes[name] = fn

    def observe_webapi(self, method: str, result: int, seconds: float) -> None:
        self.webapi_requests.labels(method, code_label(result)).inc()
        self.webapi_seconds.labels(method).observe(seconds)

    async def render(self) -> bytes:
        """The text exposition, after refreshing the probes (at most once a second, so that
        anyone polling /metrics cannot load the database)."""
        async with self._probing:
            if time.monotonic() - self._probed >= PROBE_EVERY_S:
                await self._probe()
                self._probed = time.monotonic()
        return generate_latest(self.registry)

    async def _probe(self) -> None:
        names = list(self._probes)
        outcomes = await asyncio.gather(
            *(asyncio.wait_for(self._probes[n](), PROBE_TIMEOUT_S) for n in names),
            return_exceptions=True)
        for name, out in zip(names, outcomes, strict=True):
            if isinstance(out, BaseException):
                log.warning("metrics probe %s failed: %r", name, out)
                self.probe_failures.labels(name).inc()


def _by(fam: CounterMetricFamily | GaugeMetricFamily, values: Mapping[str, float]) -> None:
    for label, value in sorted(values.items()):
        fam.add_metric([label], value)


def signal_families(counts: SignalCounts, rooms: int, members: Mapping[int, int],
                    sockets: int) -> list[Metric]:
    """The signalling plane's metrics from its counts and what it holds right now."""
    out: list[Metric] = [
        GaugeMetricFamily("tkroom_rooms", "Rooms with at least one member connected to this node",
                          value=rooms),
        GaugeMetricFamily("tkroom_signal_sockets", "Signalling sockets open on this node",
                          value=sockets),
    ]
    fam = GaugeMetricFamily("tkroom_members", "Members connected to this node, by role",
                            labels=["role"])
    _by(fam, {name: members.get(role, 0) for role, name in ROLE_NAMES.items()})
    out.append(fam)
    fam_c = CounterMetricFamily("tkroom_signal_joins", "Successful joinRoom requests, by role",
                                labels=["role"])
    _by(fam_c, {name: counts.joins.get(role, 0) for role, name in ROLE_NAMES.items()})
    out.append(fam_c)
    for name, doc, values in (
        ("tkroom_signal_join_refusals", "joinRoom and resume requests refused, by code",
         counts.refusals),
        ("tkroom_signal_request_errors", "Other signalling requests refused, by code",
         counts.errors),
    ):
        fam_c = CounterMetricFamily(name, doc, labels=["code"])
        merged: dict[str, float] = {}
        for code, n in values.items():
            label = code_label(code)
            merged[label] = merged.get(label, 0) + n
        _by(fam_c, merged)
        out.append(fam_c)
    fam_c = CounterMetricFamily("tkroom_signal_messages",
                                "Frames received from clients, by request name", labels=["request"])
    _by(fam_c, dict(counts.requests))
    out.append(fam_c)
    for name, doc, value in (
        ("tkroom_signal_deliveries", "Frames written to clients (events times recipients, acks)",
         counts.deliveries),
        ("tkroom_signal_slow_consumers", "Sockets cut off because they did not read fast enough",
         counts.slow_consumers),
        ("tkroom_signal_resumes", "Sessions resumed on this node", counts.resumes),
        ("tkroom_signal_force_reconnects", "forceReconnect notices sent (the node was stopping)",
         counts.force_reconnects),
    ):
        out.append(CounterMetricFamily(name, doc, value=value))
    return out


def media_families(servers: Iterable[MediaServerState], recordings: int,
                   postprocessing: int) -> list[Metric]:
    """The media plane's metrics: per server (by its id, which the operator chose) and the
    recording jobs."""
    up = GaugeMetricFamily("tkroom_media_server_up", "1 when the media server answers its health "
                           "check, else 0", labels=["server"])
    load = GaugeMetricFamily("tkroom_media_server_load",
                             "PeerConnections placed on the media server", labels=["server"])
    cap = GaugeMetricFamily("tkroom_media_server_capacity",
                            "PeerConnections the media server is given at most", labels=["server"])
    pubs = GaugeMetricFamily("tkroom_media_publishers",
                             "Streams published through this node, by media server",
                             labels=["server"])
    subs = GaugeMetricFamily("tkroom_media_subscribers",
                             "Streams played through this node, by media server",
                             labels=["server"])
    for s in servers:
        up.add_metric([s.id], 1 if s.healthy else 0)
        load.add_metric([s.id], s.load)
        cap.add_metric([s.id], s.capacity)
        pubs.add_metric([s.id], s.publishers)
        subs.add_metric([s.id], s.subscribers)
    rec = GaugeMetricFamily("tkroom_recordings_active", "Server recordings running on this node",
                            value=recordings)
    post = GaugeMetricFamily("tkroom_recordings_postprocessing",
                             "Stopped recordings being made into playable files",
                             value=postprocessing)
    return [up, load, cap, pubs, subs, rec, post]


def egress_families(queued: int, running: int, progress: float) -> list[Metric]:
    """The compositor's jobs on this node (docs/recordings.md)."""
    q = GaugeMetricFamily("tkroom_egress_jobs_queued",
                          "Recordings waiting for the compositor on this node", value=queued)
    r = GaugeMetricFamily("tkroom_egress_jobs_running",
                          "Recordings being composited on this node", value=running)
    p = GaugeMetricFamily("tkroom_egress_progress",
                          "Progress (0..1) of the least advanced running compositor job, 1 when "
                          "none runs", value=progress)
    return [q, r, p]


def live_families(rooms: int, waiting: int, restarts: int) -> list[Metric]:
    """The live compositor's metrics: streams running, rooms over the cap, ffmpeg deaths."""
    return [
        GaugeMetricFamily("tkroom_live_streams", "Live compositors (one ffmpeg each) running "
                          "on this node", value=rooms),
        GaugeMetricFamily("tkroom_live_waiting", "Rooms with live viewers left without a "
                          "stream by live_max_rooms", value=waiting),
        CounterMetricFamily("tkroom_live_ffmpeg_restarts", "Live ffmpeg processes that ended "
                            "without being asked to and were started again", value=restarts),
    ]
