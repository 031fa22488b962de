"""The board as the SDK sees it: the page shown, each page's shapes, strokes being drawn.

Pure, like ``mirror.py``: the mirror hands it the saved messages of a join answer (``load``)
and every live ``pubMsg`` / ``delMsg`` (``pub`` / ``delete``), and it answers the board events
they cause. The wire format is docs/board.md's; ``expand`` turns the join answer's compact
``board`` field back into the saved messages it stands for, so the mirror's saved messages are
the same whether the server compacted them or not.

It also keeps each page's undo and redo stacks of this user (what it drew and erased), rebuilt
from the saved shapes whose ``fromID`` is this user on every fresh join.

The ``check_*`` functions validate what a program asks to send the way the server will, so a
mistake is a clear 103 before anything travels.
"""

from __future__ import annotations

import copy
import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from tkroom.client import events as E
from tkroom.client.errors import BAD_PARAMETERS, ClientError

AppEvent = tuple[str, dict[str, Any]]

SHARPS = "SharpsChange"
SHOW_PAGE_NAME, SHOW_PAGE_ID = "ShowPage", "DocumentFilePage_ShowPage"
PAGE_COUNT = "WBPageCount"
DOCUMENT_CHANGE = "DocumentChange"
SAVE_EVENT, DRAWING_EVENT = "shapeSaveEvent", "drawingEvent"
CLEAR_EVENT, LASER_EVENT = "clearEvent", "laserMarkEvent"
BLANK_PAGE = "0_1"
MAX_BLANK_PAGES = 1000
MAX_PAGES = 100_000
TEXT_MAX = 4096
# Coordinates are fractions of the page (0..1); a stroke may stray up to a page beyond its
# edges, as the server allows.
COORD_MIN, COORD_MAX = -1.0, 2.0

POINTS_CLASSES = frozenset({"Pen", "Highlighter"})
BOX_CLASSES = frozenset({"Line", "Arrow", "Rectangle", "Ellipse"})
TEXT_CLASS = "Text"
SHAPE_CLASSES = POINTS_CLASSES | BOX_CLASSES | {TEXT_CLASS}
RESERVED_IDS = frozenset({"clear", "laser"})  # the ids of a page's clear and laser messages

# What a misbehaving peer can make this client hold: strokes in progress and their points,
# and each page's undo history.
MAX_STROKES = 64
MAX_STROKE_NUMBERS = 20_000
MAX_UNDO = 500

_SHAPE_ID = re.compile(r"[A-Za-z0-9-]{1,64}\Z")
_PAGE_KEY = re.compile(r"(0|[1-9][0-9]{0,9})_([1-9][0-9]{0,5})\Z")
_MSG_ID = re.compile(r"([A-Za-z0-9-]{1,64})###_(SharpsChange|SharpsDrawing)_([0-9]+_[0-9]+)\Z")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}\Z")


def shape_msg_id(shape_id: str, page: str) -> str:
    """The id of a saved shape (and of the page's clear and laser messages)."""
    return f"{shape_id}###_{SHARPS}_{page}"


def drawing_msg_id(shape_id: str, page: str) -> str:
    return f"{shape_id}###_SharpsDrawing_{page}"


def page_key(fileid: int, page: int) -> str:
    return f"{fileid}_{page}"


def parse_msg_id(mid: Any) -> tuple[str, str, str] | None:
    """``(shapeId, "SharpsChange" | "SharpsDrawing", page key)`` of a board message id."""
    m = _MSG_ID.match(mid) if isinstance(mid, str) else None
    if m is None or _PAGE_KEY.match(m.group(3)) is None:
        return None
    return m.group(1), m.group(2), m.group(3)


def shape_message(page: str, shape_id: str, from_id: str, seq: int, class_name: str,
                  data: Any) -> dict[str, Any]:
    """The saved ``SharpsChange`` message of a shape, as the server keeps it (without ``ts``,
    which the compact join answer does not carry)."""
    return {
        "name": SHARPS, "id": shape_msg_id(shape_id, page), "toID": "__all", "save": True,
        "fromID": from_id, "seq": seq, "associatedMsgID": f"Page_{page}",
        "data": {"eventType": SAVE_EVENT, "shapeId": shape_id, "className": class_name,
                 "data": data},
    }


