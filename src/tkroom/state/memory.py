"""Room state in this process: the embedded default, and the reference for other backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from tkroom.rooms import streams, tools
from tkroom.rooms import transitions as t
from tkroom.rooms.model import Event, Member
from tkroom.rooms.recording import claim
from tkroom.state.base import Session, Subscriber


class MemoryState:
    """``RoomState`` over plain dicts; atomic because no method awaits in the middle."""

    def __init__(self, window: int = 4096) -> None:
        self.window = window
        self.rooms: dict[str, t.RoomData] = {}
        self.sessions: dict[str, Session] = {}
        self.subscribers: dict[str, list[Subscriber]] = {}
        self.tools: dict[str, tools.ToolData] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.streams: dict[str, dict[str, streams.StreamClaim]] = {}
        self.recordings: dict[str, dict[str, Any]] = {}

    def _room(self, serial: str) -> t.RoomData:
        room = self.rooms.get(serial)
        if room is None:
            room = self.rooms[serial] = t.RoomData()
        return room

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.subscribers.clear()

    async def add_member(self, serial: str, member: Member, policy: t.JoinPolicy) -> t.JoinOutcome:
        return t.add_member(self._room(serial), member, policy)

    async def remove_member(self, serial: str, userid: str, session: str,
                            keepstate: bool) -> t.LeaveOutcome:
        room = self._room(serial)
        out = t.remove_member(room, userid, session, keepstate)
        if out.empty and not room.messages and not room.barred and \
                serial not in self.subscribers:
            del self.rooms[serial]          # nothing left to keep: free the room
        return out

    async def bar_member(self, serial: str, userid: str, until_ms: int, now_ms: int) -> None:
        t.bar(self._room(serial), userid, until_ms, now_ms)

    async def update_properties(self, serial: str, userid: str,
                                props: dict[str, Any]) -> Member | None:
        return t.update_properties(self._room(serial), userid, props)

    async def get_members(self, serial: str, userids: list[str] | None = None) -> list[Member]:
        members = self._room(serial).members
        if userids is None:
            return list(members.values())
        return [members[u] for u in userids if u in members]

    async def count_members(self, serial: str) -> int:
        return len(self._room(serial).members)

    async def snapshot(self, serial: str, bigroom: bool) -> t.Snapshot:
        return t.snapshot(self._room(serial), bigroom)

    async def save_message(self, serial: str, msg: dict[str, Any],
                           policy: t.SavePolicy = t.NO_LIMITS, *,
                           author: str = "") -> t.SaveOutcome:
        return t.save_message(self._room(serial), msg, policy, author=author)

    async def delete_message(self, serial: str, msgid: str,
                             author: str = "") -> list[dict[str, Any]] | None:
        return t.delete_message(self._room(serial), msgid, author)

    async def delete_children(self, serial: str, parent: str) -> t.ClearOutcome:
        return t.delete_children(self._room(serial), parent)

    async def messages(self, serial: str) -> list[dict[str, Any]]:
        return t.snapshot(self._room(serial), False).messages

    async def get_message(self, serial: str, msgid: str) -> dict[str, Any] | None:
        return self._room(serial).messages.get(msgid)

    async def has_message(self, serial: str, msgid: str) -> bool:
        return msgid in self._room(serial).messages

    async def chat_gate(self, serial: str, userid: str, now_ms: int, min_gap_ms: int) -> bool:
        return t.chat_gate(self._room(serial), userid, now_ms, min_gap_ms)

    def _tools(self, serial: str) -> tools.ToolData:
        td = self.tools.get(serial)
        if td is None:
            td = self.tools[serial] = tools.ToolData()
        return td

    async def open_card(self, serial: str, question: dict[str, Any]
                        ) -> tuple[int, tools.ClosedCard | None]:
        return tools.open_card(self._tools(serial), question)

    async def answer_card(self, serial: str, qid: str, userid: str, answer: tuple[int, ...],
                          now_ms: int) -> tools.Tally:
        return tools.answer_card(self._tools(serial), qid, userid, answer, now_ms)

    async def close_card(self, serial: str, qid: str) -> tools.ClosedCard | None:
        return tools.close_card(self._tools(serial), qid)

    async def arm_buzzer(self, serial: str) -> tuple[int, str]:
        return tools.arm(self._tools(serial))

    async def press_buzzer(self, serial: str, rnd: int, userid: str,
                           now_ms: int) -> tools.Press:
        return tools.press(self._tools(serial), rnd, userid, now_ms)

    async def disarm_buzzer(self, serial: str) -> str:
        return tools.disarm(self._tools(serial))

    async def give_gifts(self, serial: str, receivers: list[str]) -> dict[str, int]:
        totals = tools.give(self._tools(serial), receivers)
        room = self.rooms.get(serial)
        for uid, n in totals.items():
            if room is not None and uid in room.members:
                t.update_properties(room, uid, {"giftnumber": n})
        return totals

    async def gift_totals(self, serial: str, userids: list[str]) -> dict[str, int]:
        td = self.tools.get(serial)
        return {} if td is None else {u: td.gifts[u] for u in userids if u in td.gifts}

    async def clear_tools(self, serial: str) -> tools.ClosedCard | None:
        td = self.tools.pop(serial, None)
        return tools.close_card(td, td.card.qid) if td is not None and td.card else None

    async def publish(self, serial: str, event: Event) -> Event:
        if serial not in self.rooms and serial not in self.subscribers:
            return event                    # a freed room with nobody listening
        stamped = t.append_event(self._room(serial), event, self.window)
        for cb in list(self.subscribers.get(serial, ())):
            cb(stamped)
        return stamped

    async def replay(self, serial: str, after: int) -> list[Event] | None:
        return t.replay(self._room(serial), after)

    async def subscribe(self, serial: str, callback: Subscriber) -> None:
        self.subscribers.setdefault(serial, []).append(callback)

    def unsubscribe(self, serial: str, callback: Subscriber) -> None:
        subs = self.subscribers.get(serial, [])
        if callback in subs:
            subs.remove(callback)
        if not subs:
            self.subscribers.pop(serial, None)

    async def open_session(self, session: Session) -> None:
        self.sessions[session.sid] = session

    async def detach_session(self, sid: str, deadline: float) -> bool:
        s = self.sessions.get(sid)
        if s is None:
            return False
        s.deadline = deadline
        return True

    async def attach_session(self, sid: str, token: str) -> Session | None:
        s = self.sessions.get(sid)
        if s is None or s.token != token:
            return None
        m = self._room(s.serial).members.get(s.userid)
        if m is None or m.session != sid:
            return None
        s.deadline = None
        return s

    async def expire_session(self, sid: str, now: float) -> Session | None:
        s = self.sessions.get(sid)
        if s is None or s.deadline is None or s.deadline > now:
            return None
        return self.sessions.pop(sid)

    async def close_session(self, sid: str) -> None:
        self.sessions.pop(sid, None)

    async def expired_sessions(self, now: float) -> list[str]:
        return [sid for sid, s in self.sessions.items()
                if s.deadline is not None and s.deadline <= now]

    async def claim_media_room(self, serial: str, record: dict[str, str],
                               replaces: int = 0) -> tuple[dict[str, Any] | None, bool]:
        cur = self.media.get(serial)
        if (cur is None and replaces == 0) or (cur is not None and cur["epoch"] == replaces):
            cur = self.media[serial] = {"server": str(record["server"]),
                                        "room": str(record["room"]), "epoch": replaces + 1}
            return dict(cur), True
        return (dict(cur) if cur is not None else None), False

    async def media_room(self, serial: str) -> dict[str, Any] | None:
        cur = self.media.get(serial)
        return dict(cur) if cur is not None else None

    async def release_media_room(self, serial: str) -> dict[str, Any] | None:
        room = self.rooms.get(serial)
        if room is not None and room.members:
            return None
        return self.media.pop(serial, None)

    # one process is the one node: nothing it brokers belongs to a dead node
    node = ""

    async def dead_nodes(self, nodes: Iterable[str]) -> set[str]:
        return set()

    async def share_media_server(self, record: dict[str, str] | None) -> None:
        return None  # no other node to share it with

    async def shared_media_servers(self) -> dict[str, dict[str, str]]:
        return {}

    async def forget_media_server(self, node: str) -> None:
        return None
    async def claim_recording(self, serial: str, node: str, now_ms: int, ttl_ms: int,
                              new_id: str) -> tuple[dict[str, Any] | None, bool]:
        rec, taken = claim(self.recordings.get(serial), node, now_ms, ttl_ms, new_id)
        if rec is None:
            return None, False
        self.recordings[serial] = rec
        return dict(rec), taken

    async def renew_recording(self, serial: str, node: str, rec_id: str, now_ms: int,
                              ttl_ms: int) -> bool:
        cur = self.recordings.get(serial)
        if cur is None or cur["id"] != rec_id or cur["holder"] != node:
            return False
        cur["lease_until"] = now_ms + ttl_ms
        return True

    async def recording(self, serial: str) -> dict[str, Any] | None:
        cur = self.recordings.get(serial)
        return dict(cur) if cur is not None else None

    async def end_recording(self, serial: str, rec_id: str) -> dict[str, Any] | None:
        cur = self.recordings.get(serial)
        if cur is None or cur["id"] != rec_id:
            return None
        return self.recordings.pop(serial)

    # the process holding the state is the node: it never restarts under the node's sockets
    def on_restart(self, hook: Callable[[], Awaitable[None]]) -> None:
        return None

    async def check_restart(self) -> bool:
        return False

    async def ping(self) -> dict[str, Any]:
        return {"ok": True, "backend": "memory"}

    async def restore(self, held: list[tuple[Session, Member]], now: float) -> int:
        return 0

    # stream claims: one process is one node, which never dies under its own claims ----------
    NODE = ""

    async def claim_stream(self, serial: str, stream_id: str, userid: str, has_video: bool,
                           has_audio: bool, maxvideo: int, maxaudio: int
                           ) -> streams.Refusal | None:
        claims = self.streams.setdefault(serial, {})
        refused = streams.claim(claims, stream_id,
                                streams.StreamClaim(userid, self.NODE, has_video, has_audio),
                                maxvideo, maxaudio)
        if not claims:
            del self.streams[serial]
        return refused

    async def release_stream(self, serial: str, stream_id: str) -> bool:
        claims = self.streams.get(serial, {})
        done = streams.release(claims, stream_id, self.NODE)
        if not claims:
            self.streams.pop(serial, None)
        return done

    async def release_streams(self, serial: str) -> int:
        room = self.rooms.get(serial)
        if room is not None and room.members:
            return 0
        return len(self.streams.pop(serial, {}))

    async def stream_claims(self, serial: str) -> dict[str, streams.StreamClaim]:
        return dict(self.streams.get(serial, {}))
