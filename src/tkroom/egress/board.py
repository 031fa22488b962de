"""The board as pictures: a page image with its shapes, and the still behind a frame's videos.

Drawn with Pillow's ``ImageDraw`` (a maintained library; nothing rasterised by hand). Shapes are
in page fractions (docs/board.md), so they are scaled to wherever the page lands in the frame.
The recording compositor and the live stream both call ``BoardRenderer.still``: a still is
rendered only when ``Scene.board_key`` changes, never per frame.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from tkroom.rooms.scene import Rect, Scene, Shape, fit, place

BACKGROUND = (24, 26, 30)
SLOT = (44, 47, 54)
BLANK = (255, 255, 255)
NAME = (200, 204, 212)
HIGHLIGHT_ALPHA = 102  # 40 %
FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BLANK_ASPECT = (16, 9)

PageSource = Callable[[str], Path | None]


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font with CJK glyphs when the system has one (``fonts-wqy-microhei``)."""
    for f in FONT_FILES:
        if Path(f).exists():
            return ImageFont.truetype(f, size)
    return ImageFont.load_default(size)


def _color(v: Any, default: tuple[int, int, int] = (0, 0, 0)) -> tuple[int, int, int]:
    if isinstance(v, str) and len(v) == 7 and v.startswith("#"):
        try:
            return (int(v[1:3], 16), int(v[3:5], 16), int(v[5:7], 16))
        except ValueError:
            return default
    return default


def _num(v: Any, default: float = 0.0) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def draw_shapes(img: Image.Image, shapes: tuple[Shape, ...] | list[Shape]) -> None:
    """Draw ``shapes`` (page fractions) onto ``img``, which is the page."""
    w, h = img.size
    d = ImageDraw.Draw(img, "RGBA")

    def px(x: Any, y: Any) -> tuple[float, float]:
        return (_num(x) * w, _num(y) * h)

    for s in shapes:
        data = s.data
        color = _color(data.get("color"))
        width = max(1, round(_num(data.get("width"), 0.004) * w))
        if s.cls in ("Pen", "Highlighter"):
            pts = data.get("points")
            if not isinstance(pts, list) or len(pts) < 2:
                continue
            xy = [px(pts[i], pts[i + 1]) for i in range(0, len(pts) - 1, 2)]
            fill = (*color, HIGHLIGHT_ALPHA if s.cls == "Highlighter" else 255)
            if len(xy) == 1:
                x, y = xy[0]
                r = width / 2
                d.ellipse((x - r, y - r, x + r, y + r), fill=fill)
            else:
                d.line(xy, fill=fill, width=width, joint="curve")
        elif s.cls in ("Line", "Arrow", "Rectangle", "Ellipse"):
            x1, y1 = px(data.get("x1"), data.get("y1"))
            x2, y2 = px(data.get("x2"), data.get("y2"))
            if s.cls == "Line":
                d.line((x1, y1, x2, y2), fill=color, width=width)
            elif s.cls == "Arrow":
                d.line((x1, y1, x2, y2), fill=color, width=width)
                _arrow_head(d, (x1, y1), (x2, y2), color, width)
            else:
                box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
                if s.cls == "Rectangle":
                    d.rectangle(box, outline=color, width=width)
                else:
                    d.ellipse(box, outline=color, width=width)
        elif s.cls == "Text":
            text = data.get("text")
            if isinstance(text, str) and text:
                size = max(6, round(_num(data.get("size"), 0.03) * w))
                d.text(px(data.get("x"), data.get("y")), text, fill=color, font=font(size))


def _arrow_head(d: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float],
                color: tuple[int, int, int], width: int) -> None:
    import math

    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    size = max(8.0, width * 4.0)
    left = (b[0] - size * math.cos(ang - 0.45), b[1] - size * math.sin(ang - 0.45))
    right = (b[0] - size * math.cos(ang + 0.45), b[1] - size * math.sin(ang + 0.45))
    d.polygon([b, left, right], fill=color)


class BoardRenderer:
    """Stills of a class at ``width``×``height``. ``pages`` maps a page key (``12_3``) to its
    image on disk (None: a blank page, or a page not found)."""

    def __init__(self, width: int, height: int, pages: PageSource) -> None:
        self.width = width
        self.height = height
        self.pages = pages
        self._images: dict[tuple[str, int, int], Image.Image] = {}

    def page(self, key: str, box: Rect) -> Image.Image:
        """The page fitted into ``box`` (its own aspect), without shapes; cached per size."""
        path = self.pages(key) if not key.startswith("0_") else None
        ck = (str(path or ""), box.w, box.h)
        img = self._images.get(ck)
        if img is None:
            if path is not None:
                with Image.open(path) as src:
                    src.draft("RGB", (box.w, box.h))
                    r = fit(src.width, src.height, box)
                    img = src.convert("RGB").resize((r.w, r.h), Image.Resampling.LANCZOS)
            else:
                r = fit(*BLANK_ASPECT, box)
                img = Image.new("RGB", (r.w, r.h), BLANK)
            if len(self._images) > 16:
                self._images.clear()
            self._images[ck] = img
        return img

    def board(self, scene: Scene, box: Rect) -> tuple[Image.Image, Rect]:
        """The scene's page with its shapes, and where it lands inside ``box``."""
        img = self.page(scene.page, box).copy()
        draw_shapes(img, scene.shapes)
        r = fit(img.width, img.height, box)
        return img, Rect(r.x, r.y, img.width, img.height)

    def still(self, scene: Scene) -> Image.Image:
        """The frame behind the videos: the board (left dark when a screen share covers it),
        empty camera slots with the user's name (the video is overlaid on them)."""
        frame = Image.new("RGB", (self.width, self.height), BACKGROUND)
        placement = place(scene, self.width, self.height)
        if placement.board is not None and scene.screen is None:
            img, at = self.board(scene, placement.board)
            frame.paste(img, (at.x, at.y))
        d = ImageDraw.Draw(frame)
        for cam, slot in zip(scene.cameras, placement.cameras, strict=False):
            d.rectangle((slot.x, slot.y, slot.x + slot.w - 1, slot.y + slot.h - 1), fill=SLOT)
            name = cam.nickname or cam.userid
            d.text((slot.x + 8, slot.y + slot.h - 8), name[:40], fill=NAME,
                   font=font(max(10, slot.h // 10)), anchor="lb")
        return frame
