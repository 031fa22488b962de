"""What a recorded class looked like at any moment, from its event log (``events.jsonl``).

Pure rules (no I/O, no clock): the compositor, the live stream and the playback page's tests
all replay the same log through ``SceneBuilder`` and place what they see with ``layout``, so a
recording, a live stream and a replay agree on the page shown, its shapes, who is on camera and
where each thing sits in the frame. The log's format is docs/recordings.md's.

Layouts (the room's ``roomlayout``, 0-99; numbers without a layout of their own use 0):

- 0 ``board-right``: the board (or a screen share) on the left three quarters, cameras stacked
  in the right column, the teacher's first, the newest chat lines below them.
- 1 ``board-top``: a strip of cameras along the top (up to six), the board below.
- 2 ``cameras``: the cameras in a grid over the whole frame (a video conference); a screen
  share, when on, takes the board's place of layout 0.
- 3 ``board-only``: the board over the whole frame, the teacher's camera small in the bottom
  right corner.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from tkroom.roles import STUDENT, TEACHER

LOG_VERSION = 1
SHOW_PAGE_ID = "DocumentFilePage_ShowPage"
BLANK_PAGE = "0_1"
MAX_CHAT = 50             # chat lines a scene keeps (the newest)
CAMERA_TYPES = frozenset(("video",))
SCREEN_TYPES = frozenset(("screen", "media"))
# events the log leaves out: strokes while drawn and laser marks (the saved shape follows)
_DRAWING = "###_SharpsDrawing_"
_LASER = "laser###_"

LAYOUTS = {0: "board-right", 1: "board-top", 2: "cameras", 3: "board-only"}
CHAT_LAYOUTS = frozenset((0,))  # layouts with room for the chat (below the cameras)
MIN_CHAT_HEIGHT = 120           # px: less room than this shows no chat


def layout_name(number: int) -> str:
    """The name of ``roomlayout`` ``number`` (unknown numbers are layout 0)."""
    return LAYOUTS.get(number, LAYOUTS[0])


def logged(ev: str, data: Any) -> bool:
    """Whether a room event belongs in the event log: what clients receive, minus the board's
    transient drawing segments and laser marks, and minus the server's own (``_...``)."""
    if ev.startswith("_") or not isinstance(data, dict):
        return False
    mid = data.get("id")
    transient = isinstance(mid, str) and (_DRAWING in mid or mid.startswith(_LASER))
    return not (ev == "pubMsg" and transient)


def start_line(at_ms: int, serial: str, room: dict[str, Any], members: list[dict[str, Any]],
               saved: list[dict[str, Any]]) -> dict[str, Any]:
    return {"v": LOG_VERSION, "kind": "start", "t": 0, "at_ms": at_ms, "serial": serial,
            "room": room, "members": members, "saved": saved}


def event_line(t: int, ev: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"t": t, "kind": "event", "name": ev, "data": data}


def segment_line(t: int, segment: int, holder: str, previous: str,
                 members: list[dict[str, Any]], saved: list[dict[str, Any]]) -> dict[str, Any]:
    """Another node took the recording over at ``t`` (its previous holder died): the room as
    it is now, as in the start line; the previous holder's tracks ended."""
    return {"t": t, "kind": "segment", "segment": segment, "node": holder,
            "previous": previous, "members": members, "saved": saved}


def track_line(t: int, userid: str, stream_id: str, kind: str, file: str,
               on: bool, node: str = "") -> dict[str, Any]:
    line = {"t": t, "kind": "track", "userid": userid, "stream_id": stream_id, "type": kind,
            "file": file, "on": on}
    return {**line, "node": node} if node else line


def end_line(t: int) -> dict[str, Any]:
    return {"t": t, "kind": "end"}


def dumps(line: dict[str, Any]) -> str:
    """One line of the log (compact, UTF-8, no newline inside)."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def parse_log(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The log's records; a torn last line (the node died mid-write) and lines that are not
    objects are skipped, so a log is always readable up to its last whole line."""
    out: list[dict[str, Any]] = []
    for raw in lines:
        raw = raw.strip()
        if not raw:
            continue
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("t", 0), int | float):
            out.append(rec)
    return out


