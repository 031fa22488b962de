"""The ``s3`` backend: objects in a bucket of an S3-compatible server (AWS S3, MinIO, Ceph...),
through aiobotocore with path-style addressing.

An upload is one PutObject when it fits one part, else a multipart upload whose parts are sent
as they fill (one part in memory at a time); over its limit or on any error the upload is
aborted, so the bucket keeps nothing of it. Downloads are streamed through the node (a single
range passed on to S3) or redirected to a short-lived signed URL, as configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from tkroom.config import Settings
from tkroom.storage.base import StorageError, TooLarge, check_key

PART_SIZE = 8 * 1024 * 1024  # a multipart upload's part (S3 wants 5 MiB or more but the last)
READ_CHUNK = 256 * 1024       # what a download or a fetch holds at a time
DELETE_BATCH = 1000           # DeleteObjects' maximum
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
ATTEMPTS = 2                  # a dead server is reported within seconds, not minutes
CHECK_S = 1.5                 # the readiness check's own deadline (the node's is 2 s)
MISSING = {"404", "NoSuchKey", "NotFound"}
HEAD_ERRORS = {  # what a bare status of HeadBucket / HeadObject means
    "400": "bad request (the region, s3_region, may be wrong)",
    "301": "the bucket is in another region (set s3_region)",
    "403": "access denied (check the credentials and the bucket's policy)",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class S3Storage:
    """Objects under ``prefix`` in ``bucket``; every node reaching the server shares them."""

    kind = "s3"
    shared = True

    def __init__(self, *, bucket: str, endpoint: str = "", prefix: str = "",
                 region: str = "us-east-1", access_key: str = "", secret_key: str = "",
                 downloads: str = "stream", url_ttl_s: float = 300.0,
                 create_bucket: bool = False) -> None:
        self.bucket, self.endpoint, self.prefix, self.region = bucket, endpoint, prefix, region
        self.access_key, self.secret_key = access_key, secret_key
        self.downloads, self.url_ttl_s, self.create_bucket = downloads, url_ttl_s, create_bucket
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    @classmethod
    def from_settings(cls, s: Settings) -> S3Storage:
        return cls(bucket=s.s3_bucket, endpoint=s.s3_endpoint, prefix=s.s3_prefix,
                   region=s.s3_region, access_key=s.s3_access_key, secret_key=s.s3_secret_key,
                   downloads=s.s3_downloads, url_ttl_s=s.s3_url_ttl_s,
                   create_bucket=s.s3_create_bucket)

    @property
    def where(self) -> str:
        """The bucket as an error message names it (never the credentials)."""
        return f"s3 bucket {self.bucket!r} at {self.endpoint or 'AWS ' + self.region}"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the client and see the bucket (create it when allowed)."""
        config = AioConfig(
            s3={"addressing_style": "path"}, signature_version="s3v4",
            connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": ATTEMPTS, "mode": "standard"},
            # checksums only where S3 requires them: MinIO and older servers reject others
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required")
        creds: dict[str, Any] = {}
        if self.access_key or self.secret_key:  # else botocore's chain (AWS_* variables, ...)
            creds = {"aws_access_key_id": self.access_key,
                     "aws_secret_access_key": self.secret_key}
        stack = contextlib.AsyncExitStack()
        try:
            self._client = await stack.enter_async_context(get_session().create_client(
                "s3", endpoint_url=self.endpoint or None, region_name=self.region,
                config=config, **creds))
        except (BotoCoreError, ValueError) as exc:  # a malformed endpoint or region
            raise self._error(exc, "cannot make a client") from None
        self._stack = stack
        try:
            await self._bucket()
        except BaseException:
            await self.stop()
            raise

    async def _bucket(self) -> None:
        async with self._errors("cannot use the bucket"):
            try:
                await self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if _code(exc) not in MISSING or not self.create_bucket:
                    raise self._error(exc, "cannot use the bucket", missing="it does not "
                                      "exist (create it, or set s3_create_bucket)") from None
        where: dict[str, Any] = {}
        if self.region != "us-east-1":
            where = {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        async with self._errors("cannot create the bucket"):
            await self._client.create_bucket(Bucket=self.bucket, **where)

    async def stop(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def check(self) -> dict[str, Any]:
        """HeadBucket, within ``CHECK_S`` (a retry's back-off must not outlast the node's
        readiness deadline, which would only say "no answer")."""
        try:
            async with asyncio.timeout(CHECK_S), self._errors("not reachable"):
                await self.client.head_bucket(Bucket=self.bucket)
        except TimeoutError:
            raise StorageError(f"{self.where}: no answer within {CHECK_S:g} s") from None
        return {"ok": True, "kind": self.kind, "bucket": self.bucket}

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StorageError(f"{self.where}: the storage is not started")
        return self._client

    # -- keys and errors ---------------------------------------------------------------------

    def _key(self, key: str, *, prefix: bool = False) -> str:
        """The object's name in the bucket; ``BadKey`` for an invalid or absolute key."""
        check_key(key, prefix=prefix)
        return self.prefix + key

    def _read_key(self, key: str) -> str | None:
        """Like ``_key``, but a legacy absolute path (a row from before storage) is no object."""
        check_key(key, absolute=True)
        return None if key.startswith("/") else self.prefix + key

    def _error(self, exc: BaseException, what: str, *, missing: str = "") -> StorageError:
        if isinstance(exc, ClientError):
            code = _code(exc)
            msg = exc.response.get("Error", {}).get("Message") or ""
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if missing and code in MISSING:
                detail = missing
            elif code in HEAD_ERRORS:  # a HEAD answer has no body: botocore gives its status
                detail = f"{code} {HEAD_ERRORS[code]}"
            else:
                detail = f"{code} ({status}) {msg}".strip()
            return StorageError(f"{self.where}: {what}: {detail}")
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StorageError(f"{self.where}: {what}: {text}")

    @contextlib.asynccontextmanager
    async def _errors(self, what: str) -> AsyncIterator[None]:
        """Any failure of the server or of reaching it as a ``StorageError`` saying so."""
        try:
            yield
        except StorageError:
            raise
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error(exc, what) from None
        except Exception as exc:  # aiohttp's own errors (a reset connection mid-body)
            if type(exc).__module__.startswith(("aiohttp", "aiobotocore", "botocore")):
                raise self._error(exc, what) from None
            raise

    # -- writing -----------------------------------------------------------------------------

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], *, limit: int) -> int:
        name = self._key(key)
        part = io.BytesIO()  # the part being filled, sent as a file (botocore then copies none)
        size = 0
        upload: str | None = None
        etags: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"{key}: over {limit} bytes")
                part.write(chunk)
                if part.tell() >= PART_SIZE:
                    if upload is None:
                        async with self._errors(f"cannot store {key}"):
                            created = await self.client.create_multipart_upload(
                                Bucket=self.bucket, Key=name)
                        upload = str(created["UploadId"])
                    await self._part(name, upload, etags, part, key)
                    part = io.BytesIO()
            async with self._errors(f"cannot store {key}"):
                if upload is None:
                    part.seek(0)
                    await self.client.put_object(Bucket=self.bucket, Key=name, Body=part)
                    return size
                if part.tell() or not etags:
                    await self._part(name, upload, etags, part, key)
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload,
                    MultipartUpload={"Parts": etags})
            return size
        except BaseException:
            if upload is not None:
                await asyncio.shield(self._abort(name, upload))
            raise

    async def _part(self, name: str, upload: str, etags: list[dict[str, Any]],
                    body: io.BytesIO, key: str) -> None:
        number = len(etags) + 1
        body.seek(0)
        async with self._errors(f"cannot store {key}"):
            sent = await self.client.upload_part(Bucket=self.bucket, Key=name, UploadId=upload,
                                                 PartNumber=number, Body=body)
        etags.append({"ETag": sent["ETag"], "PartNumber": number})

    async def _abort(self, name: str, upload: str) -> None:
        """Drop an unfinished upload's parts (best effort: a server gone cannot be told; a
        lifecycle rule on the bucket cleans up after it)."""
        with contextlib.suppress(Exception):
            await self.client.abort_multipart_upload(Bucket=self.bucket, Key=name,
                                                     UploadId=upload)

    async def put_file(self, key: str, path: Path) -> int:
        return await self.put_stream(key, _read_file(path), limit=sys.maxsize)

    async def copy(self, src: str, dst: str) -> None:
        source = self._read_key(src)
        target = self._key(dst)
        if source is None:
            raise FileNotFoundError(src)
        try:
            await self.client.copy_object(Bucket=self.bucket, Key=target,
                                          CopySource={"Bucket": self.bucket, "Key": source})
        except ClientError as exc:
            if _code(exc) in MISSING:
                raise FileNotFoundError(src) from None
            raise self._error(exc, f"cannot copy {src}") from None
        except (BotoCoreError, OSError) as exc:
            raise self._error(exc, f"cannot copy {src}") from None

    async def delete(self, key: str) -> None:
        name = self._read_key(key)
        if name is None:
            return
        async with self._errors(f"cannot delete {key}"):
            await self.client.delete_object(Bucket=self.bucket, Key=name)

    async def delete_prefix(self, prefix: str) -> None:
        names = [n async for n in self._names(self._key(prefix, prefix=True))]
        async with self._errors(f"cannot delete {prefix}"):
            for i in range(0, len(names), DELETE_BATCH):
                batch = [{"Key": n} for n in names[i:i + DELETE_BATCH]]
                await self.client.delete_objects(Bucket=self.bucket,
                                                 Delete={"Objects": batch, "Quiet": True})

    async def _names(self, full_prefix: str) -> AsyncIterator[str]:
        async with self._errors(f"cannot list {full_prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full_prefix)
            async for page in pages:
                for obj in page.get("Contents", []):
                    yield str(obj["Key"])

    async def keys(self, prefix: str) -> list[str]:
        """The keys (without the storage's prefix) starting with ``prefix``, sorted."""
        return sorted([n[len(self.prefix):] async for n in self._names(self.prefix + prefix)])

    async def pending_uploads(self) -> list[str]:
        """Keys with a multipart upload begun and neither completed nor aborted."""
        async with self._errors("cannot list the uploads"):
            got = await self.client.list_multipart_uploads(Bucket=self.bucket,
                                                           Prefix=self.prefix)
        return sorted(str(u["Key"])[len(self.prefix):] for u in got.get("Uploads", []))

    # -- reading -----------------------------------------------------------------------------

    async def _head(self, key: str) -> dict[str, Any] | None:
        name = self._read_key(key)
        if name is None:
            return None
        try:
            return dict(await self.client.head_object(Bucket=self.bucket, Key=name))
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            raise self._error(exc, f"cannot read {key}") from None
        except (BotoCoreError, OSError) as exc:
            raise self._error(exc, f"cannot read {key}") from None

    async def exists(self, key: str) -> bool:
        return await self._head(key) is not None

    async def size(self, key: str) -> int | None:
        head = await self._head(key)
        return None if head is None else int(head["ContentLength"])

    async def local_path(self, key: str) -> Path | None:
        return None

    async def _get(self, key: str, **extra: Any) -> dict[str, Any] | None:
        """GetObject's answer (its body open), None when there is no such object;
        ``_Unsatisfiable`` when the ``Range`` given starts past its end."""
        name = self._read_key(key)
        if name is None:
            return None
        try:
            return dict(await self.client.get_object(Bucket=self.bucket, Key=name, **extra))
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            if _code(exc) == "InvalidRange":
                raise _Unsatisfiable from None
            raise self._error(exc, f"cannot read {key}") from None
        except (BotoCoreError, OSError) as exc:
            raise self._error(exc, f"cannot read {key}") from None

    async def fetch(self, key: str, dest: Path) -> None:
        got = await self._get(key)
        if got is None:
            raise FileNotFoundError(key)
        stream = got["Body"]
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tkroom-tmp")
        try:
            await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
            f = await asyncio.to_thread(open, tmp, "wb")
            try:
                async with self._errors(f"cannot read {key}"):
                    async for chunk in stream.iter_chunks(READ_CHUNK):
                        await asyncio.to_thread(f.write, chunk)
            finally:
                await asyncio.to_thread(f.close)
            await asyncio.to_thread(tmp.replace, dest)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(tmp.unlink, missing_ok=True))
            raise
        finally:
            stream.close()

    async def response(self, request: Request, key: str, *, filename: str, media_type: str,
                       disposition: str, headers: dict[str, str]) -> Response | None:
        if self.downloads == "redirect":
            return await self._redirect(key, filename, media_type, disposition, headers)
        return await self._stream(request, key, filename, media_type, disposition, headers)

    async def _redirect(self, key: str, filename: str, media_type: str, disposition: str,
                        headers: dict[str, str]) -> Response | None:
        """A 302 to a signed GET URL that makes S3 answer with our type and disposition. The
        redirect itself is never cached beyond the URL's life."""
        name = self._read_key(key)
        if name is None or await self._head(key) is None:
            return None
        async with self._errors(f"cannot sign {key}"):
            url = await self.client.generate_presigned_url(
                "get_object", ExpiresIn=int(self.url_ttl_s),
                Params={"Bucket": self.bucket, "Key": name, "ResponseContentType": media_type,
                        "ResponseContentDisposition": content_disposition(disposition,
                                                                          filename)})
        kept = {k: v for k, v in headers.items() if k.lower() != "cache-control"}
        return RedirectResponse(url, status_code=302,
                                headers={**kept, "Cache-Control": "no-store"})

    async def _stream(self, request: Request, key: str, filename: str, media_type: str,
                      disposition: str, headers: dict[str, str]) -> Response | None:
        """The object through the node: a single ``Range`` is passed to S3 (206), a range
        beyond its end answers 416, anything else the whole object."""
        wanted = _single_range(request.headers.get("range", ""))
        out = {**headers, "Accept-Ranges": "bytes",
               "Content-Disposition": content_disposition(disposition, filename)}
        if request.method == "HEAD":
            head = await self._head(key)
            if head is None:
                return None
            out["Content-Length"] = str(head["ContentLength"])
            return Response(b"", media_type=media_type, headers=out)
        try:
            got = await self._get(key, **({"Range": wanted} if wanted else {}))
        except _Unsatisfiable:
            head = await self._head(key)
            if head is None:
                return None
            return Response(b"", status_code=416, headers={
                **headers, "Content-Range": f"bytes */{head['ContentLength']}",
                "Accept-Ranges": "bytes"})
        if got is None:
            return None
        out["Content-Length"] = str(got["ContentLength"])
        if got.get("ETag"):
            out["ETag"] = str(got["ETag"])
        status = 200
        if wanted and got.get("ContentRange"):
            status = 206
            out["Content-Range"] = str(got["ContentRange"])
        return StreamingResponse(self._body(got["Body"], key), status_code=status,
                                 media_type=media_type, headers=out)

    async def _body(self, stream: Any, key: str) -> AsyncIterator[bytes]:
        try:
            async with self._errors(f"cannot read {key}"):
                async for chunk in stream.iter_chunks(READ_CHUNK):
                    yield chunk
        finally:
            stream.close()


class _Unsatisfiable(Exception):
    """S3 refused a range beyond the object's end (the download answers 416)."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _single_range(value: str) -> str | None:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` as given; None for none, several ranges or
    a malformed one (the whole object is answered, as RFC 9110 allows)."""
    m = _RANGE.fullmatch(value.strip().replace(" ", ""))
    if m is None or not (m[1] or m[2]):
        return None
    if m[1] and m[2] and int(m[2]) < int(m[1]):
        return None
    return f"bytes={m[1]}-{m[2]}"


def content_disposition(disposition: str, filename: str) -> str:
    """The header Starlette's ``FileResponse`` would send, so both backends name files alike."""
    quoted = quote(filename)
    if quoted != filename:
        return f"{disposition}; filename*=utf-8''{quoted}"
    return f'{disposition}; filename="{filename}"'


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, PART_SIZE):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)
