"""The storage contract (``tkroom.storage.base``), the same tests over the folder backend and
over S3 (a real moto server): what is written is what is read back, an upload over its limit
leaves nothing (not even a pending multipart upload), a large upload is never held in memory,
downloads answer ranges, and a hostile key never reaches the disk or the bucket."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tkroom.config import Settings, SettingsError
from tkroom.storage import (
    BadKey,
    FolderStorage,
    Storage,
    TooLarge,
    files_key,
    open_storage,
    pages_prefix,
)

MIB = 1024 * 1024
BACKENDS = ["folder", "s3"]


def pattern(size: int, seed: int = 0) -> bytes:
    """Bytes that differ from offset to offset, so a wrong range or a shifted part shows."""
    block = hashlib.sha256(str(seed).encode()).digest() + bytes(range(256))
    return (block * (size // len(block) + 1))[:size]


async def chunks(total: int, size: int = MIB, seed: int = 0) -> AsyncIterator[bytes]:
    """``total`` bytes in chunks of ``size``, one block reused: the generator holds one chunk."""
    block = pattern(size, seed)
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield block if n == size else block[:n]
        sent += n


async def body(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 64 * 1024):
        yield data[i:i + 64 * 1024]


def digest_of(total: int, size: int = MIB, seed: int = 0) -> str:
    h = hashlib.sha256()
    block = pattern(size, seed)
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        h.update(block[:n])
        sent += n
    return h.hexdigest()


def s3_settings(request: pytest.FixtureRequest, **over: object) -> Settings:
    return request.getfixturevalue("s3_server").settings(**over)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "folder":
        storage: Storage = FolderStorage(tmp_path / "store")
    else:
        storage = open_storage(s3_settings(request, data_dir=tmp_path / "data"))
    await storage.start()
    yield storage
    await storage.stop()


async def pending_uploads(storage: Storage) -> list[str]:
    """Keys of unfinished multipart uploads under the storage's prefix (S3 only)."""
    from tkroom.storage.s3 import S3Storage

    assert isinstance(storage, S3Storage)
    return await storage.pending_uploads()


async def listing(storage: Storage, tmp_path: Path) -> list[str]:
    """Every object (folder: every file, temporary ones included) the storage holds."""
    if isinstance(storage, FolderStorage):
        root = storage.root
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    from tkroom.storage.s3 import S3Storage

    assert isinstance(storage, S3Storage)
    return await storage.keys("")


