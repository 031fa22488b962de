"""The loop probe: GET ``/openapi.json`` on a node over and over, one line per answer.

It runs in its own process, so that nothing in the benchmark's own process (busy reading
thousands of events) delays it: each line is ``<monotonic start> <latency s>``, and a request
that took long is the node's event loop being busy (CLOCK_MONOTONIC is shared by processes).
With ``--redis URL`` it PINGs that Redis instead: a slow answer is Redis busy with a script,
which every node of a cluster waits for.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--redis", help="PING this Redis instead of the node")
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--max-seconds", type=float, default=3600)
    a = ap.parse_args()
    end = time.monotonic() + a.max_seconds
    if a.redis:
        import redis

        r = redis.Redis.from_url(a.redis, socket_timeout=3600)
        while time.monotonic() < end:
            t0 = time.monotonic()
            while True:      # a script running over 5 s makes Redis answer BUSY: retry
                try:
                    r.ping()
                    break
                except redis.exceptions.ResponseError:
                    time.sleep(0.01)
            print(f"{t0:.6f} {time.monotonic() - t0:.6f}", flush=True)
            time.sleep(a.interval)
        sys.exit(0)
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
