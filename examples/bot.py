"""A classroom bot built on tkroom.client: joins a class, answers chat commands, and leaves.

    python examples/bot.py --host 127.0.0.1 --port 8080 --serial 123456789 --password 1234

Commands it answers in the chat: ``!time`` (the server-independent wall clock), ``!users``
(how many are in the class), ``!bye`` (it leaves). It also leaves after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

from tkroom.client import ClientError, Event, Room


async def answer(room: Room, ev: Event) -> bool:
    """Reply to one chat message; False when the bot should leave."""
    text = ev["message"]
    if isinstance(text, dict):
        text = text.get("msg", "")
    if not isinstance(text, str) or ev["userid"] == (room.getMySelf() or {}).get("id"):
        return True
    cmd = text.strip().lower()
    try:
        if cmd == "!time":
            await room.sendMessage(time.strftime("It is %H:%M:%S UTC", time.gmtime()))
        elif cmd == "!users":
            await room.sendMessage(f"{await room.getRoomUserNum()} in class")
        elif cmd == "!bye":
            await room.sendMessage("Bye!")
    except ClientError as exc:  # e.g. 62: answering too fast as a student
        print(f"could not answer {cmd!r}: {exc.code} {exc.message}", flush=True)
    return cmd != "!bye"


async def run(args: argparse.Namespace) -> int:
    room = Room()
    room.init("bot", max_reconnect_attempts=20)
    room.on("room-participant_join", lambda ev: print("joined:", ev["user"]["id"]))
    events = room.events("room-text-message")
    params = {"serial": args.serial}
    params["loginkey" if args.loginkey else "password"] = args.loginkey or args.password
    try:
        await room.joinroom(args.host, args.port, args.nickname, args.userid, params)
    except ClientError as exc:
        print(f"cannot join: {exc.code} {exc.message}")
        return 1
    print(f"in class {args.serial} as {room.getMySelf()}", flush=True)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(args.lifetime):
            async for ev in events:
                if not await answer(room, ev):
                    break
    await room.leaveroom()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--serial", required=True)
    p.add_argument("--password")
    p.add_argument("--loginkey")
    p.add_argument("--nickname", default="TimeBot")
    p.add_argument("--userid", default="timebot")
    p.add_argument("--lifetime", type=float, default=3600.0, help="seconds before it leaves")
    args = p.parse_args()
    if not (args.password or args.loginkey):
        p.error("give --password or --loginkey")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
