"""The board in Debian's Chromium: a teacher draws with the mouse, students see it (pixels),
only students given ``candraw`` may draw, pages turn for everyone, and a late joiner or a
reload sees the same board. A real node (no media: the board needs none) on 127.0.0.1.

Screenshots go to test-output/browser/<test name>/ (printed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from browser.classnode import PASSWORDS, ClassNode
from browser.conftest import OUTPUT, need_node_modules
from browser.test_classroom_e2e import Person, wait_until
from browser.test_page import run_axe
from tkroom.courseware.convert import pdf_file

pytestmark = [pytest.mark.browser]

RED = (0xE5, 0x39, 0x35)

# The ink of a canvas on a coarse grid (cells of the page, whatever the canvas's pixel size),
# so boards on screens of different sizes can be compared.
INK_GRID_JS = """([id, cols]) => {
  const c = document.getElementById(id);
  const rows = Math.max(1, Math.round(cols * c.height / c.width));
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = new Array(cols * rows).fill(0);
  for (let y = 0; y < c.height; y++) {
    const row = Math.min(rows - 1, Math.floor(y * rows / c.height)) * cols;
    for (let x = 0; x < c.width; x++) {
      if (px[(y * c.width + x) * 4 + 3] > 10) out[row + Math.min(cols - 1, Math.floor(x * cols / c.width))] = 1;
    }
  }
  return out;
}"""

# The most opaque pixel within a few pixels of a point (lines are antialiased at their edges).
PIXEL_JS = """([id, x, y]) => {
  const c = document.getElementById(id);
  const r = 4;
  const px = c.getContext('2d').getImageData(Math.round(x * c.width) - r, Math.round(y * c.height) - r, 2 * r + 1, 2 * r + 1).data;
  let best = [0, 0, 0, 0];
  for (let i = 0; i < px.length; i += 4) if (px[i + 3] > best[3]) best = [px[i], px[i + 1], px[i + 2], px[i + 3]];
  return best;
}"""


def ink(p: Person, canvas: str = "board-canvas", cols: int = 40) -> list[int]:
    return p.eval(INK_GRID_JS, [canvas, cols])


def overlap(a: list[int], b: list[int]) -> float:
    """Intersection over union of two ink grids (1.0 = the same cells are inked)."""
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    either = sum(1 for x, y in zip(a, b, strict=True) if x or y)
    return both / either if either else 1.0


def near_red(rgba: list[int]) -> bool:
    return rgba[3] > 200 and all(abs(c - r) < 40 for c, r in zip(rgba[:3], RED, strict=True))


def shapes(p: Person) -> int:
    return p.eval("tkroomPage.room.board.getShapes().length")


def page_key(p: Person) -> str:
    return p.page.get_attribute("#board-page", "data-page") or ""


def board_point(p: Person, x: float, y: float) -> tuple[float, float]:
    """Where a point of the board (fractions) is on the screen (the board scrolled into view)."""
    p.page.locator("#board-live").scroll_into_view_if_needed()
    box = p.page.locator("#board-live").bounding_box()
    assert box is not None
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def press(p: Person, x: float, y: float) -> None:
    p.page.mouse.move(*board_point(p, x, y))
    p.page.mouse.down()


def drag_to(p: Person, x: float, y: float, steps: int = 12) -> None:
    p.page.mouse.move(*board_point(p, x, y), steps=steps)


def release(p: Person) -> None:
    p.page.mouse.up()


def finger_stroke(p: Person, points: list[tuple[float, float]]) -> None:
    """A stroke drawn with one finger (touch events through the DevTools protocol)."""
    cdp = p.context.new_cdp_session(p.page)
    xy = [board_point(p, x, y) for x, y in points]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": xy[0][0], "y": xy[0][1]}]})
    for (x0, y0), (x1, y1) in zip(xy, xy[1:], strict=False):
        for k in range(1, 6):
            x, y = x0 + (x1 - x0) * k / 5, y0 + (y1 - y0) * k / 5
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def pick_tool(p: Person, tool: str) -> None:
    p.page.click(f'#board-tools [data-tool="{tool}"]')


@pytest.fixture(scope="module")
def board_node(tmp_path_factory) -> Iterator[ClassNode]:
    with ClassNode(None, None, tmp_path_factory.mktemp("boardnode")) as node:
        yield node


@pytest.fixture(scope="module")
def chromium(playwright_instance, chromium_path):
    from browser.conftest import launch

    b = launch(playwright_instance, chromium_path)
    yield b
    b.close()


def test_the_board_in_class(board_node: ClassNode, chromium, request):
    node = board_node
    serial = node.create_room("Geometry")
    url = f"{node.url}/room/{serial}"
    out = OUTPUT / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {out}")

    # bypass_csp: the accessibility check injects its script (Bob and Carl keep the CSP).
    teacher = Person(chromium, url, bypass_csp=True)
    ann = Person(chromium, url, locale="zh-CN", bypass_csp=True)
    # Bob is on a phone: the board has another pixel size there, the same drawing.
    bob = Person(chromium, url, has_touch=True)
    bob.page.set_viewport_size({"width": 390, "height": 844})
    people = [teacher, ann, bob]
    try:
        teacher.join("Ms Euclid", PASSWORDS["chairmanpwd"])
        a_id = ann.join("Ann", PASSWORDS["confuserpwd"])
        b_id = bob.join("Bob", PASSWORDS["confuserpwd"])
        assert page_key(teacher) == "0_1"

        # The teacher draws with the mouse (red pen, the default); while her button is still
        # down the students already see the stroke (segments), not only when it ends.
        press(teacher, 0.2, 0.3)
        drag_to(teacher, 0.5, 0.35)
        drag_to(teacher, 0.6, 0.6)
        for s in (ann, bob):
            wait_until(lambda s=s: sum(ink(s, "board-live")) >= 3, 15, "the stroke while it is drawn")
        assert shapes(ann) == 0  # not saved yet: it is the live layer that shows it
        drag_to(teacher, 0.8, 0.65)
        release(teacher)
        for s in (ann, bob):
            wait_until(lambda s=s: shapes(s) == 1, 15, "the saved stroke")
            wait_until(lambda s=s: sum(ink(s, "board-live")) == 0, 15, "the live layer emptied")
        wait_until(lambda: shapes(teacher) == 1, 15, "the teacher's own stroke saved")
        mine = ink(teacher)
        assert sum(mine) >= 10
        for s in (ann, bob):
            wait_until(lambda s=s: overlap(ink(s), mine) > 0.8, 15, "the same stroke on the student's canvas")
            assert near_red(s.eval(PIXEL_JS, ["board-canvas", 0.5, 0.35]))
        assert not near_red(ann.eval(PIXEL_JS, ["board-canvas", 0.3, 0.8]))

        # Ann may not draw: the page says so, her pen does nothing and the server refuses.
        expect(ann.page.locator("#board-status")).to_have_attribute("data-candraw", "0")
        assert ann.page.is_hidden("#board-tools")
        press(ann, 0.3, 0.7)
        drag_to(ann, 0.5, 0.8)
        release(ann)
        ann.page.wait_for_selector('.notice[data-code="4108"]', timeout=10000)
        assert "老师还没有允许" in ann.page.inner_text('.notice[data-code="4108"]')
        code = ann.eval("tkroomPage.room.board.draw('Pen', {points: [0.1, 0.1, 0.2, 0.2], color: '#000000', width: 0.004})"
                        ".then(() => 0, (e) => e.code)")
        assert code == 4108
        assert shapes(teacher) == 1

        # The teacher lets Ann draw; she is told, and draws a blue rectangle everyone sees.
        teacher.click("draw-on", a_id)
        expect(ann.page.locator("#board-status")).to_have_attribute("data-candraw", "1", timeout=15000)
        expect(ann.page.locator("#board-status")).to_have_text("你可以在白板上书写。")
        pick_tool(ann, "rectangle")
        ann.page.click('#board-tools [data-color="#1e88e5"]')
        press(ann, 0.1, 0.7)
        drag_to(ann, 0.3, 0.9)
        release(ann)
        for s in (teacher, bob):
            wait_until(lambda s=s: shapes(s) == 2, 15, "Ann's rectangle")
        assert teacher.eval("tkroomPage.room.board.getShapes()[1].className") == "Rectangle"
        # Her undo takes it back everywhere; redo brings it back.
        ann.page.click('#board-tools [data-action="board-undo"]')
        wait_until(lambda: shapes(teacher) == 1, 15, "Ann's undo")
        ann.page.click('#board-tools [data-action="board-redo"]')
        wait_until(lambda: shapes(teacher) == 2, 15, "Ann's redo")
        wait_until(lambda: overlap(ink(bob), ink(teacher)) > 0.8, 15, "Bob's board equals the teacher's")
        teacher.page.screenshot(path=str(out / "teacher.png"), full_page=True)
        ann.page.screenshot(path=str(out / "student-zh.png"), full_page=True)
        bob.page.screenshot(path=str(out / "student-phone.png"), full_page=True)
        assert bob.eval("document.documentElement.scrollWidth <= window.innerWidth")

        # Bob may draw too, and draws with his finger on his phone (touch, not a mouse).
        teacher.click("draw-on", b_id)
        expect(bob.page.locator("#board-status")).to_have_attribute("data-candraw", "1", timeout=15000)
        bob.eval("() => { window.__kinds = []; document.addEventListener('pointerdown',"
                 " (e) => window.__kinds.push(e.pointerType), true); }")
        finger_stroke(bob, [(0.6, 0.1), (0.7, 0.15), (0.8, 0.1), (0.9, 0.2)])
        assert bob.eval("window.__kinds") == ["touch"]
        for s in (teacher, ann):
            wait_until(lambda s=s: shapes(s) == 3, 15, "Bob's finger stroke")
        assert teacher.eval("tkroomPage.room.board.getShapes()[2].fromID") == b_id
        wait_until(lambda: overlap(ink(bob), ink(teacher)) > 0.8, 15, "Bob's stroke on the teacher's board")

        # A new blank page: every student follows; the teacher writes there; back to page 1.
        teacher.page.click('#board-nav [data-action="page-add"]')
        for s in people:
            wait_until(lambda s=s: page_key(s) == "0_2", 15, "page 2")
            wait_until(lambda s=s: sum(ink(s)) == 0, 15, "an empty page 2")
        expect(bob.page.locator("#board-pageno")).to_have_text("Page 2 / 2")
        pick_tool(teacher, "text")
        teacher.page.mouse.click(*board_point(teacher, 0.2, 0.2))
        teacher.page.fill("#board-text", "a² + b² = c²")
        teacher.page.keyboard.press("Enter")
        wait_until(lambda: shapes(bob) == 1 and sum(ink(bob)) > 0, 15, "the text on page 2")
        teacher.page.click('#board-nav [data-action="page-prev"]')
        for s in people:
            wait_until(lambda s=s: page_key(s) == "0_1" and shapes(s) == 3, 15, "back on page 1")

        # A late joiner gets the same board; a reload too.
        carl = Person(chromium, url)
        people.append(carl)
        carl.join("Carl", PASSWORDS["confuserpwd"])
        wait_until(lambda: page_key(carl) == "0_1" and shapes(carl) == 3, 15, "Carl's board")
        wait_until(lambda: overlap(ink(carl), ink(teacher)) > 0.8, 15, "Carl's pixels")
        bob.page.reload()
        bob.page.wait_for_selector("#class-view:not([hidden])", timeout=30000)
        wait_until(lambda: page_key(bob) == "0_1" and shapes(bob) == 3, 15, "Bob's board after his reload")
        wait_until(lambda: overlap(ink(bob), ink(teacher)) > 0.8, 15, "Bob's pixels after his reload")
        saved = bob.eval("tkroomPage.room.getSavedMessages().filter((m) => m.name === 'SharpsChange').length")
        assert saved == 4  # three on page 1 and the text on page 2, as saved messages

        # The teacher erases Ann's rectangle (the teacher may erase anyone's shape).
        pick_tool(teacher, "eraser")
        press(teacher, 0.1, 0.8)
        release(teacher)
        for s in people:
            wait_until(lambda s=s: shapes(s) == 2, 15, "the rectangle erased")
        assert teacher.eval("tkroomPage.room.board.getShapes()[0].className") == "Pen"

        # The teacher clears the page: gone everywhere, in one step.
        teacher.page.click('#board-tools [data-action="board-clear"]')
        for s in people:
            wait_until(lambda s=s: shapes(s) == 0 and sum(ink(s)) == 0, 15, "the cleared page")

        need_node_modules()
        assert run_axe(teacher.page) == []
        assert run_axe(ann.page) == []
        for p in people:
            assert p.errors == [], p.errors
    finally:
        for p in people:
            p.close()


def boxes_pdf(pages: int = 3) -> bytes:
    """A PDF whose page n (400 x 300 pt) has one blue box, further right on each page."""
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [{}] /Count {} >>".format(
                " ".join(f"{3 + 2 * i} 0 R" for i in range(pages)), pages)]
    for i in range(pages):
        draw = f"0 0 1 rg {40 + 100 * i} 100 80 80 re f".encode()
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 300] /Contents {4 + 2 * i} 0 R >>")
        objs.append(f"<< /Length {len(draw)} >>\nstream\n{draw.decode()}\nendstream")
    return pdf_file([o.encode() for o in objs])


# The colour of the page image at a point (fractions), read through a canvas.
IMAGE_PIXEL_JS = """([x, y]) => {
  const img = document.getElementById('board-image');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  return [...g.getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data];
}"""


def blue_at(p: Person, x: float, y: float) -> bool:
    r, g, b, _ = p.eval(IMAGE_PIXEL_JS, [x, y])
    return b > 200 and r < 80 and g < 80


def image_ready(p: Person, src: str) -> bool:
    return bool(p.eval("(s) => { const i = document.getElementById('board-image');"
                       " return !i.hidden && i.src === s && i.complete && i.naturalWidth > 0; }", src))


def test_courseware_on_the_board(board_node: ClassNode, chromium, request):
    """The teacher uploads a PDF from the page, sees it convert, shows it; the students follow
    her pages (buttons, thumbnails) and see her drawing on a page of it."""
    node = board_node
    serial = node.create_room("Optics")
    url = f"{node.url}/room/{serial}"
    out = OUTPUT / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {out}")
    teacher = Person(chromium, url)
    teacher.page.set_viewport_size({"width": 1280, "height": 1100})  # the whole board in view
    sue = Person(chromium, url, locale="zh-CN")
    people = [teacher, sue]
    try:
        teacher.join("Mr Newton", PASSWORDS["chairmanpwd"])
        sue.join("Sue", PASSWORDS["confuserpwd"])
        assert sue.page.is_hidden("#upload-form")

        # Every conversion state the teacher's list shows, as it shows it.
        teacher.eval("""() => { window.__states = [];
          new MutationObserver(() => document.querySelectorAll('#files .file-state').forEach(
            (e) => window.__states.push(e.textContent))).observe(document.getElementById('files'),
            { childList: true, subtree: true, characterData: true }); }""")
        teacher.page.set_input_files("#upload-input", files=[
            {"name": "prisms.pdf", "mimeType": "application/pdf", "buffer": boxes_pdf(3)}])
        item = teacher.page.locator("#files li").first
        expect(item).to_have_attribute("data-status", "1", timeout=120000)
        expect(item).to_contain_text("3 pages")
        states = teacher.eval("window.__states")
        assert any(x.startswith(("Waiting to convert", "Converting")) for x in states), states
        fileid = int(item.get_attribute("data-fileid") or 0)
        # Sue's list follows (DocumentChange): the file, converted.
        expect(sue.page.locator(f'#files li[data-fileid="{fileid}"]')).to_have_attribute("data-status", "1",
                                                                                         timeout=30000)
        f = teacher.eval("(id) => tkroomPage.courseware.files.find((f) => f.fileid === id)", fileid)
        assert len(f["pageimages"]) == 3 and len(f["thumbnails"]) == 3

        teacher.page.click(f'#files li[data-fileid="{fileid}"] [data-action="file-show"]')
        wait_until(lambda: image_ready(sue, f["pageimages"][0]), 30, "page 1 on Sue's board")
        expect(sue.page.locator("#board-pageno")).to_have_text("第 1 / 3 页")
        assert blue_at(sue, 0.2, 0.47) and not blue_at(sue, 0.45, 0.47)

        teacher.page.click('#board-nav [data-action="page-next"]')
        wait_until(lambda: image_ready(sue, f["pageimages"][1]), 30, "page 2 on Sue's board")
        assert blue_at(sue, 0.45, 0.47) and not blue_at(sue, 0.2, 0.47)
        assert page_key(sue) == f"{fileid}_2"

        # Thumbnails: the teacher jumps to page 3.
        expect(teacher.page.locator("#board-thumbs .thumb")).to_have_count(3)
        teacher.page.click('#board-thumbs .thumb[data-page="3"]')
        wait_until(lambda: image_ready(sue, f["pageimages"][2]), 30, "page 3 on Sue's board")
        assert blue_at(sue, 0.7, 0.47)

        # The teacher draws an arrow on page 3; Sue sees it over the page.
        pick_tool(teacher, "arrow")
        press(teacher, 0.2, 0.8)
        drag_to(teacher, 0.65, 0.5)
        release(teacher)
        wait_until(lambda: shapes(sue) == 1, 15, "the arrow on Sue's board")
        wait_until(lambda: overlap(ink(sue), ink(teacher)) > 0.8, 15, "the same arrow")

        # A highlighter stroke and a label; then the laser pointer, which Sue sees move.
        pick_tool(teacher, "highlighter")
        press(teacher, 0.1, 0.2)
        drag_to(teacher, 0.5, 0.2)
        release(teacher)
        pick_tool(teacher, "text")
        teacher.page.mouse.click(*board_point(teacher, 0.1, 0.85))
        teacher.page.fill("#board-text", "n = 1.5 (glass)")
        teacher.page.keyboard.press("Enter")
        wait_until(lambda: shapes(sue) == 3, 15, "the highlighter and the label on Sue's board")
        highlight = sue.eval(PIXEL_JS, ["board-canvas", 0.3, 0.2])
        assert near_red(highlight[:3] + [255]) and 60 < highlight[3] < 160  # drawn at 40 % opacity
        pick_tool(teacher, "laser")
        teacher.page.mouse.move(*board_point(teacher, 0.8, 0.3))
        teacher.page.mouse.move(*board_point(teacher, 0.82, 0.32), steps=3)
        wait_until(lambda: near_red(sue.eval(PIXEL_JS, ["board-live", 0.82, 0.32])[:3] + [255]), 15,
                   "the laser dot on Sue's board")
        teacher.page.screenshot(path=str(out / "teacher-courseware.png"), full_page=True)

        # Sue zooms in on her own screen only, then fits the page again.
        width = sue.eval("document.getElementById('board-page').clientWidth")
        sue.page.click('#board-nav [data-action="zoom-in"]')
        wait_until(lambda: sue.eval("document.getElementById('board-page').clientWidth") > width, 10, "zoomed")
        assert sue.eval("document.documentElement.scrollWidth <= window.innerWidth")
        sue.page.click('#board-nav [data-action="zoom-fit"]')
        wait_until(lambda: sue.eval("document.getElementById('board-page').clientWidth") == width, 10, "fitted")
        wait_until(lambda: overlap(ink(sue), ink(teacher)) > 0.8, 15, "the arrow after zooming")

        sue.page.screenshot(path=str(out / "student-courseware-zh.png"), full_page=True)

        # A file that is not really a PDF: the list says the conversion failed, and why.
        teacher.page.set_input_files("#upload-input", files=[
            {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 not really"}])
        broken = teacher.page.locator("#files li", has_text="broken.pdf")
        expect(broken).to_have_attribute("data-status", "2", timeout=120000)
        expect(broken.locator(".file-state")).to_contain_text("Conversion failed: ")
        assert broken.locator('[data-action="file-show"]').is_disabled()
        for p in people:
            assert p.errors == [], p.errors
    finally:
        for p in people:
            p.close()


SDK_MODEL_JS = """async () => {
  const { default: TK } = await import('/sdk/tkroom.js');
  const room = TK.Room();
  const self = { id: 'me', properties: { role: 2, nickname: 'Me' } };
  const pen = (sid, from, seq, page = '0_1') => [sid, from, seq, 'Pen',
    { points: [0.1, 0.1, 0.2, 0.2], color: '#000000', width: 0.004 }];
  // The join answer: a compact board with two pages, and one shape as an ordinary entry.
  room._applyJoinAck({
    self, userlist: [],
    msglist: [
      { name: 'ShowPage', id: 'DocumentFilePage_ShowPage', seq: 1, save: true,
        data: { fileid: 7, currpage: 2, pagenum: 5, filename: 'a.pdf', filetype: 'pdf' } },
      { name: 'SharpsChange', id: 'old1###_SharpsChange_7_2', seq: 4, fromID: 't', save: true,
        data: { eventType: 'shapeSaveEvent', shapeId: 'old1', className: 'Line',
                data: { x1: 0, y1: 0, x2: 1, y2: 1, color: '#000000', width: 0.004 } } },
    ],
    board: { '7_2': [pen('b', 't', 5), pen('a', 'me', 3)], '0_1': [pen('c', 'me', 2)] },
  });
  const out = {};
  out.page = room.board.currentPage();
  out.order = room.board.getShapes().map((s) => s.shapeId);
  out.saved = room.getSavedMessages().map((m) => m.id);
  out.rebuilt = room.getSavedMessage('b###_SharpsChange_7_2');
  out.canUndo = room.board.canUndo();
  const h = room._handlers;
  // A segment of someone's stroke, then the saved shape that ends it.
  h.pubMsg.call(room, { name: 'SharpsChange', id: 'd###_SharpsDrawing_7_2', fromID: 't', save: false,
    data: { eventType: 'drawingEvent', shapeId: 'd', className: 'Pen', seq: 0,
            data: { points: [0.5, 0.5, 0.6, 0.6], color: '#e53935', width: 0.004 } } });
  out.drawing = room.board.getDrawing().map((s) => [s.shapeId, s.data.points.length]);
  h.pubMsg.call(room, { name: 'SharpsChange', id: 'd###_SharpsChange_7_2', fromID: 't', save: true, seq: 9,
    data: { eventType: 'shapeSaveEvent', shapeId: 'd', className: 'Pen',
            data: { points: [0.5, 0.5, 0.6, 0.6], color: '#e53935', width: 0.004 } } });
  out.afterSave = [room.board.getShapes().length, room.board.getDrawing().length];
  h.delMsg.call(room, { name: 'SharpsChange', id: 'old1###_SharpsChange_7_2', fromID: 't' });
  out.afterDel = room.board.getShapes().map((s) => s.shapeId);
  // A clear of page 7_2: its shapes leave the model and the saved messages; 0_1 keeps its own.
  h.pubMsg.call(room, { name: 'SharpsChange', id: 'clear###_SharpsChange_7_2', fromID: 't', save: false,
    data: { eventType: 'clearEvent' } });
  out.afterClear = [room.board.getShapes().length, room.board.getShapes('0_1').length,
    room.getSavedMessages().filter((m) => m.name === 'SharpsChange').map((m) => m.id)];
  return out;
}"""


def test_sdk_board_model(browser, web_server):
    """tkroom.js's board model from a join answer (compact board and ordinary entries) and
    live events: seq order, rebuilt saved messages, segments, erase, clear."""
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{web_server.url}/room/5551234")
        out = page.evaluate(SDK_MODEL_JS)
    finally:
        context.close()
    assert out["page"]["key"] == "7_2" and out["page"]["pagenum"] == 5
    assert out["order"] == ["a", "old1", "b"]  # seq 3, 4, 5
    assert out["saved"] == ["DocumentFilePage_ShowPage", "c###_SharpsChange_0_1", "a###_SharpsChange_7_2",
                            "old1###_SharpsChange_7_2", "b###_SharpsChange_7_2"]
    assert out["rebuilt"] == {
        "name": "SharpsChange", "id": "b###_SharpsChange_7_2", "toID": "__all", "save": True, "fromID": "t",
        "seq": 5, "associatedMsgID": "Page_7_2",
        "data": {"eventType": "shapeSaveEvent", "shapeId": "b", "className": "Pen",
                 "data": {"points": [0.1, 0.1, 0.2, 0.2], "color": "#000000", "width": 0.004}}}
    assert out["canUndo"] is True  # "a" is the user's own, from before a reload
    assert out["drawing"] == [["d", 4]]
    assert out["afterSave"] == [4, 0]
    assert out["afterDel"] == ["a", "b", "d"]
    assert out["afterClear"] == [0, 1, ["c###_SharpsChange_0_1"]]


LATE_JOINER_PROBE = """
import json
from bench.whiteboard import late_joiner
print(json.dumps(late_joiner.run(quick=True, shapes_on_page=50)))
"""


def test_late_joiner_bench_keeps_the_module_contract(chromium_path):
    """bench.whiteboard.late_joiner still runs (a small page; its speed is the benchmark's)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    done = subprocess.run([sys.executable, "-c", LATE_JOINER_PROBE], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["unit"] for r in rows] == ["ms", "ms"]
    first = rows[0]
    assert "50 shapes" in first["measure"] and first["floor"] == "< 1000 ms" and isinstance(first["ok"], bool)
    assert all(r["value"] > 0 and r["baseline"] > 0 for r in rows)
