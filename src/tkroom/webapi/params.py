"""Parameters of a WebAPI call, from every place the original platform accepted them.

Form fields (urlencoded or multipart, or a JSON object body), the query string and path
segments (``/WebAPI/roomcreate/key/K/roomname/N``) are merged; PHP-style arrays (``fileidarr[]=1`` or
``fileidarr[0]=1``) become lists under the bare name. Later sources win for scalars: path,
then query, then form.
"""

from __future__ import annotations

import builtins
import json
import re
from typing import overload
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.requests import Request

from tkroom.errors import CodeError

_ARRAY = re.compile(r"^([^\[\]]+)\[[^\[\]]*\]$")
MAX_FIELDS = 1000
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns


class Params:
    """The merged parameters, with typed getters that raise the right status codes."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.files: dict[str, UploadFile] = {}

    def add(self, name: str, value: str | UploadFile) -> None:
        m = _ARRAY.match(name)
        bare = m.group(1) if m else name
        if isinstance(value, UploadFile):
            self.files[bare] = value
            return
        # NUL never belongs in a parameter and PostgreSQL refuses it in text: drop it
        self.values.setdefault(bare, []).append(value.replace("\x00", ""))

    def get(self, name: str) -> str | None:
        """The last value given for ``name``, stripped; None when absent or blank."""
        vals = self.values.get(name)
        if not vals:
            return None
        v = vals[-1].strip()
        return v or None

    def raw(self, name: str) -> str | None:
        vals = self.values.get(name)
        return vals[-1] if vals else None

    def list(self, name: str) -> list[str]:
        """Every value of ``name`` (a PHP array, repeated fields, or a comma-separated string)."""
        out: list[str] = []
        for v in self.values.get(name, []):
            out.extend(x.strip() for x in v.split(",") if x.strip())
        return out

    @overload
    def int(self, name: str, *, default: builtins.int, missing: builtins.int | None = None,
            bad: builtins.int, lo: builtins.int | None = None, hi: builtins.int | None = None,
            out_of_range: builtins.int | None = None) -> builtins.int: ...

    @overload
    def int(self, name: str, *, default: None = None, missing: builtins.int | None = None,
            bad: builtins.int, lo: builtins.int | None = None, hi: builtins.int | None = None,
            out_of_range: builtins.int | None = None) -> builtins.int | None: ...

    def int(
        self,
        name: str,
        *,
        default: builtins.int | None = None,
        missing: builtins.int | None = None,
        bad: builtins.int,
        lo: builtins.int | None = None,
        hi: builtins.int | None = None,
        out_of_range: builtins.int | None = None,
    ) -> builtins.int | None:
        """An integer parameter: ``missing`` if required and absent, ``bad`` if not an integer,
        ``out_of_range`` (or ``bad``) outside ``lo..hi``."""
        v = self.get(name)
        if v is None:
            if missing is not None:
                raise CodeError(missing, f"{name} is required")
            return default
        if not re.fullmatch(r"[+-]?\d{1,18}", v):
            raise CodeError(bad, f"{name} must be an integer")
        n = int(v)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise CodeError(out_of_range or bad, f"{name} must be between {lo} and {hi}")
        return n

    def flag(self, name: str, *, default: bool = False, bad: builtins.int) -> bool:
        """A 0/1 parameter."""
        v = self.get(name)
        if v is None:
            return default
        if v not in ("0", "1"):
            raise CodeError(bad, f"{name} must be 0 or 1")
        return v == "1"

    def file(self, name: str) -> UploadFile | None:
        return self.files.get(name)


async def parse(request: Request, rest: str) -> Params:
    """Merge path segments, query string and form body of ``request`` (``tkroom.edge.BodyLimit``
    has already bounded the body: a read past its limit fails and is answered 413)."""
    p = Params()
    segs = [unquote(s) for s in rest.strip("/").split("/")] if rest.strip("/") else []  # keep empty values
    for i in range(0, len(segs) - 1, 2):
        p.add(segs[i], segs[i + 1])
    for k, v in request.query_params.multi_items():
        p.add(k, v)
    if request.method != "POST":
        return p
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form(max_files=10, max_fields=MAX_FIELDS)
            for k, value in form.multi_items():
                p.add(k, value)
        elif ctype.startswith("application/json"):
            _add_json(p, await request.body())
    except CodeError:
        raise
    except Exception as exc:  # malformed or cut bodies fail in many shapes
        raise CodeError(4105, "The request body cannot be parsed") from exc
    return p


def _add_json(p: Params, body: bytes) -> None:
    """A JSON object body (as integrators of the newer REST API send): scalars and lists of them."""
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        raise CodeError(4105, "The request body is not JSON") from exc
    if not isinstance(data, dict):
        raise CodeError(4105, "The request body must be a JSON object")
    for k, v in list(data.items())[:MAX_FIELDS]:
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, bool):
                p.add(str(k), "1" if item else "0")
            elif isinstance(item, str | int | float):
                p.add(str(k), str(item))