def expand(board: Any) -> list[dict[str, Any]]:
    """The saved messages a join answer's compact ``board`` field stands for (docs/board.md,
    *The join answer*); malformed pages or entries are left out."""
    if not isinstance(board, Mapping):
        return []
    out: list[dict[str, Any]] = []
    for page, entries in board.items():
        if not isinstance(page, str) or _PAGE_KEY.match(page) is None \
                or not isinstance(entries, list):
            continue
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 5):
                continue
            sid, from_id, seq, cls, data = entry
            if (isinstance(sid, str) and _SHAPE_ID.match(sid) and isinstance(from_id, str)
                    and _is_int(seq) and isinstance(cls, str) and isinstance(data, dict)):
                out.append(shape_message(page, sid, from_id, seq, cls, data))
    return out


# ---- validation of what a program sends ------------------------------------------------------


def _bad(detail: str) -> ClientError:
    return ClientError(BAD_PARAMETERS, detail)


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> TypeGuard[int | float]:
    return (isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(float(v)))


def check_page(page: Any) -> str:
    """A page key ``"<fileid>_<page>"`` (or a ``(fileid, page)`` pair), or 103."""
    if isinstance(page, tuple) and len(page) == 2 and all(_is_int(v) for v in page):
        key = page_key(*page)
    else:
        key = page
    if isinstance(key, str) and _PAGE_KEY.match(key):
        return key
    raise _bad(f"bad page {page!r}: a key '<fileid>_<page>' (fileid 0..9999999999, "
               f"page 1..999999)")


def check_shape_id(sid: Any) -> str:
    if not isinstance(sid, str) or not _SHAPE_ID.match(sid) or sid in RESERVED_IDS:
        raise _bad(f"bad shapeId {sid!r}: 1-64 characters of A-Z a-z 0-9 -, not clear/laser")
    return sid


def _coord(v: Any) -> bool:
    return _is_number(v) and COORD_MIN <= v <= COORD_MAX


def _fraction(data: Mapping[str, Any], key: str) -> None:
    v = data.get(key)
    if not _coord(v):
        raise _bad(f"{key} must be a number (a fraction of the page: 0..1, up to a page "
                   f"beyond its edges), not {v!r}")


def _size(data: Mapping[str, Any], key: str) -> None:
    v = data.get(key)
    if not _is_number(v) or not 0 <= v <= 1:
        raise _bad(f"{key} must be a number in 0..1 (a fraction of the page width), not {v!r}")


def check_color(v: Any) -> None:
    if not isinstance(v, str) or not _COLOR.match(v):
        raise _bad(f"color must be '#rrggbb', not {v!r}")


def check_points(points: Any) -> None:
    """``[x0, y0, x1, y1, ...]``: at least one point, fractions of the page."""
    if not isinstance(points, list) or len(points) % 2 or not points:
        raise _bad("points must be a list [x0, y0, x1, y1, ...] of at least one point")
    for v in points:
        if not _coord(v):
            raise _bad(f"every point coordinate must be a number (0..1 on the page, up to a "
                       f"page beyond its edges), not {v!r}")


def check_shape(class_name: Any, data: Any) -> None:
    """A shape's ``className`` and ``data`` as docs/board.md lists them, or 103."""
    if class_name not in SHAPE_CLASSES:
        raise _bad(f"className must be one of {sorted(SHAPE_CLASSES)}, not {class_name!r}")
    if not isinstance(data, Mapping):
        raise _bad("a shape's data must be a mapping")
    check_color(data.get("color"))
    if class_name in POINTS_CLASSES:
        check_points(data.get("points"))
        _size(data, "width")
    elif class_name in BOX_CLASSES:
        for key in ("x1", "y1", "x2", "y2"):
            _fraction(data, key)
        _size(data, "width")
    else:
        _fraction(data, "x")
        _fraction(data, "y")
        _size(data, "size")
        if not isinstance(data.get("text"), str) or len(data["text"]) > TEXT_MAX:
            raise _bad(f"a Text shape's text must be a string of at most {TEXT_MAX} characters")


