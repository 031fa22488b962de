"""Where uploaded files, their converted pages and recordings' outputs live: one interface,
two backends (``folder``: a directory, one node's or a shared mount; ``s3``: S3-compatible
object storage), so that every node of a cluster reaches the same bytes (docs/storage.md).

Objects are named by **keys**: ``/``-separated relative paths such as
``files/<companyid>/<token>_<name>`` (an upload), ``files/<companyid>/<token>_<name>.pages/page-1.jpg``
(its converted pages) or ``media/records/<serial>/<recording>/composite.mp4`` (a recording's
output). On the folder backend a key is the path under the folder (the data folder by default,
so the layout on disk is the one single nodes always had). A key that is an absolute path is a
row written before storage existed: the folder backend opens it as is, S3 has no such object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response


class StorageError(Exception):
    """The storage could not be reached or refused the operation (the Web API answers 5206
    for a write, 4105 for a read)."""


class TooLarge(StorageError):
    """An upload went over its limit; nothing of it is kept."""


class BadKey(StorageError, ValueError):
    """A key that is not a plain relative path (``..``, an empty segment, a leading ``/`` where
    no legacy path is allowed, a NUL or a backslash): refused before it reaches a disk or a
    bucket, so a hostile name never escapes the storage."""


def check_key(key: str, *, prefix: bool = False, absolute: bool = False) -> str:
    """``key`` itself when it is a valid key (``prefix``: it may end with ``/``; ``absolute``:
    it may be a legacy absolute path, still without ``..``), else ``BadKey``."""
    body = key[1:] if absolute and key.startswith("/") else key
    if prefix and body.endswith("/"):
        body = body[:-1]
    parts = body.split("/")
    if (not body or "\\" in key or "\0" in key
            or any(p in ("", ".", "..") for p in parts)):
        raise BadKey(f"not a storage key: {key!r}")
    return key


def files_key(companyid: int, token: str, name: str) -> str:
    """The key of an uploaded courseware file."""
    return f"files/{companyid}/{token}_{name}"


def pages_prefix(file_key: str) -> str:
    """Where a converted document's pages, thumbnails and PDF live (``<key>.pages/``)."""
    return f"{file_key}.pages/"


def record_key(serial: str, recording: str, name: str) -> str:
    """The key of one file of a recording's outputs."""
    return f"media/records/{serial}/{recording}/{name}"


class Storage(Protocol):
    """What every backend does. All methods are coroutines safe to call from the event loop;
    none holds a whole object in memory.

    The folder backend hard-links where it can (``put_file``, ``fetch``, ``copy``): a local
    file given to or got from the storage is replaced (write another, rename it over), never
    rewritten in place, or the stored object changes with it."""

    kind: str     # "folder" | "s3"
    shared: bool  # every node of the cluster sees the same objects (s3; a folder given as shared)

    async def start(self) -> None:
        """Connect (S3: create the client; the bucket must exist or is created when allowed)."""

    async def stop(self) -> None: ...

    async def check(self) -> dict[str, Any]:
        """The readiness check ``storage``: ``{"ok": True, ...}`` when the storage can be
        written (folder: the folder is writable; S3: HeadBucket answers); ``StorageError``
        when not."""

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, limit: int) -> int:
        """Write an object from chunks as they arrive; answers its size. Over ``limit`` bytes:
        ``TooLarge``, and no object (nor a partial one) is left."""

    async def put_file(self, key: str, path: Path) -> int:
        """Store a local file under ``key`` (a no-op when the folder backend's own path is
        given); answers its size."""

    async def fetch(self, key: str, dest: Path) -> None:
        """Copy the object into a local file (a hard link or copy on the folder backend);
        ``FileNotFoundError`` when there is none."""

    async def local_path(self, key: str) -> Path | None:
        """The object's path on this node's disk when the backend is a folder (None on S3)."""

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int | None:
        """The object's size, or None when there is none."""

    async def copy(self, src: str, dst: str) -> None:
        """Duplicate an object inside the storage (a hard link on a folder, CopyObject on S3)."""

    async def delete(self, key: str) -> None:
        """Remove one object; a missing one is not an error."""

    async def delete_prefix(self, prefix: str) -> None:
        """Remove every object whose key starts with ``prefix`` (a converted document's pages)."""

    async def response(self, request: Request, key: str, *, filename: str, media_type: str,
                       disposition: str, headers: dict[str, str]) -> Response | None:
        """The HTTP answer serving the object to a browser: a file response with ranges on the
        folder backend; on S3 either a streamed body (ranges passed through) or a redirect to
        a short-lived signed URL, as configured. None when there is no such object."""
