"""Recordings reachable from every node (issue 12): the egress plane stores a finished job's
outputs in the node's storage under ``record_key``, the records name them by key, and a second
node on the same database and storage lists, plays and downloads them; the pages a class shows
come from the storage into the recording's folder.

Real parts: the compositor's worker and ffmpeg, PostgreSQL, moto's S3 server, two nodes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.egress.lesson import AT_MS, Lesson, Publisher, make, make_page, page_color
from PIL import Image

from conftest import need_binary
from egress_media import close, mean_color
from tkroom.egress.eventlog import EventLog
from tkroom.egress.jobs import read_job, write_job
from tkroom.egress.live import LiveRoom, LiveService, LiveSettings
from tkroom.egress.plane import EgressPlane, EgressSettings
from tkroom.rooms.courseware import DONE, page_name
from tkroom.rooms.model import ALL, Event
from tkroom.rooms.playback import SHOW_PAGE_ID
from tkroom.rooms.scene import start_line
from tkroom.state.memory import MemoryState
from tkroom.storage import files_key, pages_prefix, record_key
from tkroom.store.models import File
from webapi_nodes import Api, NodeThread, node_settings, wait_for

OUTPUTS = ("composite.mp4", "audio.m4a", "user-t.mp4", "events.jsonl", "page-7_1.jpg")
S3_FIELDS = ("storage", "s3_endpoint", "s3_bucket", "s3_access_key", "s3_secret_key", "s3_prefix")


@dataclass
class Cluster:
    kind: str
    a: NodeThread  # records
    b: NodeThread  # only serves


def _s3(request: pytest.FixtureRequest) -> dict[str, Any]:
    base = request.getfixturevalue("s3_server").settings()
    return {k: getattr(base, k) for k in S3_FIELDS}


@pytest.fixture(params=["folder", "shared", "s3"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path, own_pg_url: str) -> Iterator[Cluster]:
    """Two nodes on one PostgreSQL database and one storage: on ``folder``, node a's data
    folder (its default storage) is the folder node b mounts; on ``shared``, a folder both
    mount (``storage_dir``); on ``s3``, one bucket prefix."""
    if request.param == "s3":
        kw_a = kw_b = _s3(request)
    elif request.param == "shared":
        kw_a = kw_b = {"storage_dir": tmp_path / "shared"}
    else:
        kw_a, kw_b = {}, {"storage_dir": tmp_path / "a"}
    a = NodeThread(node_settings(tmp_path / "a", own_pg_url, **kw_a))
    try:
        b = NodeThread(node_settings(tmp_path / "b", own_pg_url, **kw_b))
    except BaseException:
        a.stop()
        raise
    try:
        yield Cluster(request.param, a, b)
    finally:
        b.stop()
        a.stop()


def test_a_recording_made_on_one_node_plays_and_downloads_on_another(cluster: Cluster):
    need_binary("ffmpeg")
    a, b = cluster.a, cluster.b
    api_a = Api(a, a.enterprise())
    api_b = Api(b, api_a.company)
    serial = api_a.room()
    records = a.node.settings.data_dir / "media" / "records"  # where node a records
    folder = make(records / serial / "rec1", Lesson(3000, [Publisher("t", 0)], pages=1))
    plane = EgressPlane(EgressSettings(records, width=640, height=360, preset="ultrafast"),
                        a.node.directory, MemoryState(), a.node.storage)
    # registered as processing, its job queued: the node making it tells how far it is
    a.run(plane.queue(folder, serial, "rec1", AT_MS))
    on_a = api_a("getrecordlist", serial=serial)["recordlist"]
    on_b = api_b("getrecordlist", serial=serial)["recordlist"]
    assert {r["state"] for r in on_a + on_b} == {0}
    assert all(r["progress"] == 0 for r in on_a)
    assert all("progress" not in r for r in on_b)  # node b has no job.json to read
    a.run(plane.start())
    try:
        def ready() -> list | None:
            rows = api_b("getrecordlist", serial=serial)["recordlist"]
            return rows if len(rows) == 3 and all(r["state"] == 1 for r in rows) else None

        rows = wait_for(ready, 300, what="the outputs ready, as node b lists them")
        wait_for(lambda: read_job(folder).registered, 60, what="the outcome registered")
    finally:
        a.run(plane.stop())

    # the objects are in the storage under their keys, the records name them by key
    keys = {n: record_key(serial, "rec1", n) for n in OUTPUTS}
    assert all(b.run(b.node.storage.exists(k)) for k in keys.values())
    paths = {r["recordtype"]: r["path"] for r in b.run(b.node.directory.records_of("rec1"))}
    assert paths == {0: keys["events.jsonl"], 8: keys["composite.mp4"], 1: keys["user-t.mp4"]}
    local = {n for n in OUTPUTS if (folder / n).exists()}
    if cluster.kind == "folder":  # the default folder storage's object is the file written
        assert local == set(OUTPUTS)
    else:  # stored elsewhere: the recording's folder keeps its job
        assert local == set() and (folder / "job.json").is_file()
    stored = b.run(b.node.storage.size(keys["composite.mp4"]))

    # a node that died before noting the outcome registered registers it again at its restart
    # (on S3 without the local copies): the same records
    before = b.run(b.node.directory.records_of("rec1"))
    job = read_job(folder)
    job.registered = False
    write_job(folder, job)
    again = EgressPlane(EgressSettings(records), a.node.directory, MemoryState(), a.node.storage)
    a.run(again.start())
    try:
        wait_for(lambda: read_job(folder).registered, 60, what="the outcome registered again")
    finally:
        a.run(again.stop())
    assert b.run(b.node.directory.records_of("rec1")) == before

    # node b serves the downloads and the playback page's data
    by = {(r["recordtype"], r["userid"]): r for r in rows}
    merged, events = by[(8, "")], by[(0, "")]
    assert merged["size"] == stored > 0
    info = httpx.get(events["playpath"] + "/info", timeout=60).json()
    dl = f"/download/record/{events['recordid']}/{events['recordpath'].rsplit('/', 1)[1]}/"
    assert (info["result"], info["state"]) == (0, 1)
    assert (info["events"], info["video"], info["audio"]) == (
        dl + "events.jsonl", dl + "composite.mp4", dl + "audio.m4a")
    assert info["pages"] == {"7_1": dl + "page-7_1.jpg"}
    mp4 = httpx.get(merged["playpath_mp4"], follow_redirects=True, timeout=60)
    assert mp4.status_code == 200 and len(mp4.content) == stored
    assert mp4.content[4:8] == b"ftyp"
    assert merged["playpath_mp4"].startswith(b.url)
    user = httpx.get(by[(1, "t")]["playpath_mp4"], follow_redirects=True, timeout=60)
    assert user.status_code == 200 and user.content[4:8] == b"ftyp"
    log = httpx.get(b.url + info["events"], follow_redirects=True, timeout=60)
    assert log.status_code == 200 and log.text.startswith('{"v":1,"kind":"start"')
    page = httpx.get(b.url + info["pages"]["7_1"], follow_redirects=True, timeout=60)
    assert page.status_code == 200 and page.content[:2] == b"\xff\xd8"


def test_a_failed_recording_stores_its_event_playback(cluster: Cluster):
    need_binary("ffmpeg")
    a, b = cluster.a, cluster.b
    api_a = Api(a, a.enterprise())
    serial = api_a.room()
    records = a.node.settings.data_dir / "media" / "records"
    folder = make(records / serial / "broken", Lesson(3000, [Publisher("t", 0)], pages=1))
    (folder / "rec-t_video_default-0-video.webm").write_bytes(b"garbage" * 100)
    plane = EgressPlane(EgressSettings(records, width=640, height=360, preset="ultrafast"),
                        a.node.directory, MemoryState(), a.node.storage)
    a.run(plane.start())
    try:
        def settled() -> list | None:
            rows = Api(b, api_a.company)("getrecordlist", serial=serial)["recordlist"]
            return rows if rows and all(r["state"] != 0 for r in rows) else None

        rows = wait_for(settled, 300, what="the job's end, as node b lists it")
        wait_for(lambda: read_job(folder).registered, 60, what="the outcome registered")
    finally:
        a.run(plane.stop())
    by = {r["recordtype"]: r for r in rows}
    assert (by[0]["state"], by[8]["state"]) == (1, 2)
    for name in ("events.jsonl", "page-7_1.jpg"):
        assert b.run(b.node.storage.exists(record_key(serial, "broken", name))), name
        assert (folder / name).exists() == (cluster.kind == "folder"), name
    assert (folder / "rec-t_video_default-0-video.webm").exists()  # the sources stay
    info = httpx.get(by[0]["playpath"] + "/info", timeout=60).json()
    assert info["video_failed"] and info["video"] is None and info["audio"] is None
    assert info["events"].endswith("/events.jsonl") and list(info["pages"]) == ["7_1"]


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_the_pages_a_class_shows_come_from_the_storage(kind: str, request, tmp_path: Path,
                                                       own_pg_url: str):
    """A converted document's pages are in the storage (not on the recording node's disk):
    the event log fetches each page shown into the recording's folder, and the live stream
    draws it behind the videos."""
    node = NodeThread(node_settings(tmp_path / "n", own_pg_url,
                                    **(_s3(request) if kind == "s3" else {})))
    try:
        api = Api(node, node.enterprise())
        serial = api.room()
        source = files_key(api.company["companyid"], "tok", "deck.pdf")
        image = tmp_path / "page2.jpg"
        make_page(image, 2)
        node.run(node.node.storage.put_file(pages_prefix(source) + page_name(2), image))

        async def add_file() -> int:
            async with node.node.sessions() as s:
                f = File(companyid=api.company["companyid"], filename="deck.pdf", size=1,
                         path=source, token="tok", uploadtime=int(time.time()),
                         conversion=True, status=DONE, pagenum=2)
                s.add(f)
                await s.commit()
                return f.id

        fileid = node.run(add_file())
        folder = tmp_path / "recording"

        async def record() -> None:
            state = MemoryState()
            await state.subscribe(serial, lambda e: None)  # the room is served
            log = EventLog(state, serial, folder, time.time(), {}, pages=node.node.directory,
                           storage=node.node.storage)
            await log.start()
            await state.publish(serial, Event("pubMsg", {
                "name": "ShowPage", "id": SHOW_PAGE_ID, "toID": "__all", "save": True,
                "data": {"fileid": fileid, "currpage": 2}}, ALL))
            await log.close()  # waits for the pages

        async def live_still() -> Path:
            service = LiveService(LiveSettings(workdir=tmp_path / "live"), MemoryState(),
                                  node.node.directory, None, storage=node.node.storage)
            lr = LiveRoom(serial, tmp_path / "live" / serial)
            lr.dir.mkdir(parents=True)
            show = {"name": "ShowPage", "id": SHOW_PAGE_ID,
                    "data": {"fileid": fileid, "currpage": 2}}
            lr.scene.apply(start_line(AT_MS, serial, {"roomlayout": 3}, [], [show]))
            await service._plan(lr)
            return lr.dir / "layer.png"

        node.run(record())
        still = node.run(live_still())
    finally:
        node.stop()
    kept = folder / f"page-{fileid}_2.jpg"
    assert kept.is_file() and kept.read_bytes() == image.read_bytes()
    with Image.open(still) as img:
        w, h = img.size
        assert close(mean_color(img.convert("RGB"), (w // 3, h // 3, w // 6, h // 6)),
                     page_color(2))