def merge_logs(main: list[dict[str, Any]],
               others: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The event log with the track lines other nodes of a cluster wrote beside it
    (``tracks-<node>.jsonl``, times on the same clock), in time order; at equal times the event
    log's lines come first."""
    lists = [[r for r in other if r.get("kind") == "track"] for other in others]
    if not any(lists):
        return main
    keyed = [((int(r.get("t", 0)), 0, i), r) for i, r in enumerate(main)]
    keyed_others = [[((int(r.get("t", 0)), 1 + n, i), r) for i, r in enumerate(lst)]
                    for n, lst in enumerate(lists)]
    return [r for _, r in heapq.merge(keyed, *keyed_others, key=lambda kr: kr[0])]


def log_end(records: list[dict[str, Any]]) -> int:
    """The class's length in ms: the ``end`` line, else the last line's time."""
    for rec in reversed(records):
        if rec.get("kind") == "end":
            return int(rec["t"])
    return int(records[-1].get("t", 0)) if records else 0


@dataclass(frozen=True, eq=False)
class Shape:
    """A saved shape; compared by identity (a changed shape is a new object), so a scene's
    ``board_key`` is cheap to compare and hash."""

    id: str
    cls: str
    data: dict[str, Any]
    author: str = ""


@dataclass(frozen=True)
class Camera:
    """A video track shown in a camera slot."""

    userid: str
    stream_id: str
    role: int
    file: str
    nickname: str = ""


@dataclass(frozen=True)
class ChatLine:
    t: int
    fromid: str
    nickname: str
    text: str


@dataclass(frozen=True)
class Scene:
    """The class at one moment. ``board_key`` changes exactly when the board layer does."""

    t: int
    page: str = BLANK_PAGE
    shapes: tuple[Shape, ...] = ()
    screen: Camera | None = None
    cameras: tuple[Camera, ...] = ()
    chat: tuple[ChatLine, ...] = ()
    layout: int = 0

    @property
    def fileid(self) -> int:
        return int(self.page.split("_")[0])

    @property
    def pagenum(self) -> int:
        return int(self.page.split("_")[1])

    def board_key(self) -> tuple[Any, ...]:
        """What the still behind the videos depends on (the page, its shapes, the slots, and
        the chat where the layout shows it)."""
        return (self.page, self.shapes, self.screen is not None,
                tuple((c.userid, c.stream_id) for c in self.cameras), self.layout,
                self.chat if self.layout in CHAT_LAYOUTS else ())


def _page_of(msg_id: str) -> tuple[str, str] | None:
    """(shapeId, page) of a saved shape's id ``<shapeId>###_SharpsChange_<fileid>_<page>``."""
    head, sep, tail = msg_id.partition("###_SharpsChange_")
    if not sep or not head or tail.count("_") != 1:
        return None
    return head, tail


@dataclass
class SceneBuilder:
    """Replays the log one record at a time; ``scene(t)`` is the class after the records
    applied so far. Unknown kinds and names are ignored."""

    layout: int = 0
    page: str = BLANK_PAGE
    pages: dict[str, dict[str, Shape]] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    stage: dict[str, int] = field(default_factory=dict)
    tracks: dict[str, Camera] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)  # track key -> the node recording it
    chat: list[ChatLine] = field(default_factory=list)
    _cache: Scene | None = None

    def apply(self, rec: dict[str, Any]) -> None:
        self._cache = None
        kind = rec.get("kind")
        t = int(rec.get("t", 0))
        if kind == "start":
            room = rec.get("room") or {}
            n = room.get("roomlayout", 0)
            self.layout = n if isinstance(n, int) and n in LAYOUTS else 0
            for m in rec.get("members") or []:
                self._member(m)
            for msg in rec.get("saved") or []:
                self._pub(msg, t)
        elif kind == "segment":
            self._segment(rec, t)
        elif kind == "event":
            self._event(str(rec.get("name")), rec.get("data"), t)
        elif kind == "track":
            self._track(rec)

    def _segment(self, rec: dict[str, Any], t: int) -> None:
        """A takeover: the room is as the line says (what the dead holder did not log in
        between is lost, what it logged stands replaced); its tracks ended."""
        self.page, self.pages = BLANK_PAGE, {}
        self.roles, self.names, self.stage = {}, {}, {}
        for m in rec.get("members") or []:
            self._member(m)
        for msg in rec.get("saved") or []:
            self._pub(msg, t)
        previous = rec.get("previous")
        if isinstance(previous, str) and previous:
            for key in [k for k, n in self.nodes.items() if n == previous]:
                self._end_track(key)

    def _member(self, m: Any) -> None:
        if not isinstance(m, dict):
            return
        uid = m.get("id", m.get("userid"))
        props = m.get("properties") or {}
        if not isinstance(uid, str) or not isinstance(props, dict):
            return
        role = props.get("role", m.get("role"))
        if isinstance(role, int):
            self.roles[uid] = role
        if isinstance(props.get("nickname"), str):
            self.names[uid] = props["nickname"]
        if isinstance(props.get("publishstate"), int):
            self.stage[uid] = props["publishstate"]

    def _event(self, name: str, data: Any, t: int) -> None:
        if not isinstance(data, dict):
            return
        if name == "pubMsg":
            self._pub(data, t)
        elif name == "delMsg":
            self._del(data)
        elif name == "participantJoined":
            self._member(data)
        elif name == "participantLeft":
            uid = data.get("id")
            if isinstance(uid, str):
                self.stage.pop(uid, None)
        elif name == "setProperty":
            props = data.get("properties") or {}
            uid = data.get("id")
            if isinstance(uid, str) and isinstance(props, dict) and \
                    isinstance(props.get("publishstate"), int):
                self.stage[uid] = props["publishstate"]
        elif name == "sendMessage":
            to = str(data.get("toID", "__all"))
            if to.startswith("__"):
                msg = data.get("message")
                text = msg if isinstance(msg, str) else (msg or {}).get("msg", "") \
                    if isinstance(msg, dict) else str(msg)
                self.chat.append(ChatLine(t, str(data.get("fromID", "")),
                                          str(data.get("nickname", "")), str(text)))
                del self.chat[:-MAX_CHAT]

    def _pub(self, msg: Any, t: int) -> None:
        if not isinstance(msg, dict):
            return
        mid, name, data = msg.get("id"), msg.get("name"), msg.get("data")
        if not isinstance(mid, str) or not isinstance(data, dict):
            return
        if mid == SHOW_PAGE_ID or name == "ShowPage":
            fileid, page = data.get("fileid"), data.get("currpage")
            if isinstance(fileid, int) and isinstance(page, int) and fileid >= 0 and page >= 1:
                self.page = f"{fileid}_{page}"
            return
        if name != "SharpsChange":
            return
        ev = data.get("eventType")
        if ev == "clearEvent":
            parsed = mid.partition("###_SharpsChange_")
            self.pages.pop(parsed[2], None)
        elif ev == "shapeSaveEvent":
            parsed2 = _page_of(mid)
            cls, body = data.get("className"), data.get("data")
            if parsed2 and isinstance(cls, str) and isinstance(body, dict):
                sid, page = parsed2
                shapes = self.pages.setdefault(page, {})
                shapes.pop(sid, None)  # a changed shape is drawn last, as clients do
                shapes[sid] = Shape(sid, cls, body, str(msg.get("fromID", "")))

    def _del(self, data: dict[str, Any]) -> None:
        mid = data.get("id")
        if not isinstance(mid, str):
            return
        parsed = _page_of(mid)
        if parsed:
            self.pages.get(parsed[1], {}).pop(parsed[0], None)
        elif mid == SHOW_PAGE_ID:
            self.page = BLANK_PAGE

    def _track(self, rec: dict[str, Any]) -> None:
        sid, uid, kind = rec.get("stream_id"), rec.get("userid"), rec.get("type")
        f = rec.get("file")
        if not isinstance(sid, str) or not isinstance(uid, str) or not isinstance(kind, str):
            return
        key = f"{sid}|{kind}"
        if rec.get("on") and isinstance(f, str):
            self.tracks[key] = Camera(uid, sid, self.roles.get(uid, STUDENT), f,
                                      self.names.get(uid, ""))
            self.types[key] = kind
            self.nodes[key] = str(rec.get("node") or "")
        elif self.tracks.get(key) is not None and (not isinstance(f, str) or
                                                   self.tracks[key].file == f):
            self._end_track(key)

    def _end_track(self, key: str) -> None:
        self.tracks.pop(key, None)
        self.types.pop(key, None)
        self.nodes.pop(key, None)

    def scene(self, t: int) -> Scene:
        """The class now (cached until the next record)."""
        if self._cache is not None:
            return replace(self._cache, t=t)
        screen = None
        cams: list[Camera] = []
        for key, cam in self.tracks.items():
            kind = self.types[key]
            role = self.roles.get(cam.userid, cam.role)
            if kind in SCREEN_TYPES:
                screen = cam
            elif kind in CAMERA_TYPES and (role != STUDENT or self.stage.get(cam.userid, 0)):
                cams.append(replace(cam, role=role,
                                    nickname=self.names.get(cam.userid, cam.nickname)))
        cams.sort(key=lambda c: (c.role != TEACHER, c.role, c.userid, c.stream_id))
        shapes = tuple(self.pages.get(self.page, {}).values())
        self._cache = Scene(t, self.page, shapes, screen, tuple(cams), tuple(self.chat),
                            self.layout)
        return self._cache


