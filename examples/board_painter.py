"""A program driving the board with tkroom.client: joins a class, draws a small picture on the
page shown (streaming one stroke as it is drawn, as a hand would), points at it, and leaves.

    python examples/board_painter.py --port 8080 --serial 123456789 --password teach1

It needs the right to draw: the teacher's or an assistant's password, or a student the teacher
gave ``candraw``. A refusal is printed with its code (4108 not allowed, 2602 too fast).
"""

from __future__ import annotations

import argparse
import asyncio
import math

from tkroom.client import ClientError, Room

SEGMENT_POINTS = 8  # points a segment carries


def wave(n: int = 48) -> list[float]:
    """A sine wave across the page's lower half, as [x0, y0, x1, y1, ...]."""
    out: list[float] = []
    for i in range(n):
        x = 0.1 + 0.8 * i / (n - 1)
        out += [round(x, 4), round(0.7 + 0.08 * math.sin(x * 4 * math.pi), 4)]
    return out


async def paint(room: Room, caption: str) -> list[str]:
    """Draw the picture on the page shown; the shapeIds, in the order drawn."""
    board = room.board
    ids = [
        await board.draw("Ellipse", {"x1": 0.7, "y1": 0.1, "x2": 0.85, "y2": 0.3,
                                     "color": "#fbc02d", "width": 0.006}),
        await board.draw("Line", {"x1": 0.05, "y1": 0.55, "x2": 0.95, "y2": 0.55,
                                  "color": "#5d4037", "width": 0.004}),
    ]
    points = wave()
    stroke = "wave-" + ids[0][:8]
    step = 2 * SEGMENT_POINTS
    for seq, start in enumerate(range(0, len(points), step)):
        await board.draw_segment(stroke, points[start:start + step], seq, color="#1e88e5",
                                 width=0.005)
    ids.append(await board.draw("Pen", {"points": points, "color": "#1e88e5", "width": 0.005},
                                shapeId=stroke))
    ids.append(await board.draw("Text", {"x": 0.1, "y": 0.1, "text": caption,
                                         "color": "#000000", "size": 0.04}))
    await board.laser(0.77, 0.2)
    await board.laser(0.77, 0.2, visible=False)
    return ids


async def run(args: argparse.Namespace) -> int:
    room = Room()
    room.init("painter")
    try:
        await room.joinroom(args.host, args.port, args.nickname, args.userid,
                            {"serial": args.serial, "password": args.password})
    except ClientError as exc:
        print(f"cannot join: {exc.code} {exc.message}")
        return 1
    try:
        ids = await paint(room, args.caption)
        print(f"drew {len(ids)} shapes on page {room.board.page}: {ids}", flush=True)
        return 0
    except ClientError as exc:
        print(f"cannot draw: {exc.code} {exc.message}", flush=True)
        return 2
    finally:
        await room.leaveroom()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--serial", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--nickname", default="Painter")
    p.add_argument("--userid", default="painter")
    p.add_argument("--caption", default="Hello, class")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
