"""What the signalling and media planes need to know from the store, as an interface.

Neither plane opens the database itself: the node hands them an object with these methods
(implemented over SQLAlchemy in ``tkroom.store``), so the room rules can be tested with any
implementation and the WebAPI owns the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tkroom.rooms.entry import Enterprise, Entry
from tkroom.tickets import Identity


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room's settings as the signalling and media planes see them."""

    serial: str
    companyid: int
    roomname: str = ""
    roomtype: int = 3
    starttime: int = 0
    endtime: int = 0
    maxusers: int = 0          # students; 0 = no limit
    maxsidelineusers: int = 0  # live viewers; 0 = none allowed unless allowsidelineuser
    allowsidelineuser: bool = False
    maxvideo: int = 6
    maxaudio: int = 0          # 0 = no limit
    videotype: int = 2
    videoframerate: int = 15
    singlelogin: bool = False  # True: a second login with the same user id is refused (5208)
    bigroomthreshold: int = 100
    keepstate: bool = False    # True: saved messages survive the room emptying
    evictseconds: int = 180    # an evicted user may not enter again for this long (0: at once)
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    enterprise: Enterprise | None = None  # None: the directory knows no enterprises

    def public(self) -> dict[str, Any]:
        """The settings a client may see (no passwords ever live here)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__
             if k not in ("extra", "enterprise")}
        d.update(self.extra)
        return d

    def entry(self) -> Entry:
        """What ``tkroom.rooms.entry.check_entry`` needs to know of this room."""
        return Entry(deleted=self.deleted, endtime=self.endtime, enterprise=self.enterprise)


class RoomDirectory(Protocol):
    async def room(self, serial: str) -> RoomInfo | None:
        """The room, or None when it does not exist."""

    async def verify_login_key(self, serial: str, loginkey: str, now: float) -> Identity:
        """The identity behind a 40-character login key; raises CodeError 5300/5301/3003."""

    async def group_exists(self, serial: str, groupid: str) -> bool:
        """Whether the room has this group (groups are created through the Web API)."""

    async def save_chat(self, serial: str, message: dict[str, Any]) -> None:
        """Keep one chat message for ``getroomchat`` (its ``ts`` in milliseconds, as sent)."""

    async def class_state(self, serial: str, classstate: int, ts: float) -> None:
        """Class began (0) or ended (1): record it and notify the enterprise's callback URLs."""

    async def media_servers(self) -> list[dict[str, Any]]:
        """The media servers registered through the Web API (``serveradd``), as rows with
        ``serverid``, ``name``, ``ip``, ``url``, ``maxusers``, ``companyid`` (the enterprise
        whose classes it carries) and ``apisecret`` (media plane)."""

    async def add_record(self, *, serial: str, path: str, starttime: int, duration_ms: int = 0,
                         size: int = 0, title: str = "", kind: str = "mixed", userid: str = "",
                         recordid: str | None = None, state: int = 1, recording: str = "",
                         files: list[str] | None = None) -> str:
        """Register an output of a recording for ``getrecordlist`` (kind 'events',
        'publisher' or 'mixed'; ``state`` 0 processing, 1 ready, 2 failed); answers its
        ``recordid`` (media and egress planes)."""

    async def update_record(self, recordid: str, **fields: Any) -> dict[str, Any] | None:
        """Change an output's ``state``, ``reason``, ``size``, ``duration_ms``, ``files`` or
        ``path`` (its storage key once stored); a change to ready (1) sends the enterprise's
        ``recordready`` webhook (egress plane)."""

    async def records_of(self, recording: str) -> list[dict[str, Any]]:
        """The outputs registered for one recording (egress plane)."""

    async def live_push_url(self, serial: str) -> str:
        """The RTMP URL the room's enterprise pushes its live streams to (``livertmpurl`` of
        ``companyattribute``); empty: none (egress plane)."""

    async def page_image(self, serial: str, fileid: int, page: int) -> str | None:
        """The storage key of a converted courseware page's image, when the file is the room's
        enterprise's and converted (egress plane: a recording keeps the pages it showed, the
        live stream draws them)."""

    async def save_answers(self, serial: str, qid: str, question: dict[str, Any], answers: dict[str, list[int]], closed_ms: int) -> None:
        """Keep a closed answer card (the question, each user's answer) for ``getanswerlist``."""

    async def add_gift(self, serial: str, sender: str, receivers: list[str], ts_ms: int) -> None:
        """Keep one trophy given to each receiver, for ``getgiftinfo``."""

    async def login_events(self, records: list[dict[str, Any]]) -> None:
        """Users entered (after admission) or left rooms, in order: each record has
        ``serial``, ``userid``, ``entering``, ``ts_ms``, ``role``, ``nickname``,
        ``clienttype``, ``address`` and ``sid`` (the session). Kept for ``getlogininfo`` and
        sent to the enterprise's ``roomloginouturl``. An exit may be recorded by another node
        than the entry, and before it; ``clienttype``/``address`` are "" when the recording
        node does not know them. A batch, so that a class of thousands joining at once costs
        the store a few transactions rather than one per member."""
