"""The board's rules (docs/board.md): which messages are board messages, who may send them,
what they must look like, their limits, the drawing rate, and the compact join-answer form.

Pure: no I/O; the rate limiter takes ``now_ms``. The signalling server calls
``check_pubmsg``/``check_delmsg`` for every ``pubMsg``/``delMsg`` (plain messages are passed on
to ``tkroom.rooms.rules``), then applies what they return to the room state.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from tkroom.rooms.model import INSPECTOR, STUDENT, SUPER_ROLES, VIEWER, Member, Target
from tkroom.rooms.rules import check_delmsg as check_plain_delmsg
from tkroom.rooms.rules import check_pubmsg as check_plain_pubmsg
from tkroom.rooms.rules import fail, parse_target

SHAPES = "SharpsChange"
SHOW_PAGE = "ShowPage"
PAGE_COUNT = "WBPageCount"
DOC_CHANGE = "DocumentChange"
BOARD_NAMES = frozenset((SHAPES, SHOW_PAGE, PAGE_COUNT, DOC_CHANGE))
# the fixed ids of the page messages (one of each per room)
PAGE_IDS = {SHOW_PAGE: "DocumentFilePage_ShowPage", PAGE_COUNT: "WBPageCount",
            DOC_CHANGE: DOC_CHANGE}
SUPER_ONLY_IDS = frozenset(PAGE_IDS.values())

SAVE_EVENT, DRAWING_EVENT, CLEAR_EVENT, LASER_EVENT = (
    "shapeSaveEvent", "drawingEvent", "clearEvent", "laserMarkEvent")
CLASSES = frozenset(("Pen", "Highlighter", "Line", "Arrow", "Rectangle", "Ellipse", "Text"))
PAGE_PREFIX = "Page_"            # associatedMsgID of a saved shape: Page_<fileid>_<page>
RESERVED_SHAPE_IDS = frozenset(("clear", "laser"))
MAX_BLANK_PAGES = 1000
MAX_PAGES = 100_000
TEXT_MAX = 4096

_ID = re.compile(r"([A-Za-z0-9-]{1,64})###_(SharpsChange|SharpsDrawing)_((?:0|[1-9][0-9]{0,9})"
                 r"_[1-9][0-9]{0,5})")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_SHAPE_KEYS = frozenset(("name", "id", "toID", "data", "fromID", "ts", "save",
                         "associatedMsgID", "seq"))
# a drawing student reaches everyone, as the board needs; the others as rules._may_steer
_STUDENT_BOARD_TARGETS = frozenset(("all", "except_sender", "none", "super", "user", "ids"))


@dataclass(frozen=True, slots=True)
class BoardLimits:
    """The room's board limits (0 = no limit): shapes per page, bytes of one board message's
    ``data`` as JSON, and board messages a second per user (bursts of twice that)."""

    max_shapes: int = 10_000
    max_shape_bytes: int = 32 * 1024
    rate: int = 60


DEFAULT_LIMITS = BoardLimits()


@dataclass(frozen=True, slots=True)
class Publish:
    """What a ``pubMsg`` does. ``kind``: ``plain`` (not a board message), ``shape`` (saved
    under the page ``parent``), ``page`` (a saved page message), ``transient`` (a drawing
    segment, a laser mark, a courseware change: sent, never saved) or ``clear`` (the page
    ``parent`` loses every shape, announced as this one message)."""

    msg: dict[str, Any]
    target: Target
    kind: str = "plain"
    parent: str = ""

    @property
    def board(self) -> bool:
        return self.kind != "plain"


@dataclass(frozen=True, slots=True)
class Delete:
    """What a ``delMsg`` does: the event and its target; ``board``: it erases a shape."""

    msg: dict[str, Any]
    target: Target
    board: bool = False


def may_draw(m: Member) -> bool:
    """The teacher and assistants always; a student while the teacher gives it ``candraw``;
    live viewers and inspectors never."""
    return m.role in SUPER_ROLES or (m.role == STUDENT and m.properties.get("candraw") is True)


def page_parent(page: str) -> str:
    """The ``associatedMsgID`` the server gives a page's saved shapes."""
    return PAGE_PREFIX + page


