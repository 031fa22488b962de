"""The node's logs: readable lines or JSON lines, and an access log that carries no secret.

``setup`` configures the root logger once for ``tkroom serve``: ``text`` is one readable line a
record, ``json`` one object a line (``time``, ``level``, ``logger``, ``message``, then the
record's extra fields) for a log shipper. ``AccessLog`` is an ASGI middleware writing one
record a request to the ``tkroom.access`` logger. A request carries keys, passwords, tickets
and login keys in its query string, its form body and (for the WebAPI's path-style parameters
and the download tokens) its path: the body is never logged, and in the path and the query
string only the values of parameters known to be harmless are kept; every other value is
written as ``***``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
# Parameters whose values an access line may show: identifiers and choices, never proofs.
SAFE_PARAMS = frozenset({"serial", "usertype", "userrole", "roomtype", "fileid", "type", "page"})
# Path prefixes whose segments are name/value pairs (the WebAPI's /Method/name/value/... form).
PAIR_PREFIXES = ("WebAPI", "ClientAPI")
MAX_PATH = 300  # characters of path and query an access line keeps
ACCESS = logging.getLogger("tkroom.access")
# What every LogRecord has; anything else on a record came as ``extra`` and goes in the JSON.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup(level: str, fmt: str = "text") -> None:
    """Send every record at ``level`` and above to standard error in format ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def _value(name: str, value: str) -> str:
    return quote(value, safe="%") if name in SAFE_PARAMS else MASK


def redact_path(path: str) -> str:
    """``path`` with every secret-bearing segment masked: the values of the WebAPI's path-style
    parameters (``/WebAPI/getloginkey/key/<key>/serial/<serial>``: the key goes) and everything
    after a download's id (its token)."""
    parts = path.split("/")
    if len(parts) > 3 and parts[1] in PAIR_PREFIXES:
        for i in range(4, len(parts), 2):
            parts[i] = _value(parts[i - 1], parts[i])
    elif len(parts) > 4 and parts[1] == "download":
        parts[4:] = [MASK]
    return "/".join(parts)


def redact_query(query: str) -> str:
    """A query string with the names kept and only harmless values."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='')}={_value(k, v)}" for k, v in pairs)


def request_line(path: str, query: str) -> str:
    """What an access line shows of a request's target: redacted and bounded."""
    shown = redact_path(path) + (f"?{redact_query(query)}" if query else "")
    return shown if len(shown) <= MAX_PATH else shown[:MAX_PATH] + "..."


Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Any], Callable[[Message], Any]], Any]


class AccessLog:
    """One ``tkroom.access`` record a finished HTTP request: client, method, target (redacted),
    status and duration. A request whose client left before an answer is logged with status 0."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Any], send: Callable[[Message], Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            addr = f"{client[0]}:{client[1]}" if client else "-"
            # the path as sent (still percent-encoded): a value holding an encoded "/" stays one
            # segment, so it cannot shift a secret into a name's place
            raw = scope.get("raw_path") or scope.get("path", "").encode()
            target = request_line(raw.decode("latin-1"), scope.get("query_string", b"").decode("latin-1"))
            ms = round((time.perf_counter() - start) * 1000, 1)
            ACCESS.info('%s "%s %s" %d %.1fms', addr, scope["method"], target, status[0], ms,
                        extra={"client": addr, "method": scope["method"], "path": target,
                               "status": status[0], "duration_ms": ms})