def scenes(records: Iterable[dict[str, Any]]) -> Iterator[Scene]:
    """The scene after each record (records at the same ``t`` give one scene, the last)."""
    b = SceneBuilder()
    pending: Scene | None = None
    for rec in records:
        t = int(rec.get("t", 0))
        if pending is not None and t != pending.t:
            yield pending
        b.apply(rec)
        pending = b.scene(t)
    if pending is not None:
        yield pending


def scene_at(records: Iterable[dict[str, Any]], t: int) -> Scene:
    """The class at ``t`` ms (the last scene at or before it)."""
    b = SceneBuilder()
    for rec in records:
        if int(rec.get("t", 0)) > t:
            break
        b.apply(rec)
    return b.scene(t)


# ---- layout ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Placement:
    """Where the board (or screen share), each camera and the chat sit in a frame."""

    board: Rect | None
    cameras: tuple[Rect, ...]
    chat: Rect | None = None


def _even(v: float) -> int:
    """Video sizes and offsets are even (4:2:0 chroma)."""
    return int(v) // 2 * 2


def fit(inner_w: int, inner_h: int, box: Rect) -> Rect:
    """The largest ``inner_w``×``inner_h``-shaped rectangle centred in ``box``."""
    if inner_w <= 0 or inner_h <= 0:
        return box
    scale = min(box.w / inner_w, box.h / inner_h)
    w, h = max(2, _even(inner_w * scale)), max(2, _even(inner_h * scale))
    return Rect(box.x + _even((box.w - w) / 2), box.y + _even((box.h - h) / 2), w, h)