def check_show(data: Mapping[str, Any]) -> None:
    """A ``ShowPage`` data: fileid >= 0, 1 <= currpage <= pagenum, filename, filetype."""
    fileid, cur, num = data.get("fileid"), data.get("currpage"), data.get("pagenum")
    if not (_is_int(fileid) and fileid >= 0):
        raise _bad(f"fileid must be an integer >= 0, not {fileid!r}")
    if not (_is_int(cur) and 1 <= cur <= MAX_PAGES):
        raise _bad(f"the page must be an integer in 1..{MAX_PAGES}, not {cur!r}")
    if not (_is_int(num) and cur <= num <= MAX_PAGES):
        raise _bad(f"pagenum must be an integer in {cur}..{MAX_PAGES}, not {num!r}")
    for key in ("filename", "filetype"):
        if not isinstance(data.get(key), str):
            raise _bad(f"{key} must be text")


def check_blank_pages(n: Any) -> int:
    if not (_is_int(n) and 1 <= n <= MAX_BLANK_PAGES):
        raise _bad(f"the blank page count must be an integer in 1..{MAX_BLANK_PAGES}, not {n!r}")
    return int(n)


# ---- the model -------------------------------------------------------------------------------


@dataclass(slots=True)
class Action:
    """One step of this user's history on a page: a shape it drew (``previous``: the version
    it replaced, if any) or erased."""

    kind: str  # "add" | "erase"
    shape: dict[str, Any]
    previous: dict[str, Any] | None = None


@dataclass(slots=True)
class History:
    undo: list[Action] = field(default_factory=list)
    redo: list[Action] = field(default_factory=list)


