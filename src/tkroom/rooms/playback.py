"""Rules of the playback page (docs/recordings.md, "Watching a lesson again") that need no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

SHOW_PAGE_ID = "DocumentFilePage_ShowPage"
MAX_FILES = 1000  # courseware files one lesson can name (the room's file limit is far lower)
# a courseware page a recording kept: ``page-<fileid>_<page>.jpg`` among its files
KEPT_PAGE = re.compile(r"^page-(\d+_\d+)\.jpg$")


def shown_files(lines: Iterable[str]) -> set[int]:
    """The courseware file ids an event log's lesson showed (its saved ``ShowPage`` at the
    start and each one after): the only files whose pages its link may reveal. Lines that
    are not JSON, or not about the page shown, are skipped."""
    ids: set[int] = set()
    for line in lines:
        if SHOW_PAGE_ID not in line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        msgs = obj.get("saved") if obj.get("kind") == "start" else [obj.get("data")]
        for m in msgs if isinstance(msgs, list) else []:
            if not isinstance(m, dict) or m.get("id") != SHOW_PAGE_ID:
                continue
            data = m.get("data")
            fileid = data.get("fileid") if isinstance(data, dict) else None
            if isinstance(fileid, int) and not isinstance(fileid, bool) and fileid > 0:
                ids.add(fileid)
                if len(ids) >= MAX_FILES:
                    return ids
    return ids
