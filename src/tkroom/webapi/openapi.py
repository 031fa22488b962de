"""The OpenAPI 3 document of every endpoint, generated from the method declarations."""

from __future__ import annotations

from typing import Any

from tkroom import codes
from tkroom.webapi.registry import METHODS, Method, Param

_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "array": {"type": "array", "items": {"type": "string"}},
    "file": {"type": "string", "format": "binary"},
}


def _schema(p: Param) -> dict[str, Any]:
    s = dict(_TYPES[p.kind])
    if p.doc:
        s["description"] = p.doc
    return s


def _field_name(p: Param) -> str:
    return f"{p.name}[]" if p.kind == "array" else p.name


def _operation(m: Method) -> dict[str, Any]:
    props = {_field_name(p): _schema(p) for p in m.params}
    required = [_field_name(p) for p in m.params if p.required]
    body_schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        body_schema["required"] = required
    ctype = "multipart/form-data" if m.multipart else "application/x-www-form-urlencoded"
    code_lines = "\n".join(
        f"- {c}: {why} ({codes.describe('webapi', c) if _known(c) else ''})" for c, why in m.codes
    )
    return {
        "operationId": f"{m.api}_{m.name}",
        "summary": m.summary,
        "description": f"{m.summary}\n\nResult codes besides 0:\n{code_lines}",
        "tags": [m.api],
        "requestBody": {"required": bool(required), "content": {ctype: {"schema": body_schema}}},
        "responses": {
            "200": {
                "description": "Always HTTP 200: `result` is 0 or a status code of the specification.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}},
            }
        },
    }


def _known(code: int) -> bool:
    try:
        codes.describe("webapi", code)
    except KeyError:
        return False
    return True


def openapi_document(server_url: str = "") -> dict[str, Any]:
    """The document served at /openapi.json."""
    paths = {f"/{m.api}/{m.name}": {"post": _operation(m)} for m in METHODS.values()}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "tkroom WebAPI and ClientAPI",
            "version": "1",
            "description": "Parameters may also be sent as a query string (GET or POST) or as path "
            "segments /WebAPI/<method>/<name>/<value>/...; arrays PHP-style (name[]=v).",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Answer": {
                    "type": "object",
                    "required": ["result"],
                    "properties": {"result": {"type": "integer"}, "msg": {"type": "string"}},
                }
            }
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
