"""The loop probe: GET ``/openapi.json`` on a node over and over, one line per answer.

It runs in its own process, so that nothing in the benchmark's own process (busy reading
thousands of events) delays it: each line is ``<monotonic start> <latency s>``, and a request
that took long is the node's event loop being busy (CLOCK_MONOTONIC is shared by processes).
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--max-seconds", type=float, default=3600)
    a = ap.parse_args()
    end = time.monotonic() + a.max_seconds
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=3600)
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            conn.request("GET", "/openapi.json")
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=3600)
            time.sleep(a.interval)
            continue
        print(f"{t0:.6f} {time.monotonic() - t0:.6f}", flush=True)
        time.sleep(a.interval)
    sys.exit(0)


if __name__ == "__main__":
    main()
