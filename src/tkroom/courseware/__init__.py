"""The courseware plane: documents converted into pages (``docs/courseware.md``).

``install_courseware(node)`` adds the conversion queue to a node as a service; the Web API
queues documents (``uploadfile`` with ``conversion=1``) and serves the pages.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tkroom.courseware.convert import tools_missing
from tkroom.courseware.queue import ConversionQueue, QueueSettings

log = logging.getLogger("tkroom.courseware")

__all__ = ["ConversionQueue", "QueueSettings", "install_courseware"]


def install_courseware(node: Any) -> ConversionQueue:
    """Convert the documents this ``tkroom.node.Node`` receives. Call before ``node.start()``."""
    s = node.settings
    queue = ConversionQueue(node.sessions, QueueSettings(
        workdir=(s.data_dir / "files" / ".convert").absolute(), node=node.api.node_id,
        workers=s.convert_workers, timeout_s=s.convert_timeout_s, max_pages=s.convert_max_pages,
        poll_s=s.convert_poll_s, hide=(s.data_dir.absolute(), Path.home())))
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
