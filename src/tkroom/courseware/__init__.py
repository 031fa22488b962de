"""The courseware plane: documents converted into pages (``docs/courseware.md``).

``install_courseware(node)`` adds the conversion queue to a node as a service; the Web API
queues documents (``uploadfile`` with ``conversion=1``) and serves the pages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tkroom.config import Settings
from tkroom.courseware.convert import tools_missing
from tkroom.courseware.queue import ConversionQueue, QueueSettings

log = logging.getLogger("tkroom.courseware")

__all__ = ["ConversionQueue", "QueueSettings", "install_courseware"]


def _hidden(s: Settings) -> tuple[Path, ...]:
    """The folders LibreOffice must not see: the data folder, the storage's folder (every
    enterprise's files), the node user's home."""
    folders = (s.data_dir, *((s.storage_dir,) if s.storage_dir is not None else ()), Path.home())
    return tuple(f.absolute() for f in folders)


def install_courseware(node: Any) -> ConversionQueue:
    """Convert the documents this ``tkroom.node.Node`` receives. Call before ``node.start()``."""
    s = node.settings
    queue = ConversionQueue(node.sessions, QueueSettings(
        workdir=(s.data_dir / "files" / ".convert").absolute(), node=node.api.node_id,
        workers=s.convert_workers, timeout_s=s.convert_timeout_s, max_pages=s.convert_max_pages,
        poll_s=s.convert_poll_s, hide=_hidden(s)), node.storage)
    missing = tools_missing()
    if missing:
        log.warning("courseware conversion needs %s: documents will fail to convert",
                    ", ".join(missing))
    node.api.wake_converter = queue.wake
    node.services.append(queue)
    node.readiness.add("converters", queue.readiness)

    async def conversion_backlog() -> None:
        for status, n in (await queue.backlog()).items():
            node.metrics.conversion_backlog.labels(status).set(n)

    node.metrics.probe("conversions", conversion_backlog)
    return queue
