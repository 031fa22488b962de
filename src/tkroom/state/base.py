"""The one interface the signalling plane keeps room state behind.

Contract for implementers (memory now, Redis for clusters):

* **Every method is atomic.** Limits must hold exactly under concurrent joins on many nodes,
  so the interface offers whole operations ("admit this member if the limits allow", "save
  this message with the next ``seq``, replacing the same id") and never read-then-write pairs.
  The reference semantics of each operation are the pure functions of
  ``tkroom.rooms.transitions`` over ``RoomData``; the memory backend calls them directly, a
  Redis backend implements each as one Lua script (or MULTI/EXEC) with identical results.
  ``tests/test_state_contract.py`` runs against any backend and is the acceptance test.
* **Room event sequence ``s``** comes from the state: ``publish`` stamps the event with the
  room's next ``s`` (one counter per room, shared by every node), stores it in the room's
  replay window (the last ``window`` events) and delivers it to every local subscriber of the
  room on every node, in ``s`` order. One publish per event per room (Redis: one PUBLISH;
  each node fans out to its own connections).
* **Delivery** happens through ``await subscribe(serial, callback)``, which returns once
  every event published from then on will reach ``callback``: a plain (non-async) function
  called with each stamped ``Event``, in ``s`` order, on the node's event loop. The memory
  backend calls it synchronously inside ``publish``; Redis calls it when the node's
  subscriber connection receives the event, so it may come after ``publish`` returned and
  after a snapshot or replay that already covered it (the fan-out drops ``s`` it has sent).
* **Sessions** outlive sockets: ``open_session`` at join, ``detach_session`` when the socket
  drops (with the grace deadline), ``attach_session`` on resume (only with the right token
  and while the member is still in the room), ``expire_session`` when the grace deadline
  passes (only if still detached), ``close_session`` on leave.
* **Restarts.** A state that can lose data while the node runs (Redis restarting) calls the
  node's ``on_restart`` hooks when it finds out (``check_restart``), and the node puts back what
  it knows with ``restore``; nobody has to rejoin. The memory backend never loses data.
* **The class's media room** (``claim_media_room``, ``media_room``, ``release_media_room``)
  is one record per room naming the media server and the VideoRoom every node brokers into:
  the first claim wins, a move is a compare-and-set on the record's ``epoch``, and the record
  is released by exactly one node once the room has no member left on any node.
* **Dead nodes** (``dead_nodes``): the nodes whose heartbeat expired, asked by name (a
  node's ``node``), so a survivor cleans what a dead node left outside the state (its feeds
  in the class's VideoRoom). **Shared Janus servers** (``share_media_server``,
  ``shared_media_servers``, ``forget_media_server``): the node's own Janus, offered to the
  other nodes (its URL and API secret), one per node.
* **Stream claims** (``claim_stream``, ``release_stream``, ``release_streams``): one per
  published stream, the room-wide ``maxvideo``/``maxaudio`` counts of a class on any number
  of nodes (``tkroom.rooms.streams.claim``). A claim names the node it was made through (the
  state's own node); a node taken for dead loses its claims in the sweep that detaches its
  sessions, and one that was only paused (or whose Redis restarted) puts its claims back.
* **The class's recording** (``claim_recording``, ``renew_recording``, ``recording``,
  ``end_recording``) is one record per room with a lease: one node (the holder) writes the
  event log and ends the recording; another takes the lease over when it lapses (the holder
  died), as ``tkroom.rooms.recording.claim`` says.
* Members, messages and events are the dataclasses/dicts of ``tkroom.rooms.model``;
  ``Member.to_dict``/``from_dict`` and ``Event.to_dict``/``from_dict`` give JSON forms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from tkroom.rooms.model import Event, Member
from tkroom.rooms.streams import Refusal, StreamClaim
from tkroom.rooms.tools import ClosedCard, Press, Tally
from tkroom.rooms.transitions import (
    NO_LIMITS,
    ClearOutcome,
    JoinOutcome,
    JoinPolicy,
    LeaveOutcome,
    SaveOutcome,
    SavePolicy,
    Snapshot,
)

Subscriber = Callable[[Event], None]

__all__ = [
    "ClearOutcome", "Event", "JoinOutcome", "JoinPolicy", "LeaveOutcome", "Member", "RoomState",
    "SaveOutcome", "SavePolicy", "Session", "Snapshot", "Subscriber", "ClosedCard", "Press",
    "Tally",
]


@dataclass(slots=True)
class Session:
    """A member's session: what ``resume`` needs to find it again from any node."""

    sid: str
    token: str
    serial: str
    userid: str
    deadline: float | None = None   # set while detached (no socket): when the grace ends

    def to_dict(self) -> dict[str, Any]:
        return {"sid": self.sid, "token": self.token, "serial": self.serial,
                "userid": self.userid, "deadline": self.deadline}