def _column(x: int, w: int, h: int, n: int) -> list[Rect]:
    cell_h = _even(w * 9 / 16)
    rows = max(1, min(n, h // max(cell_h, 1)))
    return [Rect(x, i * cell_h, w, cell_h) for i in range(rows)]


def place(scene: Scene, width: int, height: int) -> Placement:
    """The frame's regions for ``scene`` by its layout; cameras beyond the slots are not shown
    (the teacher's always is: it comes first)."""
    n = len(scene.cameras)
    lay = scene.layout
    if lay == 1:
        strip = _even(height / 6)
        per = 6
        cell_w = _even(width / per)
        cams = [Rect(i * cell_w + _even((width - cell_w * min(n, per)) / 2), 0, cell_w, strip)
                for i in range(min(n, per))]
        return Placement(Rect(0, strip, width, height - strip), tuple(cams))
    if lay == 2 and scene.screen is None:
        if n == 0:
            return Placement(Rect(0, 0, width, height), ())
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        cw, ch = _even(width / cols), _even(height / rows)
        return Placement(None, tuple(Rect(i % cols * cw, i // cols * ch, cw, ch)
                                     for i in range(n)))
    if lay == 3:
        w = _even(width / 5)
        h = _even(w * 9 / 16)
        cams = [Rect(width - w - 16, height - h - 16, w, h)] if n else []
        return Placement(Rect(0, 0, width, height), tuple(cams))
    side = _even(width / 4)
    cams = _column(width - side, side, height, n) if n else []
    below = cams[-1].y + cams[-1].h if cams else 0
    chat = (Rect(width - side, below, side, height - below)
            if lay in CHAT_LAYOUTS and height - below >= MIN_CHAT_HEIGHT else None)
    return Placement(Rect(0, 0, width - side, height), tuple(cams), chat)
