"""``room.board``: drive and read a room's board (docs/board.md) from a program.

The calls check their arguments the way the server will (``board.check_*``: a clear 103
before anything travels), then send the board's ``pubMsg`` / ``delMsg``; the server decides
(4108, 103, 2602 come back as ``ClientError`` with that code) and the result arrives, for
everyone including this client, as the events the mirror's ``Board`` turns into ``board-*``
events. The reads answer from that ``Board``.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from tkroom.client.board import (
    CLEAR_EVENT,
    DOCUMENT_CHANGE,
    DRAWING_EVENT,
    LASER_EVENT,
    PAGE_COUNT,
    POINTS_CLASSES,
    SAVE_EVENT,
    SHARPS,
    SHOW_PAGE_ID,
    SHOW_PAGE_NAME,
    Action,
    Board,
    check_blank_pages,
    check_page,
    check_points,
    check_shape,
    check_shape_id,
    check_show,
    drawing_msg_id,
    page_key,
    shape_msg_id,
)
from tkroom.client.errors import BAD_PARAMETERS, ClientError
from tkroom.client.mirror import RoomMirror

Request = Callable[[str, dict[str, Any]], Awaitable[Any]]

TO_ALL, TO_OTHERS = "__all", "__allExceptSender"


class RoomBoard:
    """The board of a ``Room`` (``room.board``): what is on it, and the calls that change it."""

    def __init__(self, request: Request, mirror: RoomMirror,
                 require_init: Callable[[], None], require_room: Callable[[], None]) -> None:
        self._request = request
        self._mirror = mirror
        self._require_init = require_init
        self._require_room = require_room

    @property
    def _model(self) -> Board:
        return self._mirror.board

    # ---- reading -----------------------------------------------------------------------------

    @property
    def page(self) -> str:
        """The page key shown (``"<fileid>_<page>"``; ``"0_1"`` without a saved ShowPage)."""
        return self._model.page

    @property
    def show(self) -> dict[str, Any] | None:
        """The saved ``ShowPage`` data (``fileid``, ``currpage``, ``pagenum``, ...), or None."""
        s = self._model.show
        return dict(s) if s is not None else None

    @property
    def blank_pages(self) -> int:
        return self._model.blank_pages

    def shapes(self, page: str | tuple[int, int] | None = None) -> list[dict[str, Any]]:
        """The shapes of ``page`` (default: the page shown) in ``seq`` order: dicts of
        ``shapeId``, ``page``, ``fromID``, ``seq``, ``className``, ``data``."""
        return self._model.shapes(self._page(page))

    def shape(self, shapeId: str, page: str | tuple[int, int] | None = None
              ) -> dict[str, Any] | None:
        return self._model.shape(self._page(page), shapeId)

    def strokes(self, page: str | tuple[int, int] | None = None) -> list[dict[str, Any]]:
        """Strokes others are drawing on ``page`` (their segments so far), not yet saved."""
        key = self._page(page)
        return [dict(s, data=dict(s["data"], points=list(s["data"]["points"])))
                for (p, _), s in self._model.strokes.items() if p == key]

    def lasers(self) -> dict[str, dict[str, Any]]:
        """The visible laser pointers of others, by user id: ``page``, ``x``, ``y``."""
        return {uid: dict(v) for uid, v in self._model.lasers.items()}

    def snapshot(self) -> dict[str, Any]:
        """Page shown, blank page count and every page's shapes: equal on every client."""
        return self._model.snapshot()

    def _page(self, page: str | tuple[int, int] | None) -> str:
        return self._model.page if page is None else check_page(page)

    # ---- pages -------------------------------------------------------------------------------

    async def show_page(self, fileid: int, page: int = 1, pagenum: int | None = None,
                        filename: str | None = None, filetype: str | None = None,
                        **extra: Any) -> None:
        """Show page ``page`` of courseware ``fileid`` (0: the blank pages) to everyone.

        ``pagenum`` defaults to the shown file's (when the same file), the blank page count
        (fileid 0) or ``page``; ``filename`` / ``filetype`` to the shown file's or "". Extra
        keywords are kept in the saved data. Teacher and assistant only (4108 otherwise).
        """
        self._require_init()
        check_page((fileid, page))
        cur = self._model.show
        same = cur is not None and cur.get("fileid") == fileid
        if pagenum is None:
            pagenum = (cur["pagenum"] if same and cur is not None
                       else self._model.blank_pages if fileid == 0 else page)
        base = dict(cur) if same and cur is not None else {}
        data = {**base, **extra, "fileid": fileid, "currpage": page, "pagenum": pagenum,
                "filename": filename if filename is not None else base.get("filename", ""),
                "filetype": filetype if filetype is not None else base.get("filetype", "")}
        check_show(data)
        if fileid == 0 and page > self._model.blank_pages:
            raise ClientError(BAD_PARAMETERS, f"blank page {page} of {self._model.blank_pages}: "
                                              "set_blank_pages first")
        await self._pub(SHOW_PAGE_NAME, SHOW_PAGE_ID, data, save=True)

    async def next_page(self) -> str:
        """Show the next page of the file shown; 103 on its last page. Answers the page key."""
        return await self._turn(+1)

    async def prev_page(self) -> str:
        """Show the previous page; 103 on the first."""
        return await self._turn(-1)

    async def _turn(self, step: int) -> str:
        self._require_init()
        cur = self._model.show or {"fileid": 0, "currpage": 1,
                                   "pagenum": self._model.blank_pages,
                                   "filename": "", "filetype": ""}
        to = int(cur["currpage"]) + step
        last = self._model.blank_pages if cur["fileid"] == 0 else int(cur["pagenum"])
        if not 1 <= to <= last:
            raise ClientError(BAD_PARAMETERS, f"no page {to}: the file has pages 1..{last}")
        data = {**cur, "currpage": to, "pagenum": last}
        await self._pub(SHOW_PAGE_NAME, SHOW_PAGE_ID, data, save=True)
        return page_key(int(cur["fileid"]), to)

    async def set_blank_pages(self, n: int) -> None:
        """How many blank pages (fileid 0) there are: 1..1000. Teacher and assistant only."""
        self._require_init()
        await self._pub(PAGE_COUNT, PAGE_COUNT, {"fileid": 0, "totalPage": check_blank_pages(n)},
                        save=True)

    async def document_changed(self, action: str, fileid: int) -> None:
        """Tell everyone the room's courseware changed (``action`` "add" or "delete" of
        ``fileid``) so that they fetch ``getroomfile`` again. Not saved; teacher and assistant
        only."""
        self._require_init()
        if action not in ("add", "delete"):
            raise ClientError(BAD_PARAMETERS, f"action must be 'add' or 'delete', not {action!r}")
        if not isinstance(fileid, int) or isinstance(fileid, bool) or fileid < 0:
            raise ClientError(BAD_PARAMETERS, f"fileid must be an integer >= 0, not {fileid!r}")
        await self._pub(DOCUMENT_CHANGE, DOCUMENT_CHANGE, {"action": action, "fileid": fileid})

    # ---- shapes ------------------------------------------------------------------------------

    async def draw(self, className: str, data: dict[str, Any],
                   page: str | tuple[int, int] | None = None, shapeId: str | None = None) -> str:
        """Save a shape on ``page`` (default: the page shown) and answer its ``shapeId`` (new
        and random unless given: giving an existing one replaces that shape). Undoable."""
        self._require_init()
        key = self._page(page)
        check_shape(className, data)
        sid = secrets.token_hex(8) if shapeId is None else check_shape_id(shapeId)
        previous = self._model.shape(key, sid)
        shape = {"shapeId": sid, "page": key, "className": className, "data": dict(data)}
        await self._save(shape)
        self._model.record(key, Action("add", shape, previous))
        return sid

    async def draw_segment(self, shapeId: str, points: list[float], seq: int,
                           page: str | tuple[int, int] | None = None, className: str = "Pen",
                           color: str = "#000000", width: float = 0.004) -> None:
        """Stream the points added to a stroke since the last segment (``seq`` 0, 1, 2 ...) to
        the others while it is drawn; ``draw(..., shapeId=shapeId)`` saves the whole stroke."""
        self._require_init()
        key = self._page(page)
        check_shape_id(shapeId)
        check_points(points)
        if className not in POINTS_CLASSES:
            raise ClientError(BAD_PARAMETERS, f"a stroke is a Pen or a Highlighter, not "
                                              f"{className!r}")
        check_shape(className, {"points": [0, 0], "color": color, "width": width})
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ClientError(BAD_PARAMETERS, f"seq must be an integer >= 0, not {seq!r}")
        await self._pub(SHARPS, drawing_msg_id(shapeId, key), {
            "eventType": DRAWING_EVENT, "shapeId": shapeId, "className": className, "seq": seq,
            "data": {"points": list(points), "color": color, "width": width}}, to=TO_OTHERS)

    async def erase(self, shapeId: str, page: str | tuple[int, int] | None = None) -> None:
        """Erase a shape (103 when ``page`` has none of that id). Undoable."""
        self._require_init()
        key = self._page(page)
        shape = self._model.shape(key, check_shape_id(shapeId))
        if shape is None:
            raise ClientError(BAD_PARAMETERS, f"no shape {shapeId!r} on page {key}")
        await self._delete(key, shapeId)
        self._model.record(key, Action("erase", shape))

    async def undo(self, page: str | tuple[int, int] | None = None) -> str | None:
        """Undo this user's last drawing or erasing on ``page``; the shapeId, or None when
        there is nothing to undo. 2508 out of a room."""
        self._require_room()
        key = self._page(page)
        action = self._model.take_undo(key)
        if action is None:
            return None
        try:
            if action.kind == "erase":
                await self._save(action.shape)
            elif action.previous is not None:
                await self._save(action.previous)
            else:
                await self._delete(key, action.shape["shapeId"])
        except BaseException:
            self._model.give_back(key, action, undo=True)
            raise
        self._model.done(key, action, undone=True)
        return str(action.shape["shapeId"])

    async def redo(self, page: str | tuple[int, int] | None = None) -> str | None:
        """Do again what ``undo`` last undid on ``page``; the shapeId, or None."""
        self._require_room()
        key = self._page(page)
        action = self._model.take_redo(key)
        if action is None:
            return None
        try:
            if action.kind == "erase":
                await self._delete(key, action.shape["shapeId"])
            else:
                await self._save(action.shape)
        except BaseException:
            self._model.give_back(key, action, undo=False)
            raise
        self._model.done(key, action, undone=False)
        return str(action.shape["shapeId"])

    async def clear_page(self, page: str | tuple[int, int] | None = None) -> None:
        """Remove every shape of ``page`` at once. Teacher and assistant only."""
        self._require_init()
        key = self._page(page)
        await self._pub(SHARPS, shape_msg_id("clear", key), {"eventType": CLEAR_EVENT})

    async def laser(self, x: float, y: float, visible: bool = True,
                    page: str | tuple[int, int] | None = None) -> None:
        """Point at ``(x, y)`` (fractions of the page) for the others; ``visible=False`` hides
        the pointer. Not saved: a late joiner sees the next one."""
        self._require_init()
        key = self._page(page)
        check_points([x, y])
        if not isinstance(visible, bool):
            raise ClientError(BAD_PARAMETERS, "visible must be true or false")
        await self._pub(SHARPS, shape_msg_id("laser", key),
                        {"eventType": LASER_EVENT, "data": {"x": x, "y": y, "visible": visible}},
                        to=TO_OTHERS)

    # ---- sending -----------------------------------------------------------------------------

    async def _save(self, shape: dict[str, Any]) -> None:
        page, sid = shape["page"], shape["shapeId"]
        await self._pub(SHARPS, shape_msg_id(sid, page), {
            "eventType": SAVE_EVENT, "shapeId": sid, "className": shape["className"],
            "data": shape["data"]}, save=True, associated=f"Page_{page}")

    async def _delete(self, page: str, sid: str) -> None:
        await self._request("delMsg", {"name": SHARPS, "id": shape_msg_id(sid, page),
                                       "toID": TO_ALL, "data": {}})

    async def _pub(self, name: str, mid: str, data: dict[str, Any], *, save: bool = False,
                   to: str = TO_ALL, associated: str | None = None) -> None:
        msg: dict[str, Any] = {"name": name, "id": mid, "toID": to, "data": data, "save": save}
        if associated is not None:
            msg["associatedMsgID"] = associated
        await self._request("pubMsg", msg)
