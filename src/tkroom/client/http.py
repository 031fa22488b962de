"""The ClientAPI calls the SDK makes before it opens the socket: ``checkroom`` and ``getconfig``.

Both are form-encoded POSTs answering ``{"result": code, ...}``. A transport failure (refused,
timed out, not JSON, HTTP 5xx) is ``ERR_HTTP_REQUEST_FAILED`` 111; a nonzero ``result`` is
raised with the server's own code (4008 wrong password, 4007 no such room, ...).
"""

from __future__ import annotations

import time
from ssl import SSLContext
from typing import Any

import httpx

from tkroom.client.errors import HTTP_REQUEST_FAILED, ClientError


class ClientAPI:
    """One HTTP client bound to a node's base URL (``http://host:port``)."""

    def __init__(self, base_url: str, timeout: float = 10.0,
                 ssl: SSLContext | None = None) -> None:
        """``ssl``: the CAs to trust over https:// (default: the system's)."""
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                       verify=True if ssl is None else ssl)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, form: dict[str, Any]) -> dict[str, Any]:
        """POST ``/ClientAPI/<method>``; the decoded answer, or ClientError."""
        fields = {k: str(v) for k, v in form.items() if v is not None}
        try:
            resp = await self._http.post(
                f"/ClientAPI/{method}", params={"ts": int(time.time() * 1000)}, data=fields
            )
        except httpx.HTTPError as exc:
            raise ClientError(
                HTTP_REQUEST_FAILED, f"{method}: {self.base_url} unreachable ({exc!r})"
            ) from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise ClientError(
                HTTP_REQUEST_FAILED, f"{method}: HTTP {resp.status_code}, answer is not JSON"
            ) from exc
        if not isinstance(body, dict) or "result" not in body:
            raise ClientError(HTTP_REQUEST_FAILED, f"{method}: HTTP {resp.status_code}, no result")
        try:
            code = int(body["result"])
        except (TypeError, ValueError):
            code = HTTP_REQUEST_FAILED
        if code != 0:
            raise ClientError(code, str(body.get("msg") or ""), method=method)
        return body

    async def checkroom(
        self,
        serial: str,
        nickname: str,
        *,
        password: str | None = None,
        loginkey: str | None = None,
        userid: str | None = None,
        userrole: int | None = None,
    ) -> dict[str, Any]:
        """Prove the right to enter: answers the room, the role and a join ``ticket``."""
        return await self.call(
            "checkroom",
            {
                "serial": serial,
                "nickname": nickname,
                "password": password,
                "loginkey": loginkey,
                "userid": userid,
                "userrole": userrole,
                "clientType": 4,
            },
        )

    async def getconfig(self, serial: str, userrole: int | None = None,
                        ticket: str | None = None) -> dict[str, Any]:
        """Where to connect: ``signal.url`` is the WebSocket endpoint of a node; with the
        ``ticket`` of checkroom, ``iceServers`` are this user's TURN servers."""
        return await self.call("getconfig", {"serial": serial, "userrole": userrole,
                                             "ticket": ticket})