async def test_round_trip(store: Storage, tmp_path: Path) -> None:
    key = files_key(7, "tok", "notes.pdf")
    data = pattern(300_000)
    assert await store.put_stream(key, body(data), limit=len(data)) == len(data)
    assert await store.exists(key) and await store.size(key) == len(data)
    dest = tmp_path / "out" / "notes.pdf"
    await store.fetch(key, dest)
    assert dest.read_bytes() == data

    local = tmp_path / "local.bin"
    local.write_bytes(b"from disk")
    other = files_key(7, "tok2", "local.bin")
    assert await store.put_file(other, local) == 9
    await store.fetch(other, tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == b"from disk"
    # a local file replaced (not rewritten in place: the folder backend may hard-link it)
    # after being stored does not change the stored object
    replacement = tmp_path / "replacement.bin"
    replacement.write_bytes(b"changed")
    replacement.replace(local)
    await store.fetch(other, tmp_path / "third.bin")
    assert (tmp_path / "third.bin").read_bytes() == b"from disk"

    # writing a key again replaces the object whole
    await store.put_stream(key, body(b"short"), limit=100)
    assert await store.size(key) == 5

    assert not await store.exists(files_key(7, "tok", "nothing"))
    assert await store.size(files_key(7, "tok", "nothing")) is None
    with pytest.raises(FileNotFoundError):
        await store.fetch(files_key(7, "tok", "nothing"), tmp_path / "none")
    assert not (tmp_path / "none").exists()


async def test_folder_keeps_the_data_folder_layout(tmp_path: Path) -> None:
    """The default storage is the data folder, with the paths single nodes always had; a
    path already at its key is not copied; a row's absolute path from before still opens."""
    storage = open_storage(Settings(data_dir=tmp_path))
    assert isinstance(storage, FolderStorage) and not storage.shared
    await storage.start()
    key = files_key(1, "abc", "a.txt")
    await storage.put_stream(key, body(b"hello"), limit=10)
    at = tmp_path / "files" / "1" / "abc_a.txt"
    assert at.read_bytes() == b"hello"
    assert await storage.local_path(key) == at
    inode = at.stat().st_ino
    assert await storage.put_file(key, at) == 5 and at.stat().st_ino == inode
    legacy = tmp_path / "elsewhere" / "old.txt"
    legacy.parent.mkdir()
    legacy.write_bytes(b"old row")
    assert await storage.exists(str(legacy)) and await storage.size(str(legacy)) == 7

    shared = open_storage(Settings(data_dir=tmp_path, storage_dir=tmp_path / "mnt"))
    assert isinstance(shared, FolderStorage) and shared.shared
    assert shared.root == tmp_path / "mnt"


@pytest.mark.parametrize("size", [200_000, 9 * MIB + 123], ids=["small", "multipart"])
async def test_over_the_limit_leaves_nothing(store: Storage, tmp_path: Path, size: int) -> None:
    key = files_key(3, "big", "movie.mp4")
    with pytest.raises(TooLarge):
        await store.put_stream(key, chunks(size), limit=size - 1)
    assert not await store.exists(key)
    assert await listing(store, tmp_path) == []
    if store.kind == "s3":
        assert await pending_uploads(store) == []
    # a failing body (the client went away) leaves nothing either
    async def broken() -> AsyncIterator[bytes]:
        async for c in chunks(size - 1000):
            yield c
        raise ConnectionResetError("client gone")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(key, broken(), limit=size)
    assert await listing(store, tmp_path) == []
    if store.kind == "s3":
        assert await pending_uploads(store) == []
    # at the limit exactly, it is kept whole
    assert await store.put_stream(key, chunks(size), limit=size) == size
    dest = tmp_path / "back"
    await store.fetch(key, dest)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest_of(size)


async def test_a_large_upload_is_streamed_not_held(store: Storage, tmp_path: Path) -> None:
    total = 40 * MIB
    key = "media/records/1001/r1/composite.mp4"
    source = chunks(total)
    await source.__anext__()  # the generator's own block exists before measuring
    tracemalloc.start()
    try:
        async def rest() -> AsyncIterator[bytes]:
            yield pattern(MIB)
            async for c in source:
                yield c

        assert await store.put_stream(key, rest(), limit=total) == total
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # S3 holds one 8 MiB part (and the copy sent); the folder one chunk at a time
    assert peak < 20 * MIB, f"peak {peak / MIB:.1f} MiB for a {total // MIB} MiB body"
    assert await store.size(key) == total
    dest = tmp_path / "back.mp4"
    await store.fetch(key, dest)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest_of(total)
    # a local file that big is stored the same way (S3: in parts)
    assert await store.put_file("media/records/1001/r1/copy.mp4", dest) == total
    again = tmp_path / "again.mp4"
    await store.fetch("media/records/1001/r1/copy.mp4", again)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == digest_of(total)


async def test_copy_delete_and_prefixes(store: Storage, tmp_path: Path) -> None:
    key = files_key(5, "t1", "deck.pptx")
    other = files_key(5, "t2", "deck.pptx")
    await store.put_stream(key, body(b"deck"), limit=100)
    pages = pages_prefix(key)
    for n in (1, 2):
        await store.put_stream(f"{pages}page-{n}.jpg", body(b"page %d" % n), limit=100)
    await store.put_stream(f"{pages}thumbs/page-1.jpg", body(b"thumb"), limit=100)
    await store.put_stream(other, body(b"other deck"), limit=100)

    await store.copy(key, files_key(6, "t1", "deck.pptx"))
    copied = tmp_path / "copied"
    await store.fetch(files_key(6, "t1", "deck.pptx"), copied)
    assert copied.read_bytes() == b"deck"
    with pytest.raises(FileNotFoundError):
        await store.copy(files_key(5, "none", "x"), files_key(5, "none", "y"))

    await store.delete_prefix(pages)
    for n in (1, 2):
        assert not await store.exists(f"{pages}page-{n}.jpg")
    assert not await store.exists(f"{pages}thumbs/page-1.jpg")
    assert await store.exists(key) and await store.exists(other)

    await store.delete_prefix("files/5/t2_")
    assert not await store.exists(other) and await store.exists(key)

    await store.delete(key)
    assert not await store.exists(key)
    await store.delete(key)  # a missing object is not an error
    await store.delete_prefix("files/404/")
    assert await store.exists(files_key(6, "t1", "deck.pptx"))


@pytest.mark.parametrize("key", ["../x", "files/../../x", "files//x", "files/./x", "",
                                 "files/x/..", "a\\..\\b", "files/\0x"])
async def test_a_hostile_key_is_refused(store: Storage, tmp_path: Path, key: str) -> None:
    with pytest.raises(BadKey):
        await store.put_stream(key, body(b"evil"), limit=100)
    with pytest.raises(BadKey):
        await store.fetch(key, tmp_path / "dest")
    with pytest.raises(BadKey):
        await store.delete_prefix(key)
    assert not (tmp_path / "x").exists()
    assert await listing(store, tmp_path) == []


def served(store: Storage) -> httpx.AsyncClient:
    """A Starlette app serving the storage's objects the way the node's downloads do."""
    async def download(request: Request) -> Response:
        r = await store.response(request, request.path_params["key"], filename="notes ü.pdf",
                                 media_type="application/pdf", disposition="inline",
                                 headers={"Cache-Control": "private, max-age=60",
                                          "X-Content-Type-Options": "nosniff"})
        return r if r is not None else Response("no such file", status_code=404)

    app = Starlette(routes=[Route("/d/{key:path}", download, methods=["GET", "HEAD"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")


async def test_downloads_answer_ranges(store: Storage) -> None:
    data = pattern(100_000, seed=3)
    key = "media/records/1/r/composite.mp4"
    await store.put_stream(key, body(data), limit=len(data))
    async with served(store) as http:
        r = await http.get(f"/d/{key}")
        assert r.status_code == 200 and r.content == data
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("inline;")
        assert "notes%20%C3%BC.pdf" in r.headers["content-disposition"]
        assert r.headers["cache-control"] == "private, max-age=60"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["accept-ranges"] == "bytes"
        assert int(r.headers["content-length"]) == len(data)

        r = await http.get(f"/d/{key}", headers={"Range": "bytes=1000-1999"})
        assert r.status_code == 206 and r.content == data[1000:2000]
        assert r.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        assert r.headers["content-length"] == "1000"
        assert r.headers["cache-control"] == "private, max-age=60"

        r = await http.get(f"/d/{key}", headers={"Range": "bytes=-500"})
        assert r.status_code == 206 and r.content == data[-500:]
        r = await http.get(f"/d/{key}", headers={"Range": "bytes=99000-"})
        assert r.status_code == 206 and r.content == data[99000:]

        r = await http.get(f"/d/{key}", headers={"Range": "bytes=99900-200000"})
        assert r.status_code == 206 and r.content == data[99900:]
        assert r.headers["content-range"] == f"bytes 99900-{len(data) - 1}/{len(data)}"

        r = await http.head(f"/d/{key}")
        assert r.status_code == 200 and r.content == b""
        assert int(r.headers["content-length"]) == len(data)
        assert r.headers["content-type"] == "application/pdf"

        r = await http.get(f"/d/{key}", headers={"Range": f"bytes={len(data) + 10}-"})
        assert r.status_code == 416
        assert r.headers["content-range"] == f"bytes */{len(data)}"

        r = await http.get("/d/media/records/1/r/missing.mp4")
        assert r.status_code == 404


async def test_s3_redirect_downloads(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    storage = open_storage(s3_settings(request, s3_downloads="redirect", s3_url_ttl_s=60))
    await storage.start()
    try:
        data = pattern(50_000, seed=4)
        key = files_key(9, "r", "notes.pdf")
        await storage.put_stream(key, body(data), limit=len(data))
        async with served(storage) as http:
            r = await http.get(f"/d/{key}")
            assert r.status_code == 302
            location = r.headers["location"]
            assert "X-Amz-Expires=60" in location
            assert (await http.get(f"/d/{files_key(9, 'r', 'none')}")).status_code == 404
        async with httpx.AsyncClient() as browser:
            got = await browser.get(location)
            assert got.status_code == 200 and got.content == data
            assert got.headers["content-type"] == "application/pdf"
            assert got.headers["content-disposition"].startswith("inline;")
            assert "notes%20%C3%BC.pdf" in got.headers["content-disposition"]
            part = await browser.get(location, headers={"Range": "bytes=10-19"})
            assert part.status_code == 206 and part.content == data[10:20]
    finally:
        await storage.stop()


async def test_s3_without_a_bucket_does_not_start() -> None:
    with pytest.raises(SettingsError, match="TKROOM_S3_BUCKET"):
        open_storage(Settings(storage="s3"))


async def test_s3_legacy_paths_are_not_objects(request: pytest.FixtureRequest) -> None:
    storage = open_storage(s3_settings(request))
    await storage.start()
    try:
        assert not await storage.exists("/var/lib/tkroom/files/1/old.pdf")
        assert await storage.size("/var/lib/tkroom/files/1/old.pdf") is None
        with pytest.raises(BadKey):
            await storage.put_stream("/var/lib/tkroom/x", body(b"x"), limit=10)
    finally:
        await storage.stop()


async def test_s3_unreachable_is_a_storage_error_not_a_hang(tmp_path: Path) -> None:
    from s3_server import MotoS3, free_port
    from tkroom.storage import StorageError

    nobody = open_storage(Settings(storage="s3", s3_bucket="b", s3_access_key="k",
                                   s3_secret_key="s", s3_endpoint=f"http://127.0.0.1:{free_port()}"))
    async with asyncio.timeout(60):
        with pytest.raises(StorageError, match="127.0.0.1"):
            await nobody.start()
        await nobody.stop()

    server = MotoS3(bucket="outage")
    await asyncio.to_thread(server.start)
    try:
        storage = open_storage(server.settings())
        await storage.start()
        await storage.put_stream("files/1/a", body(b"before"), limit=10)
        assert (await storage.check())["ok"]
        server.kill()
        async with asyncio.timeout(60):
            with pytest.raises(StorageError):
                await storage.put_stream("files/1/b", body(b"after"), limit=10)
            with pytest.raises(StorageError):
                await storage.exists("files/1/a")
            with pytest.raises(StorageError):
                await storage.check()
        await storage.stop()
    finally:
        server.stop()


async def test_wrong_bucket_is_a_readable_error(request: pytest.FixtureRequest) -> None:
    from tkroom.storage import StorageError

    storage = open_storage(s3_settings(request, s3_bucket="no-such-bucket"))
    with pytest.raises(StorageError, match="no-such-bucket"):
        await storage.start()
    await storage.stop()
    created = open_storage(s3_settings(request, s3_bucket="made-at-start", s3_create_bucket=True))
    await created.start()
    try:
        assert (await created.check())["ok"]
    finally:
        await created.stop()


async def test_refused_credentials_are_a_readable_error(request: pytest.FixtureRequest) -> None:
    """A server that checks signatures, given keys it does not know: start-up says so."""
    from s3_server import MotoS3
    from tkroom.storage import StorageError

    server = MotoS3(bucket="locked", enforce_auth=True)
    await asyncio.to_thread(server.start)
    try:
        storage = open_storage(server.settings(s3_secret_key="wrong-secret"))
        with pytest.raises(StorageError, match="403 access denied") as caught:
            await storage.start()
        assert "wrong-secret" not in str(caught.value) and "locked" in str(caught.value)
        await storage.stop()
    finally:
        server.stop()