class Board:
    """The board of one room: ``page`` shown, ``blank_pages``, shapes per page in ``seq``
    order, strokes in progress, laser pointers, and this user's undo/redo per page."""

    def __init__(self) -> None:
        self._reset("")

    def _reset(self, self_id: str) -> None:
        self.self_id = self_id
        self.show: dict[str, Any] | None = None
        self.blank_pages = 1
        self.pages: dict[str, dict[str, dict[str, Any]]] = {}
        self.strokes: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self.lasers: dict[str, dict[str, Any]] = {}
        self.history: dict[str, History] = {}

    @property
    def page(self) -> str:
        """The page shown: the saved ``ShowPage``'s, else the blank page ``0_1``."""
        if self.show is None:
            return BLANK_PAGE
        return page_key(self.show["fileid"], self.show["currpage"])

    # ---- reading (copies) --------------------------------------------------------------------

    def shapes(self, page: str) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self.pages.get(page, {}).values()))

    def shape(self, page: str, shape_id: str) -> dict[str, Any] | None:
        s = self.pages.get(page, {}).get(shape_id)
        return copy.deepcopy(s) if s is not None else None

    def snapshot(self) -> dict[str, Any]:
        """Everything saved on the board, comparable between two clients of the room."""
        return {"page": self.page, "show": copy.deepcopy(self.show),
                "blank_pages": self.blank_pages,
                "shapes": {p: self.shapes(p) for p in sorted(self.pages) if self.pages[p]}}

    # ---- whole-board updates -----------------------------------------------------------------

    def load(self, msgs: Iterable[dict[str, Any]], self_id: str) -> None:
        """Rebuild from the saved messages (in ``seq`` order) of a join answer; this user's
        undo stacks become its saved shapes, its redo stacks empty."""
        self._reset(self_id)
        for msg in msgs:
            self.pub(msg, [])
        for page, shapes in self.pages.items():
            mine = [Action("add", dict(s)) for s in shapes.values() if s["fromID"] == self_id]
            if mine:
                self.history[page] = History(undo=mine[-MAX_UNDO:])

    def forget_user(self, uid: str) -> None:
        """A user left: its strokes in progress and its laser will never be finished."""
        for key in [k for k, s in self.strokes.items() if s["fromID"] == uid]:
            del self.strokes[key]
        self.lasers.pop(uid, None)

    # ---- one live message --------------------------------------------------------------------

    def pub(self, d: Mapping[str, Any], out: list[AppEvent]) -> list[str]:
        """A ``pubMsg``: appends the board events it causes to ``out`` and answers the ids of
        saved messages it removed (a clear), for the mirror to drop."""
        name, mid, saved = d.get("name"), d.get("id"), bool(d.get("save"))
        if name == SHOW_PAGE_NAME and mid == SHOW_PAGE_ID and saved:
            self._show(d, out)
        elif name == PAGE_COUNT and mid == PAGE_COUNT and saved:
            data = d.get("data")
            total = data.get("totalPage") if isinstance(data, dict) else None
            if _is_int(total) and total >= 1:
                self.blank_pages = total
                out.append(self._page_event(d))
        elif name == DOCUMENT_CHANGE and mid == DOCUMENT_CHANGE and isinstance(d.get("data"), dict):
            data = d["data"]
            if data.get("action") in ("add", "delete") and _is_int(data.get("fileid")):
                out.append((E.BOARD_DOCUMENT, {"action": data["action"], "fileid": data["fileid"],
                                               "fromID": d.get("fromID")}))
        elif name == SHARPS and isinstance(d.get("data"), dict):
            return self._sharps(d, out)
        return []

    def delete(self, d: Mapping[str, Any], out: list[AppEvent]) -> None:
        """A ``delMsg``: a shape erased, or the page or page count no longer saved."""
        mid = d.get("id")
        if mid == SHOW_PAGE_ID:
            self.show = None
            out.append(self._page_event(d))
        elif mid == PAGE_COUNT:
            self.blank_pages = 1
            out.append(self._page_event(d))
        parsed = parse_msg_id(mid)
        if parsed is None or parsed[1] != SHARPS:
            return
        sid, _, page = parsed
        shapes = self.pages.get(page, {})
        shape = shapes.pop(sid, None)
        if not shapes:
            self.pages.pop(page, None)
        if shape is not None:
            out.append((E.BOARD_ERASE, {"page": page, "shapeId": sid,
                                        "shape": copy.deepcopy(shape), "fromID": d.get("fromID")}))

    def _show(self, d: Mapping[str, Any], out: list[AppEvent]) -> None:
        data = d.get("data")
        if not isinstance(data, dict):
            return
        try:
            check_show(data)
        except ClientError:
            return
        self.show = copy.deepcopy(data)
        out.append(self._page_event(d))

    def _page_event(self, d: Mapping[str, Any]) -> AppEvent:
        return (E.BOARD_PAGE, {"page": self.page, "show": copy.deepcopy(self.show),
                               "blank_pages": self.blank_pages, "fromID": d.get("fromID")})

    def _sharps(self, d: Mapping[str, Any], out: list[AppEvent]) -> list[str]:
        parsed = parse_msg_id(d.get("id"))
        if parsed is None:
            return []
        sid, kind, page = parsed
        data: dict[str, Any] = d["data"]
        event, from_id = data.get("eventType"), d.get("fromID")
        if event == SAVE_EVENT and kind == SHARPS and d.get("save"):
            self._saved_shape(page, sid, d, out)
        elif event == DRAWING_EVENT and kind == "SharpsDrawing":
            self._segment(page, sid, d, out)
        elif event == CLEAR_EVENT and kind == SHARPS:
            return self._clear(page, from_id, out)
        elif event == LASER_EVENT and kind == SHARPS:
            self._laser(page, d, out)
        return []

    def _saved_shape(self, page: str, sid: str, d: Mapping[str, Any],
                     out: list[AppEvent]) -> None:
        data = d["data"]
        seq = d.get("seq")
        shape = {"shapeId": sid, "page": page, "fromID": d.get("fromID"),
                 "seq": seq if _is_int(seq) else 0, "className": data.get("className"),
                 "data": copy.deepcopy(data.get("data"))}
        shapes = self.pages.setdefault(page, {})
        replaced = shapes.pop(sid, None) is not None
        shapes[sid] = shape
        had_stroke = self.strokes.pop((page, sid), None) is not None
        out.append((E.BOARD_SHAPE, {"page": page, "shapeId": sid, "shape": copy.deepcopy(shape),
                                    "replaced": replaced, "ended_stroke": had_stroke}))

    def _segment(self, page: str, sid: str, d: Mapping[str, Any], out: list[AppEvent]) -> None:
        data = d["data"]
        seq, inner = data.get("seq", 0), data.get("data")
        points = inner.get("points") if isinstance(inner, dict) else None
        if not _is_int(seq) or seq < 0 or not isinstance(points, list):
            return
        try:
            check_points(points)
        except ClientError:
            return
        key = (page, sid)
        stroke = self.strokes.get(key)
        if stroke is not None and seq <= stroke["seq"]:
            return  # already have it
        if stroke is None:
            while len(self.strokes) >= MAX_STROKES:
                self.strokes.popitem(last=False)
            stroke = {"shapeId": sid, "page": page, "fromID": d.get("fromID"), "seq": seq,
                      "className": data.get("className", "Pen"), "data": {"points": []}}
            self.strokes[key] = stroke
        stroke["seq"] = seq
        style = {k: v for k, v in inner.items() if k != "points"} if isinstance(inner, dict) \
            else {}
        stroke["data"].update(style)
        room = MAX_STROKE_NUMBERS - len(stroke["data"]["points"])
        stroke["data"]["points"].extend(points[:max(0, room) // 2 * 2])
        out.append((E.BOARD_SEGMENT, {"page": page, "shapeId": sid, "seq": seq,
                                      "points": list(points), "fromID": d.get("fromID"),
                                      "stroke": copy.deepcopy(stroke)}))

    def _clear(self, page: str, from_id: Any, out: list[AppEvent]) -> list[str]:
        removed = self.pages.pop(page, {})
        for key in [k for k in self.strokes if k[0] == page]:
            del self.strokes[key]
        self.history.pop(page, None)
        out.append((E.BOARD_CLEAR, {"page": page, "shapes": list(removed.values()),
                                    "fromID": from_id}))
        return [shape_msg_id(sid, page) for sid in removed]

    def _laser(self, page: str, d: Mapping[str, Any], out: list[AppEvent]) -> None:
        data = d["data"]
        spot = data.get("data") if isinstance(data.get("data"), dict) else data
        x, y, visible = spot.get("x"), spot.get("y"), spot.get("visible", True)
        if not isinstance(visible, bool) or (visible and not (_coord(x) and _coord(y))):
            return  # hiding needs no position; showing does
        from_id = d.get("fromID")
        laser = {"page": page, "x": x, "y": y, "visible": visible, "fromID": from_id}
        if isinstance(from_id, str):
            if visible:
                self.lasers[from_id] = laser
            else:
                self.lasers.pop(from_id, None)
        out.append((E.BOARD_LASER, dict(laser)))

    # ---- this user's history -----------------------------------------------------------------

    def record(self, page: str, action: Action) -> None:
        """This user drew or erased: a new step to undo, and nothing left to redo."""
        h = self.history.setdefault(page, History())
        h.undo.append(action)
        del h.undo[:-MAX_UNDO]
        h.redo.clear()

    def take_undo(self, page: str) -> Action | None:
        """The last step of ``page`` that can still be undone (steps someone else already
        reverted, e.g. a shape of ours the teacher erased, are dropped)."""
        h = self.history.get(page)
        while h is not None and h.undo:
            a = h.undo.pop()
            present = a.shape["shapeId"] in self.pages.get(page, {})
            if present == (a.kind == "add"):
                return a
        return None

    def take_redo(self, page: str) -> Action | None:
        h = self.history.get(page)
        while h is not None and h.redo:
            a = h.redo.pop()
            present = a.shape["shapeId"] in self.pages.get(page, {})
            if present == (a.kind == "erase" or a.previous is not None):
                return a
        return None

    def done(self, page: str, action: Action, *, undone: bool) -> None:
        """``action`` was undone (it can be redone) or redone (it can be undone again)."""
        h = self.history.setdefault(page, History())
        (h.redo if undone else h.undo).append(action)
        del h.redo[:-MAX_UNDO]
        del h.undo[:-MAX_UNDO]

    def give_back(self, page: str, action: Action, *, undo: bool) -> None:
        """Undoing or redoing ``action`` failed: it stays where it was."""
        h = self.history.setdefault(page, History())
        (h.undo if undo else h.redo).append(action)
