"""tkroom.client: the asyncio Python SDK, shaped like the original TKRoomSDK.

    room = Room()
    room.init("appkey")
    room.on("room-text-message", lambda ev: print(ev["nickname"], ev["message"]))
    await room.joinroom("127.0.0.1", 8080, "Bot", "bot-1", {"serial": s, "password": p})
    await room.sendMessage("hello")
    await room.leaveroom()
"""

from tkroom.client.errors import ClientError, JoinGroupError
from tkroom.client.events import Event
from tkroom.client.room import (
    MSG_TO_ALLEXCEPTAUDITOR,
    MSG_TO_ALLEXCEPTSENDER,
    MSG_TO_ALLSUPERUSERS,
    MSG_TO_ALLUSER,
    MSG_TO_NONEUSER,
    Room,
)
from tkroom.client.session import State

__all__ = [
    "MSG_TO_ALLEXCEPTAUDITOR",
    "MSG_TO_ALLEXCEPTSENDER",
    "MSG_TO_ALLSUPERUSERS",
    "MSG_TO_ALLUSER",
    "MSG_TO_NONEUSER",
    "ClientError",
    "Event",
    "JoinGroupError",
    "Room",
    "State",
]