def parse_shape_id(mid: str) -> tuple[str, str, str] | None:
    """``(shapeId, "SharpsChange" | "SharpsDrawing", page key)`` of a board id, else None."""
    m = _ID.fullmatch(mid)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def _number(v: Any, what: str, lo: float = -1.0, hi: float = 2.0) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
            or not lo <= v <= hi:
        raise fail(103, f"{what} must be a number in {lo:g}..{hi:g}")
    return float(v)


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise fail(103, f"{what} must be an integer in {lo}..{hi}")
    return v


def _obj(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise fail(103, f"{what} must be an object")
    return v


def _points(v: Any) -> None:
    if not isinstance(v, list) or not v or len(v) % 2:
        raise fail(103, "points must be a non-empty list of x, y pairs")
    for p in v:
        _number(p, "a point's coordinate")


def check_shape(class_name: Any, data: Any) -> None:
    """A shape's ``className`` and ``data`` as docs/board.md lists them (103 otherwise);
    coordinates may stray a page beyond its edges (a stroke leaving the page)."""
    if class_name not in CLASSES:
        raise fail(103, f"className must be one of {sorted(CLASSES)}")
    d = _obj(data, "the shape's data")
    if not isinstance(d.get("color"), str) or not _COLOR.fullmatch(d["color"]):
        raise fail(103, "color must be #rrggbb")
    if class_name in ("Pen", "Highlighter"):
        _points(d.get("points"))
    elif class_name == "Text":
        _number(d.get("x"), "x")
        _number(d.get("y"), "y")
        if not isinstance(d.get("text"), str) or len(d["text"]) > TEXT_MAX:
            raise fail(103, f"text must be a string of at most {TEXT_MAX} characters")
        _number(d.get("size"), "size", 0.0, 1.0)
        return
    else:
        for k in ("x1", "y1", "x2", "y2"):
            _number(d.get(k), k)
    _number(d.get("width"), "width", 0.0, 1.0)


def _size_ok(data: Any, limits: BoardLimits) -> None:
    """Within the size limit, and plain JSON: a NaN or Infinity (which Python's JSON reads)
    saved on the board would break every browser's join answer."""
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise fail(103, "numbers must be finite (no NaN or Infinity)") from exc
    if limits.max_shape_bytes:
        size = len(text.encode())
        if size > limits.max_shape_bytes:
            raise fail(103, f"a board message's data is {size} bytes of JSON; the room allows "
                            f"at most {limits.max_shape_bytes}")


def _steer(sender: Member, target: Target, what: str) -> None:
    """Who may reach whom with a board message: a drawing student everyone too."""
    if sender.role in (VIEWER, INSPECTOR):
        raise fail(4108, f"a live viewer or an inspector may not send {what}")
    if sender.role == STUDENT and (target.kind not in _STUDENT_BOARD_TARGETS or
                                   len(target.ids) > 1):
        raise fail(4108, f"a student may send {what} to everyone, the teachers or one user, "
                         "not to a list, a role set or a group")


def _draw_allowed(sender: Member, what: str) -> None:
    if not may_draw(sender):
        raise fail(4108, f"{what}: only the teacher, assistants and students given candraw "
                         "draw on the board")


def _super_only(sender: Member, what: str) -> None:
    if sender.role not in SUPER_ROLES:
        raise fail(4108, f"only the teacher and assistants {what}")


def _not_reserved(msg: dict[str, Any]) -> None:
    """Plain messages keep off the board's ids and page parents (a student saving
    ``Page_0_1`` associated with itself would take the page's shapes along when it leaves)."""
    am = msg.get("associatedMsgID")
    if msg["id"].startswith(PAGE_PREFIX) or (isinstance(am, str) and am.startswith(PAGE_PREFIX)):
        raise fail(103, f"ids and associatedMsgID starting {PAGE_PREFIX!r} are the board's")
    if parse_shape_id(msg["id"]) is not None or msg["id"] in SUPER_ONLY_IDS:
        raise fail(103, f"{msg['id']!r} is a board id: send it as {SHAPES} or a page message")


def check_pubmsg(sender: Member, data: Any, now_ms: int, limits: BoardLimits) -> Publish:
    """A ``pubMsg`` request: a board message checked here, any other by ``rules``."""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in BOARD_NAMES:
        plain, to = check_plain_pubmsg(sender, data, now_ms)
        _not_reserved(plain)
        return Publish(plain, to)
    assert isinstance(data, dict)
    target = parse_target(data.get("toID", "__all"), sender.userid)
    _steer(sender, target, name)
    payload = _obj(data.get("data"), f"{name} data")
    _size_ok(payload, limits)
    msg: dict[str, Any] = {"name": name, "toID": data.get("toID", "__all"),
                           "fromID": sender.userid, "ts": now_ms}
    if name == SHAPES:
        return _shapes(sender, data, payload, msg, target)
    _super_only(sender, f"send {name}")
    mid = data.get("id", PAGE_IDS[name])
    if mid != PAGE_IDS[name]:
        raise fail(103, f"the id of {name} is {PAGE_IDS[name]!r}")
    msg["id"] = mid
    if name == SHOW_PAGE:
        _int(payload.get("fileid"), "fileid", 0, 2**53)
        cur = _int(payload.get("currpage"), "currpage", 1, MAX_PAGES)
        _int(payload.get("pagenum"), "pagenum", cur, MAX_PAGES)
        for k in ("filename", "filetype"):
            if not isinstance(payload.get(k), str):
                raise fail(103, f"{k} must be a string")
    elif name == PAGE_COUNT:
        _int(payload.get("fileid"), "fileid", 0, 0)
        _int(payload.get("totalPage"), "totalPage", 1, MAX_BLANK_PAGES)
    else:
        if payload.get("action") not in ("add", "delete"):
            raise fail(103, "action must be add or delete")
        _int(payload.get("fileid"), "fileid", 0, 2**53)
    save = name != DOC_CHANGE
    msg.update(data=payload, save=save)
    return Publish(msg, target, "page" if save else "transient")


def _shapes(sender: Member, data: dict[str, Any], payload: dict[str, Any],
            msg: dict[str, Any], target: Target) -> Publish:
    mid = data.get("id")
    parsed = parse_shape_id(mid) if isinstance(mid, str) else None
    if parsed is None:
        raise fail(103, "a SharpsChange id is <shapeId>###_SharpsChange_<fileid>_<page> "
                        "(or ###_SharpsDrawing_ for a stroke being drawn)")
    shape_id, kind, page = parsed
    event = payload.get("eventType")
    msg["id"] = mid
    if kind == "SharpsDrawing":
        if event != DRAWING_EVENT:
            raise fail(103, f"a SharpsDrawing id carries a {DRAWING_EVENT}")
        _draw_allowed(sender, "drawing")
        _points(_obj(payload.get("data"), "the segment's data").get("points"))
        _int(payload.get("seq", 0), "seq", 0, 2**31)
        msg.update(data=payload, save=False)
        return Publish(msg, target, "transient")
    if event == SAVE_EVENT:
        _draw_allowed(sender, "drawing")
        if shape_id in RESERVED_SHAPE_IDS or payload.get("shapeId", shape_id) != shape_id:
            raise fail(103, "shapeId must be the shape id of the message id (not clear/laser)")
        check_shape(payload.get("className"), payload.get("data"))
        msg.update(data={"eventType": SAVE_EVENT, "shapeId": shape_id,
                         "className": payload["className"], "data": payload["data"]},
                   save=True, associatedMsgID=page_parent(page))
        return Publish(msg, target, "shape", page_parent(page))
    if event == CLEAR_EVENT:
        _super_only(sender, "clear a page")
        if shape_id != "clear":
            raise fail(103, f"a clear's id is clear###_SharpsChange_{page}")
        msg.update(data=payload, save=False)
        return Publish(msg, target, "clear", page_parent(page))
    if event == LASER_EVENT:
        _draw_allowed(sender, "the laser pointer")
        if shape_id != "laser":
            raise fail(103, f"a laser mark's id is laser###_SharpsChange_{page}")
        mark = payload.get("data", payload)
        _obj(mark, "the laser mark")
        for k in ("x", "y"):
            if k in mark:
                _number(mark[k], k)
        msg.update(data=payload, save=False)
        return Publish(msg, target, "transient")
    raise fail(103, f"eventType must be one of {SAVE_EVENT}, {DRAWING_EVENT}, {CLEAR_EVENT}, "
                    f"{LASER_EVENT}")


def check_delmsg(sender: Member, data: Any, now_ms: int) -> Delete:
    """A ``delMsg`` request: erasing a shape needs the right to draw (and, for a student, its
    own shape: the state's author rule); page messages are the super users' alone."""
    mid = data.get("id", data.get("name")) if isinstance(data, dict) else None
    if not isinstance(mid, str) or not (parse_shape_id(mid) or mid in SUPER_ONLY_IDS):
        msg, target = check_plain_delmsg(sender, data, now_ms)
        return Delete(msg, target)
    assert isinstance(data, dict)
    target = parse_target(data.get("toID", "__all"), sender.userid)
    _steer(sender, target, "delMsg")
    if mid in SUPER_ONLY_IDS:
        _super_only(sender, f"delete {mid}")
    else:
        _draw_allowed(sender, "erasing")
    name = data.get("name", SHAPES)
    if not isinstance(name, str) or len(name) > 256:
        raise fail(103, "name must be a string")
    payload = data.get("data", {})
    msg = {"name": name, "id": mid, "toID": data.get("toID", "__all"),
           "data": payload if isinstance(payload, dict) else {}, "fromID": sender.userid,
           "ts": now_ms}
    return Delete(msg, target, True)


class RateLimiter:
    """Board messages a second per key (a room's user), as a token bucket: ``rate`` a second
    on average, bursts of ``burst``. Keys idle long enough to be full again are forgotten, so
    it holds only the users who drew in the last few seconds (0 = no limit)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else 2 * rate
        self._buckets: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()  # oldest first

    def allow(self, key: Hashable, now_ms: int) -> bool:
        """Take one token of ``key`` at ``now_ms``; False (nothing taken) when none is left."""
        if self.rate <= 0:
            return True
        refill_ms = self.burst / self.rate * 1000
        while self._buckets:
            first, (_, at) = next(iter(self._buckets.items()))
            if now_ms - at < refill_ms:
                break
            del self._buckets[first]
        tokens, at = self._buckets.pop(key, (self.burst, now_ms))
        tokens = min(self.burst, tokens + max(0, now_ms - at) * self.rate / 1000)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now_ms)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


def _entry(msg: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """A saved shape as ``(page, [shapeId, fromID, seq, className, data])`` when the compact
    form rebuilds it (``expand``), else None (it stays a msglist entry)."""
    if msg.get("name") != SHAPES or not msg.keys() <= _SHAPE_KEYS:
        return None
    parsed = parse_shape_id(msg.get("id", ""))
    data = msg.get("data")
    if parsed is None or parsed[1] != SHAPES or not isinstance(data, dict) \
            or data.keys() != {"eventType", "shapeId", "className", "data"} \
            or data["eventType"] != SAVE_EVENT or data["shapeId"] != parsed[0] \
            or msg.get("associatedMsgID") != page_parent(parsed[2]) \
            or not isinstance(msg.get("fromID"), str) or not isinstance(msg.get("seq"), int):
        return None
    return parsed[2], [parsed[0], msg["fromID"], msg["seq"], data["className"], data["data"]]


def compact(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """Saved messages (``seq`` order) as the join answer's ``msglist`` without the shapes,
    and ``board``: the shapes per page key, in ``seq`` order (docs/board.md)."""
    rest: list[dict[str, Any]] = []
    board: dict[str, list[Any]] = {}
    for m in messages:
        e = _entry(m)
        if e is None:
            rest.append(m)
        else:
            board.setdefault(e[0], []).append(e[1])
    return rest, board


def expand(board: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The saved shape messages a ``board`` stands for, in ``seq`` order (as the SDKs rebuild
    them: ``toID`` ``__all`` and no ``ts``, which the compact form does not carry)."""
    out = []
    for page, entries in board.items():
        for shape_id, from_id, seq, class_name, data in entries:
            out.append({"name": SHAPES, "id": f"{shape_id}###_{SHAPES}_{page}", "toID": "__all",
                        "data": {"eventType": SAVE_EVENT, "shapeId": shape_id,
                                 "className": class_name, "data": data},
                        "fromID": from_id, "save": True,
                        "associatedMsgID": page_parent(page), "seq": seq})
    out.sort(key=lambda m: m["seq"])
    return out