class RoomState(Protocol):
    """Room runtime state; see the module docstring for the contract."""

    async def start(self) -> None:
        """Connect (Redis) or nothing (memory)."""

    async def stop(self) -> None:
        """Release connections and subscriptions."""

    # members -------------------------------------------------------------------------
    async def add_member(self, serial: str, member: Member, policy: JoinPolicy) -> JoinOutcome:
        """``transitions.add_member``: admit within the limits, replacing a same-id member
        unless ``policy.singlelogin`` (then 5208); 63 second teacher, 64 students, 5011;
        4108 (with ``until_ms``) while the user is barred by an eviction."""

    async def remove_member(self, serial: str, userid: str, session: str,
                            keepstate: bool) -> LeaveOutcome:
        """``transitions.remove_member``: only if the member still lives in ``session``
        ("" = any); cascades ``associatedUserID`` messages; clears messages when the room
        empties unless ``keepstate``."""

    async def bar_member(self, serial: str, userid: str, until_ms: int, now_ms: int) -> None:
        """``transitions.bar``: an evicted user's joins are refused (4108) before ``until_ms``;
        the bar outlives the room emptying, and is forgotten once over."""

    async def update_properties(self, serial: str, userid: str,
                                props: dict[str, Any]) -> Member | None:
        """Merge properties into one member (None when it is not in the room)."""

    async def get_members(self, serial: str, userids: list[str] | None = None) -> list[Member]:
        """The members with these ids (all members when None), in join order."""

    async def count_members(self, serial: str) -> int:
        """How many members the room has."""

    async def snapshot(self, serial: str, bigroom: bool) -> Snapshot:
        """``transitions.snapshot``: members, saved messages in ``seq`` order, current ``s``."""

    # saved messages ------------------------------------------------------------------
    async def save_message(self, serial: str, msg: dict[str, Any],
                           policy: SavePolicy = NO_LIMITS, *, author: str = "") -> SaveOutcome:
        """``transitions.save_message``: next ``seq``, replacing the same ``id``; refused
        (nothing changes) when ``author`` is given and the same-id copy is someone else's, or
        beyond the policy's limits (room total, messages associated with one user or with
        one message)."""

    async def delete_message(self, serial: str, msgid: str,
                             author: str = "") -> list[dict[str, Any]] | None:
        """``transitions.delete_message``: the message and its ``associatedMsgID`` cascade
        (linear in what it removes, like the ``associatedUserID`` cascade of a leave); None
        when ``author`` is given and the message is someone else's."""

    async def delete_children(self, serial: str, parent: str) -> ClearOutcome:
        """``transitions.delete_children``: every message associated with ``parent``, counted,
        and what hung on them, returned in ``seq`` order, in one atomic step (a page clear)."""

    async def messages(self, serial: str) -> list[dict[str, Any]]:
        """The saved messages in ``seq`` order."""

    async def get_message(self, serial: str, msgid: str) -> dict[str, Any] | None:
        """One saved message (with its ``seq``), or None."""

    async def has_message(self, serial: str, msgid: str) -> bool:
        """Whether a saved message with this id exists (e.g. ``EveryoneBanChat``)."""

    # chat ----------------------------------------------------------------------------
    async def chat_gate(self, serial: str, userid: str, now_ms: int, min_gap_ms: int) -> bool:
        """``transitions.chat_gate``: record this chat unless the last was too recent."""

    # classroom tools (docs/tools.md) -------------------------------------------------------
    async def open_card(self, serial: str, question: dict[str, Any]
                        ) -> tuple[int, ClosedCard | None]:
        """``tools.open_card``: 103 for a used ``qid``; else the card it closed, if any."""

    async def answer_card(self, serial: str, qid: str, userid: str, answer: tuple[int, ...],
                          now_ms: int) -> Tally:
        """``tools.answer_card``: count (or replace) one answer while the card is open."""

    async def close_card(self, serial: str, qid: str) -> ClosedCard | None:
        """``tools.close_card``: the card's final tally and answers (None: not open)."""

    async def arm_buzzer(self, serial: str) -> tuple[int, str]:
        """``tools.arm``: the new round and the last round's winner ("" = none)."""

    async def press_buzzer(self, serial: str, rnd: int, userid: str, now_ms: int) -> Press:
        """``tools.press``: the first press of the armed round wins."""

    async def disarm_buzzer(self, serial: str) -> str:
        """``tools.disarm``: the winner whose message goes with it."""

    async def give_gifts(self, serial: str, receivers: list[str]) -> dict[str, int]:
        """``tools.give``, and each present receiver's ``giftnumber`` property set to its
        total in the same step (two gifts at once never leave a lower count behind)."""

    async def gift_totals(self, serial: str, userids: list[str]) -> dict[str, int]:
        """The trophies these users hold in the room (those with none are left out)."""

    async def clear_tools(self, serial: str) -> ClosedCard | None:
        """Forget the room's tool state (the room emptied and its messages went); answers the
        card that was open, closed, so its answers can still be stored."""

    # events ----------------------------------------------------------------------------
    async def publish(self, serial: str, event: Event) -> Event:
        """``transitions.append_event`` then deliver to subscribers on every node."""

    async def replay(self, serial: str, after: int) -> list[Event] | None:
        """``transitions.replay``: events after ``after`` or None when beyond the window."""

    async def subscribe(self, serial: str, callback: Subscriber) -> None:
        """Deliver the room's events to ``callback`` on this node (one per room per node);
        returns when the subscription is live, so a snapshot taken after it misses nothing."""

    def unsubscribe(self, serial: str, callback: Subscriber) -> None:
        """Stop delivering the room's events to ``callback``."""

    # sessions --------------------------------------------------------------------------
    async def open_session(self, session: Session) -> None:
        """Record a new, attached session."""

    async def detach_session(self, sid: str, deadline: float) -> bool:
        """Mark the session socket-less until ``deadline``; False when it does not exist."""

    async def attach_session(self, sid: str, token: str) -> Session | None:
        """Reattach a session whose token matches and whose member is still in the room."""

    async def expire_session(self, sid: str, now: float) -> Session | None:
        """Remove and return the session if it is detached and its deadline has passed."""

    async def close_session(self, sid: str) -> None:
        """Forget the session (the member left)."""

    async def expired_sessions(self, now: float) -> list[str]:
        """Ids of detached sessions whose deadline has passed (a sweeper expires them)."""

    # the class's media room ----------------------------------------------------------------
    async def claim_media_room(self, serial: str, record: dict[str, str],
                               replaces: int = 0) -> tuple[dict[str, Any] | None, bool]:
        """Write ``record`` (``server``, ``room``: strings) as the room's media room, with the
        next ``epoch``: when ``replaces`` is 0, only if the room has none; otherwise only if
        the current record's ``epoch`` is ``replaces`` (a move decided once). Answers the
        record now in force (None when a move found the record released) and whether it is
        the one given."""

    async def media_room(self, serial: str) -> dict[str, Any] | None:
        """The room's media room record (``server``, ``room``, ``epoch``), or None."""

    async def release_media_room(self, serial: str) -> dict[str, Any] | None:
        """Forget the record and answer it, only if the room has no member on any node; None
        otherwise (or when there is none): one caller gets it, and destroys the VideoRoom."""

    # the nodes of the cluster ---------------------------------------------------------------
    node: str
    """This node's name in the state ("" when the state has no other node: memory)."""

    async def dead_nodes(self, nodes: Iterable[str]) -> set[str]:
        """Which of ``nodes`` the state takes for dead now (their heartbeat expired, as the
        sweep that detaches their sessions does): what they brokered elsewhere (their Janus
        feeds) is theirs to clean no more. Never this node; none while the state cannot tell
        (Redis just restarted)."""

    async def share_media_server(self, record: dict[str, str] | None) -> None:
        """Offer this node's own Janus to the cluster (``url``, ``secret``: its API secret), or
        withdraw it (None)."""

    async def shared_media_servers(self) -> dict[str, dict[str, str]]:
        """The Janus servers nodes offer to the cluster, by node name (dead ones included:
        ``dead_nodes`` tells)."""

    async def forget_media_server(self, node: str) -> None:
        """Forget the server a dead ``node`` offered."""
    # the class's recording ------------------------------------------------------------------
    async def claim_recording(self, serial: str, node: str, now_ms: int, ttl_ms: int,
                              new_id: str) -> tuple[dict[str, Any] | None, bool]:
        """The room's recording record (``id``, ``started_ms``, ``holder``, ``segment``,
        ``lease_until``, ``previous``), made with ``new_id`` when there is none (not when
        ``new_id`` is empty: None), taken over by ``node`` (the next ``segment``) when its lease
        lapsed before ``now_ms``, else unchanged; and whether ``node`` became the holder by this
        call (``tkroom.rooms.recording.claim``)."""

    async def renew_recording(self, serial: str, node: str, rec_id: str, now_ms: int,
                              ttl_ms: int) -> bool:
        """Extend the lease to ``now_ms + ttl_ms`` if ``node`` holds recording ``rec_id``."""

    async def recording(self, serial: str) -> dict[str, Any] | None:
        """The room's recording record, or None."""

    async def end_recording(self, serial: str, rec_id: str) -> dict[str, Any] | None:
        """Forget recording ``rec_id`` and answer it (None when it is not the room's: one
        caller gets it, and queues its outputs)."""

    async def ping(self) -> dict[str, Any]:
        """Whether the state answers now (for /readyz): ``{"ok": bool, ...}``; raises when it
        cannot be reached."""

    # restarts ----------------------------------------------------------------------------
    def on_restart(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Await ``hook()`` when the state came back after losing (perhaps) some of its data."""

    async def check_restart(self) -> bool:
        """Look now whether the state restarted (True), running the hooks before answering."""

    async def restore(self, held: list[tuple[Session, Member]], now: float) -> int:
        """After a restart: put back the members and sessions of the sockets this node holds,
        as the node knows them, unless the state has a newer session of the user; other
        sessions the state records on this node get their grace period from ``now``. How many
        are attached here."""

    # stream claims (tkroom.rooms.streams) --------------------------------------------------
    async def claim_stream(self, serial: str, stream_id: str, userid: str, has_video: bool,
                           has_audio: bool, maxvideo: int, maxaudio: int) -> Refusal | None:
        """``streams.claim`` through this node: None when admitted, else why not (``TAKEN``,
        ``VIDEO_FULL``, ``AUDIO_FULL``); concurrent claims on any nodes never pass the
        limits."""

    async def release_stream(self, serial: str, stream_id: str) -> bool:
        """``streams.release``: forget the claim if this node holds it."""

    async def release_streams(self, serial: str) -> int:
        """Forget every claim of the room, only when it has no member on any node (the class
        ended; a backstop behind each publication's own release). How many went."""

    async def stream_claims(self, serial: str) -> dict[str, StreamClaim]:
        """The room's claims by stream id."""
