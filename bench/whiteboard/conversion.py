"""``python -m bench.whiteboard.conversion``: how long a node takes to turn a 50-slide PPTX and
a 50-page PDF into pages (issue 9, "Documents become pages").

End to end, as a teacher sees it: the upload through the WebAPI (``conversion=1``) until
``getroomfile`` says status 1, on a node built as ``tkroom serve`` builds it (its conversion
queue, LibreOffice, poppler), polled every 50 ms; each document ``repeat`` times (3), one
after the other, the median reported (the range in the measure's name). The documents are the
tests' own (``tests/courseware_docs.py``): slides with a title and two lines of text, PDF pages
with a line of text. ``run()`` answers the rows of ``bench.whiteboard`` (seconds and pages/s
for each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tkroom.config import Settings
from tkroom.planes import build_node
from tkroom.store.companies import create_company

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
import courseware_docs as docs  # noqa: E402  (the tests' documents: one home)

PAGES = 50
POLL_S = 0.05
WAIT_S = 900.0


async def _convert_all(pages: int, repeat: int) -> list[tuple[str, int, list[float], int]]:
    with tempfile.TemporaryDirectory(prefix="tkroom-bench-conv-") as tmp:
        node = build_node(Settings(host="127.0.0.1", port=0, signal_port=0, data_dir=Path(tmp),
                                   throttle_base_s=0.001, throttle_max_s=0.01),
                          media=False, web=False)
        await node.start()
        try:
            async with node.sessions() as s:
                key = (await create_company(s, "Bench")).authkey
                await s.commit()
            async with httpx.AsyncClient(base_url=node.base_url, timeout=120) as http:
                now = int(time.time())
                serial = (await http.post("/WebAPI/roomcreate", data=dict(
                    key=key, roomname="Bench", roomtype=3, starttime=now - 60, endtime=now + 86400,
                    chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1", passwordrequired=1,
                    confuserpwd="stud1",
                ))).json()["serial"]
                out = []
                for name, data in ((f"deck-{pages}.pptx", docs.pptx(pages)),
                                   (f"book-{pages}.pdf", docs.pdf(pages))):
                    times = []
                    for _ in range(repeat):
                        seconds, pagenum = await _one(http, key, serial, name, data)
                        times.append(seconds)
                    out.append((name, len(data), times, pagenum))
                return out
        finally:
            await node.stop()


async def _one(http: httpx.AsyncClient, key: str, serial: str, name: str,
               data: bytes) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = (await http.post("/WebAPI/uploadfile", data={"key": key, "serial": serial, "conversion": 1},
                         files={"filedata": (name, data)})).json()
    assert r["result"] == 0, r
    fid = r["fileid"]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        files = (await http.post("/ClientAPI/getroomfile", data={"serial": serial})).json()["roomfile"]
        f = next(f for f in files if f["fileid"] == fid)
        if f["status"] == 1:
            return time.perf_counter() - t0, f["pagenum"]
        if f["status"] == 2:
            raise RuntimeError(f"{name} failed: {f['statusmsg']}")
        await asyncio.sleep(POLL_S)
    raise TimeoutError(f"{name} not converted in {WAIT_S} s")


def run(pages: int = PAGES, repeat: int = 3) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, size, times, pagenum in asyncio.run(_convert_all(pages, repeat)):
        kind = "PPTX" if name.endswith(".pptx") else "PDF"
        assert pagenum == pages, (name, pagenum)
        seconds = statistics.median(times)
        spread = f"{min(times):.2f}-{max(times):.2f} s" if len(times) > 1 else f"{times[0]:.2f} s"
        rows.append({"measure": f"conversion: {pages}-page {kind} ({size // 1024} KiB), upload to "
                                f"done, median of {len(times)} ({spread})",
                     "value": round(seconds, 2), "unit": "s"})
        rows.append({"measure": f"conversion: {pages}-page {kind}, pages per second",
                     "value": round(pages / seconds, 1), "unit": "pages/s"})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.whiteboard.conversion", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=PAGES, help="pages of each document (50)")
    p.add_argument("--repeat", type=int, default=3, help="conversions of each document (3)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args()
    rows = run(args.pages, args.repeat)
    if args.json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(f"{r['measure']:<86} {r['value']:>7} {r['unit']}")


if __name__ == "__main__":
    main()
