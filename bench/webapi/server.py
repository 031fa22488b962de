"""A tkroom node plus a bare Starlette endpoint (``/bare``) in the same app, for the benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tkroom.config import Settings
from tkroom.node import Node


async def bare(request: Request) -> JSONResponse:
    """What the framework alone costs: read the form, answer JSON."""
    await request.form()
    return JSONResponse({"result": 0})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--database")
    a = ap.parse_args()
    node = Node(Settings(port=a.port, data_dir=Path(a.data), database_url=a.database))
    node.routes.append(Route("/bare", bare, methods=["POST"]))
    node.run()


if __name__ == "__main__":
    main()
