"""``python -m bench.whiteboard.fanout``: a stroke segment from the teacher to every member of a
100- and a 1000-member class, beside the room's chat as the baseline.

The teacher sends, interleaved, a chat message (``sendMessage`` to ``__all``) and a stroke
segment (the unsaved ``SharpsChange`` ``drawingEvent`` to ``__allExceptSender``, strokes of ten
segments of four points), 15 of each a second, in three blocks of 50 of each; the latency is
from the send to the receipt at every member (every client runs on this machine: one clock).
Interleaving puts both kinds under the same load at the same moments. The p50 is over every
receipt, the p99 the best block's (``common.best_p99``: the machine is shared). Floors (issue 9): segment p99 <= 150 ms at 100 members,
<= 300 ms at 1000, and no worse than 1.5x the chat's p99 at the same size.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.whiteboard.common import (
    BLOCKS,
    COLORS,
    Classroom,
    Plan,
    Shapes,
    best_p99,
    chat,
    cpu_per_message_ms,
    pooled,
    row,
    segment,
    table,
)
from bench.whiteboard.common import run as run_loop

SIZES = (100, 1000)
FLOOR_MS = {100: 150.0, 1000: 300.0}
FLOOR_TIMES_CHAT = 1.5
RATE = 30.0  # messages a second, half of them chat
CHATS = ("ok", "Can you go over that again?", "page 3 please", "是的", "I got 42",
         "what is the unit here?", "thanks!")


def plan(n: int, block: int = 0) -> Plan:
    """``n`` chat messages and ``n`` stroke segments, alternating."""
    shapes = Shapes(9 + block)
    out: Plan = []
    points: list[float] = []
    for k in range(n):
        out.append((f"chat:c{k}", "sendMessage", chat(f"c{k}", CHATS[k % len(CHATS)])))
        stroke, seq = f"s{block}-{k // 10}", k % 10
        points = shapes.walk(4, *(points[-2:] if seq else (None, None)))
        out.append((f"segment:{stroke}:{seq}", "pubMsg",
                    segment(stroke, seq, points, COLORS[(k // 10) % len(COLORS)])))
    return out


async def measure(members: int, n: int) -> list[dict[str, Any]]:
    """``BLOCKS`` blocks of ``n`` chats and ``n`` segments in one room of ``members``."""
    async with Classroom(members) as room:
        blocks = [await room.measure(plan(n, b), RATE) for b in range(BLOCKS)]
    seg_p99, seg_blocks = best_p99(blocks, "segment")
    chat_p99, chat_blocks = best_p99(blocks, "chat")
    complete = all(b.complete() for b in blocks)
    seg_all, chat_all = pooled(blocks, "segment"), pooled(blocks, "chat")
    detail: dict[str, Any] = {"members": members, "blocks": BLOCKS, "per_block": n,
              "received": {k: sum(b.received(k) for b in blocks) for k in blocks[0].expected},
              "expected": {k: BLOCKS * x for k, x in blocks[0].expected.items()},
              "refused": [r for b in blocks for r in b.refused][:3],
              "stray": sum(b.stray for b in blocks), "loadavg": room.loadavg,
              "segment_p99_blocks": seg_blocks, "chat_p99_blocks": chat_blocks,
              "segment_all": seg_all, "chat_all": chat_all,
              "node_cpu_ms_per_message": cpu_per_message_ms(blocks)}
    floor = FLOOR_MS.get(members)
    ok = complete and seg_p99 <= FLOOR_TIMES_CHAT * chat_p99
    floor_text = f"≤ {FLOOR_TIMES_CHAT}× chat"
    if floor is not None:
        ok = ok and seg_p99 <= floor
        floor_text = f"≤ {floor:.0f} ms, {floor_text}"
    return [
        row(f"stroke segment p50, {members} members (baseline: chat)",
            seg_all["p50"], "ms", baseline=chat_all["p50"],
            module="fanout"),
        row(f"stroke segment p99, {members} members, best of {BLOCKS} (baseline: chat)",
            seg_p99, "ms", baseline=chat_p99, floor=floor_text, ok=ok, module="fanout",
            detail=detail),
    ]


def run(quick: bool = False, sizes: list[int] | None = None,
        messages: int | None = None) -> list[dict[str, Any]]:
    """The rows of the module contract; ``messages`` of each kind per block (``quick``: 15)."""
    n = messages or (15 if quick else 50)
    rows: list[dict[str, Any]] = []
    for members in sizes or SIZES:
        print(f"fanout: {members} members, {BLOCKS} blocks of {n} chats and {n} segments ...",
              file=sys.stderr, flush=True)
        rows += run_loop(measure(members, n))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.whiteboard.fanout", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sizes", type=int, nargs="+")
    p.add_argument("--messages", type=int, help="chats (and as many segments) per block")
    a = p.parse_args()
    print(table(run(a.quick, a.sizes, a.messages)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
