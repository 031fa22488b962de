"""Courseware conversion rules: which formats become pages and how, the status values of the
original platform, the limits, and the names of a converted document's files.

Pure (no I/O, no clock), so the Web API that queues a document, the converter that renders
it and the download route that serves its pages agree on every name and number.
"""

from __future__ import annotations

import re

# ``status`` of a file in getroomfile, as the original platform numbers them.
QUEUED, DONE, FAILED, CONVERTING = 0, 1, 2, 3

# How a format becomes a PDF before its pages are rendered.
PDF, OFFICE, IMAGE = "pdf", "office", "image"
_KINDS = {
    "pdf": PDF,
    **dict.fromkeys(("ppt", "pptx", "pps", "ppsx", "doc", "docx", "xls", "xlsx", "odp", "odt",
                     "ods", "rtf"), OFFICE),
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "bmp", "webp"), IMAGE),
}

# Pages are JPEG (quality JPEG_QUALITY): rendering a 1600-pixel page costs about a tenth of
# PNG's CPU time (zlib dominates) at a fraction of the bytes, and a slide's text stays sharp.
JPEG_QUALITY = 90
PAGE_WIDTH = 1600   # px: the board's image of a page
THUMB_WIDTH = 240   # px: the page list's thumbnail
PDF_NAME = "document.pdf"
_PART = re.compile(r"(page|thumb)-([1-9][0-9]{0,5})\.jpg")
MAX_ATTEMPTS = 3    # a document whose conversion was cut off this often (node restarts) fails


def conversion_kind(filetype: str) -> str | None:
    """PDF, OFFICE or IMAGE for a file extension that converts to pages, else None (the file is
    kept as uploaded: audio, video, text...)."""
    return _KINDS.get(filetype.lower().lstrip("."))


def source_problem(size: int, max_bytes: int) -> str:
    """Why a source cannot be converted before trying ("" when it may be)."""
    if size <= 0:
        return "The file is empty"
    if max_bytes and size > max_bytes:
        return f"The file is larger than the conversion limit ({max_bytes} bytes)"
    return ""


def pages_problem(pages: int, max_pages: int) -> str:
    """Why a document of ``pages`` pages is refused ("" when it is not)."""
    if pages < 1:
        return "The document has no pages"
    if max_pages and pages > max_pages:
        return f"The document has {pages} pages; the limit is {max_pages}"
    return ""


def progress(done: int, total: int, start: int = 0) -> int:
    """0-100 while rendering: ``start`` (what the PDF step counted for) up to 99 when the last
    page is rendered; 100 only when the document is done."""
    if total <= 0:
        return start
    return min(99, start + (99 - start) * done // total)


def page_name(n: int) -> str:
    return f"page-{n}.jpg"


def thumb_name(n: int) -> str:
    return f"thumb-{n}.jpg"


def is_output(name: str, pagenum: int) -> bool:
    """Whether ``name`` is one of the files a converted document of ``pagenum`` pages has
    (what a download may ask for; anything else is refused)."""
    if name == PDF_NAME:
        return True
    m = _PART.fullmatch(name)
    return m is not None and int(m.group(2)) <= pagenum
