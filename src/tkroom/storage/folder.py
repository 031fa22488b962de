"""The ``folder`` backend: objects are files under one directory (the data folder by default,
or a folder every node mounts). Writes land under a temporary name beside their target and are
renamed into place, so a reader never sees half an object. Blocking file calls run in threads.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from tkroom.storage.base import StorageError, TooLarge, check_key

TMP_SUFFIX = ".tkroom-tmp"  # a write in progress (never a key's last segment: see ``_tmp``)


class FolderStorage:
    """Objects as files under ``root``; ``shared`` says every node mounts the same folder."""

    kind = "folder"

    def __init__(self, root: Path, shared: bool = False) -> None:
        self.root = root
        self.shared = shared

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def stop(self) -> None:
        return None

    async def check(self) -> dict[str, Any]:
        """The folder takes a file (a full disk or a read-only mount does not)."""
        probe = self.root / f".ready-{secrets.token_hex(4)}{TMP_SUFFIX}"

        def write() -> None:
            try:
                probe.write_bytes(b"ok")
            finally:
                probe.unlink(missing_ok=True)

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise StorageError(f"{self.root}: not writable: {exc.strerror or exc}") from None
        return {"ok": True, "kind": self.kind, "shared": self.shared, "root": str(self.root)}

    def path(self, key: str, *, prefix: bool = False) -> Path:
        """Where ``key`` lives: under the root, or (a row from before storage) the absolute
        path it is; ``BadKey`` for anything that could leave the root."""
        check_key(key, prefix=prefix, absolute=True)
        return Path(key) if key.startswith("/") else self.root / key

    @staticmethod
    def _tmp(target: Path) -> Path:
        return target.with_name(f".{target.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, limit: int) -> int:
        target = self.path(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        tmp = self._tmp(target)
        f = await asyncio.to_thread(open, tmp, "wb")
        size = 0
        try:
            try:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"{key}: over {limit} bytes")
                    await asyncio.to_thread(f.write, chunk)
            finally:
                await asyncio.to_thread(f.close)
            await asyncio.to_thread(os.replace, tmp, target)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(tmp.unlink, missing_ok=True))
            raise
        return size

    async def put_file(self, key: str, path: Path) -> int:
        target = self.path(key)
        return await asyncio.to_thread(_place, path, target, self._tmp(target))

    async def fetch(self, key: str, dest: Path) -> None:
        src = self.path(key)
        await asyncio.to_thread(_place, src, dest, self._tmp(dest))

    async def local_path(self, key: str) -> Path | None:
        """The path ``key`` has (or would have) under the folder, whether or not it exists."""
        return self.path(key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def size(self, key: str) -> int | None:
        path = self.path(key)
        try:
            st = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size

    async def copy(self, src: str, dst: str) -> None:
        target = self.path(dst)
        await asyncio.to_thread(_place, self.path(src), target, self._tmp(target))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def delete_prefix(self, prefix: str) -> None:
        """Every file whose key starts with ``prefix``: ``a/b.pages/`` is that folder,
        ``a/b_`` the entries of ``a/`` whose names start with ``b_``."""
        path = self.path(prefix, prefix=True)
        await asyncio.to_thread(_remove_prefix, path, prefix.endswith("/"))

    async def response(self, request: Request, key: str, *, filename: str, media_type: str,
                       disposition: str, headers: dict[str, str]) -> Response | None:
        path = self.path(key)
        try:
            st = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return FileResponse(path, filename=filename, media_type=media_type, headers=headers,
                            content_disposition_type=disposition, stat_result=st)


def _place(src: Path, dest: Path, tmp: Path) -> int:
    """Put ``src``'s bytes at ``dest`` (a hard link, else a copy, through ``tmp`` so ``dest``
    is whole or absent); nothing to do when they are the same file. Answers the size."""
    st = src.stat()
    if not src.is_file():
        raise FileNotFoundError(str(src))
    try:
        if os.path.samefile(src, dest):
            return st.st_size
    except FileNotFoundError:
        pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            os.link(src, tmp)
        except OSError:  # another file system, or one without hard links
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return st.st_size


def _remove_prefix(path: Path, whole_folder: bool) -> None:
    if whole_folder:
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        entries = list(path.parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if not entry.name.startswith(path.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
