"""Courseware files reachable from every node (issue 12): two nodes on one PostgreSQL database
and one storage — a folder both mount, and S3 (moto's real server) — where a file uploaded
through one node downloads, converts and is deleted through the other, as a user of a load-
balanced cluster would see it; and uploads the storage refuses leave nothing behind."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import courseware_docs as docs
from conftest import need_binary
from s3_server import MotoS3
from tkroom.planes import build_node
from webapi_nodes import Api, NodeThread, node_settings, wait_for

CONVERT_WAIT = 240.0  # s: generous, the machine is shared
LIMIT = 1 << 20       # bytes: the nodes' upload limit


class FileNode(NodeThread):
    """A node as ``tkroom serve`` builds it, without media; ``courseware=False``: it converts
    nothing (its documents wait for another node)."""

    def __init__(self, settings: Any, courseware: bool = True):
        self.courseware = courseware
        super().__init__(settings)

    async def _make(self) -> Any:
        return build_node(self.settings, media=False, web=False, courseware=self.courseware)


class Objects:
    """What the storage holds, listed as an operator would: the folder's files, the bucket's
    keys (under the test's prefix)."""

    def __init__(self, kind: str, folder: Path, s3: dict[str, Any] | None):
        self.kind, self.folder, self.s3 = kind, folder, s3

    def keys(self) -> set[str]:
        if self.s3 is None:
            return {str(p.relative_to(self.folder)) for p in (self.folder / "files").rglob("*")
                    if p.is_file()}
        return set(s3_keys(self.s3, self.s3["s3_prefix"] + "files/"))


def s3_keys(values: dict[str, Any], prefix: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=values["s3_endpoint"], region_name="us-east-1",
                          aws_access_key_id=values["s3_access_key"],
                          aws_secret_access_key=values["s3_secret_key"])
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=values["s3_bucket"],
                                                             Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.fixture(params=["folder", "s3"])
def cluster(request: pytest.FixtureRequest, own_pg_url: str, tmp_path: Path) -> Iterator[Any]:
    """``make(name, courseware=True)`` builds a node on one database and one storage (a folder
    every node is given, or a prefix of the session's moto S3 bucket); what that storage holds."""
    shared = tmp_path / "shared"
    s3 = request.getfixturevalue("s3_server").values() if request.param == "s3" else None
    storage = s3 or {"storage_dir": shared}
    made: list[FileNode] = []

    def make(name: str, courseware: bool = True, **over: Any) -> FileNode:
        n = FileNode(node_settings(tmp_path / name, own_pg_url, max_upload_bytes=LIMIT,
                                   **{**storage, **over}), courseware)
        made.append(n)
        return n

    try:
        yield make, Objects(request.param, shared, s3)
    finally:
        for n in made:
            n.stop()


def two_apis(a: FileNode, b: FileNode) -> tuple[Api, Api]:
    """One enterprise, called through node A and through node B."""
    api_a = Api(a, a.enterprise())
    return api_a, Api(b, api_a.company)


def upload(api: Api, name: str, data: bytes, **params: Any) -> dict[str, Any]:
    return api("uploadfile", files={"filedata": (name, data)}, **params)


def room_files(api: Api, serial: str) -> dict[int, dict[str, Any]]:
    r = api("getroomfile", serial=serial)
    assert r["result"] == 0, r
    return {f["fileid"]: f for f in r["roomfile"]}


def wait_converted(api: Api, serial: str, fid: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        f = room_files(api, serial)[fid]
        return f if f["status"] in (1, 2) else None

    f = wait_for(done, CONVERT_WAIT, 0.3, "the conversion")
    assert (f["status"], f["statusmsg"]) == (1, ""), f
    return f


def get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, timeout=60, follow_redirects=True, **kw)


def on(node: FileNode, url: str) -> str:
    """``url`` (as another node wrote it) asked of ``node``."""
    return node.url + "/" + url.split("/", 3)[3]


def assert_served(r: httpx.Response, ctype: str) -> None:
    assert r.status_code == 200, (r.request.url, r.status_code, r.text[:200])
    assert r.headers["content-type"] == ctype


def test_an_upload_through_one_node_downloads_through_the_other(cluster):
    make, objects = cluster
    a, b = make("a"), make("b")
    api_a, api_b = two_apis(a, b)
    serial = api_a.room()
    data = os.urandom(300_000)
    fid = upload(api_a, "notes.bin", data, serial=serial)["fileid"]
    url = room_files(api_b, serial)[fid]["downloadpath"]
    assert url.startswith(b.url)
    r = get(url)
    assert_served(r, "application/octet-stream")
    assert r.content == data
    assert r.headers["content-disposition"] == 'attachment; filename="notes.bin"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    part = get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert len(objects.keys()) == 1


def test_a_converted_document_shows_through_the_other_node(cluster):
    need_binary("pdftoppm")
    make, _ = cluster
    a, b = make("a"), make("b")
    api_a, api_b = two_apis(a, b)
    serial = api_a.room()
    fid = upload(api_a, "three.pdf", docs.pdf(3), serial=serial, conversion=1)["fileid"]
    f = wait_converted(api_b, serial, fid)
    assert f["pagenum"] == 3
    for url, width in [*((u, 1600) for u in f["pageimages"]), *((u, 240) for u in f["thumbnails"])]:
        r = get(on(b, url))
        assert_served(r, "image/jpeg")
        assert r.headers["cache-control"] == "private, max-age=86400"
        assert docs.image(r.content).size[0] == width
    pdf = get(on(b, f["pdfpath"]))
    assert_served(pdf, "application/pdf")
    assert pdf.content.startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", "-"], input=pdf.content, capture_output=True, timeout=30)
    assert re.search(rb"^Pages:\s+3$", info.stdout, re.M), info.stdout


def test_a_document_received_by_a_node_that_converts_nothing_is_converted_by_another(cluster):
    need_binary("pdftoppm")
    make, objects = cluster
    a, b = make("a", courseware=False), make("b")
    api_a, api_b = two_apis(a, b)
    serial = api_a.room()
    fid = upload(api_a, "two.pdf", docs.pdf(2), serial=serial, conversion=1)["fileid"]
    f = wait_converted(api_a, serial, fid)
    assert f["pagenum"] == 2
    assert_served(get(f["pageimages"][1]), "image/jpeg")  # through A, converted by B


def test_a_delete_through_the_other_node_removes_every_object(cluster):
    need_binary("pdftoppm")
    make, objects = cluster
    a, b = make("a"), make("b")
    api_a, api_b = two_apis(a, b)
    serial = api_a.room()
    doc = upload(api_a, "deck.pdf", docs.pdf(2), serial=serial, conversion=1)["fileid"]
    plain = upload(api_a, "notes.txt", b"kept as uploaded", serial=serial)["fileid"]
    spare = upload(api_a, "spare.txt", b"in no room")["fileid"]
    f = wait_converted(api_b, serial, doc)
    assert len(objects.keys()) == 3 + 1 + 2 * 2  # three uploads, a PDF, two pages, two thumbnails
    assert api_b("delroomfile", serial=serial, fileid=doc)["result"] == 0
    assert api_b("delroomfile", serial=serial, fileid=plain)["result"] == 0
    assert api_b("deletefile", fileidarr=str(spare))["result"] == 0
    assert objects.keys() == set()
    gone = get(on(a, f["pageimages"][0]))
    assert gone.status_code == 404 and gone.json()["result"] == 4105


def test_an_upload_over_the_limit_leaves_no_object(cluster):
    make, objects = cluster
    a = make("a")
    api = Api(a, a.enterprise())
    r = upload(api, "big.bin", b"x" * (LIMIT + 1))
    assert r == {"result": 5206, "msg": f"Files are limited to {LIMIT} bytes"}
    assert objects.keys() == set()
    assert api("getcompanyfiles")["result"] == 4105


@pytest.fixture
def own_s3() -> Iterator[MotoS3]:
    """A moto server of this test's own, to stop in the middle of it."""
    s3 = MotoS3()
    s3.start()
    try:
        yield s3
    finally:
        s3.stop()


def test_an_upload_while_s3_is_down_answers_5206_and_leaves_nothing(own_pg_url, tmp_path, own_s3):
    values = own_s3.values()
    a = FileNode(node_settings(tmp_path / "a", own_pg_url, max_upload_bytes=LIMIT, **values))
    try:
        api = Api(a, a.enterprise())
        serial = api.room()
        assert upload(api, "before.txt", b"stored", serial=serial)["result"] == 0
        own_s3.kill()
        r = upload(api, "during.txt", os.urandom(200_000), serial=serial)
        assert r["result"] == 5206, r
        assert r["msg"].startswith("The file could not be stored: "), r
        assert len(r["msg"]) > len("The file could not be stored: ") + 10, r
        assert [f["filename"] for f in room_files(api, serial).values()] == ["before.txt"]
        own_s3.proc = None
        own_s3.start()  # a fresh, empty server: the bucket holds only what is written now
        assert upload(api, "after.txt", b"stored again", serial=serial)["result"] == 0
        names = [k.rsplit("/", 1)[1].split("_", 1)[1]
                 for k in s3_keys(values, values["s3_prefix"] + "files/")]
        assert names == ["after.txt"]
        assert [f["filename"] for f in room_files(api, serial).values()] == ["before.txt", "after.txt"]
    finally:
        a.stop()
