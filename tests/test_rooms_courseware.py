"""The courseware rules without any tool: formats, limits, progress and the names of pages."""

from __future__ import annotations

from tkroom.rooms import courseware as cw


def test_formats():
    assert cw.conversion_kind("PDF") == cw.PDF
    for ext in ("ppt", "pptx", "doc", "docx", "xls", "xlsx", "odp", "odt"):
        assert cw.conversion_kind(ext) == cw.OFFICE, ext
    for ext in ("png", "jpg", "jpeg", ".gif"):
        assert cw.conversion_kind(ext) == cw.IMAGE, ext
    for ext in ("mp4", "mp3", "txt", "html", "svg", "", "exe"):
        assert cw.conversion_kind(ext) is None, ext
    assert (cw.QUEUED, cw.CONVERTING, cw.DONE, cw.FAILED) == (0, 3, 1, 2)  # the original's numbers


def test_limits():
    assert cw.source_problem(0, 100) == "The file is empty"
    assert "larger than the conversion limit (100 bytes)" in cw.source_problem(101, 100)
    assert cw.source_problem(100, 100) == "" and cw.source_problem(10**12, 0) == ""
    assert cw.pages_problem(0, 10) == "The document has no pages"
    assert cw.pages_problem(11, 10) == "The document has 11 pages; the limit is 10"
    assert cw.pages_problem(10, 10) == "" and cw.pages_problem(10**6, 0) == ""


def test_progress_never_claims_done_before_the_end():
    assert cw.progress(0, 50) == 0 and cw.progress(50, 50) == 99
    assert cw.progress(0, 10, start=30) == 30 and cw.progress(5, 10, start=30) == 64
    steps = [cw.progress(n, 7, 30) for n in range(8)]
    assert steps == sorted(steps) and max(steps) == 99


def test_output_names():
    assert cw.page_name(12) == "page-12.jpg" and cw.thumb_name(1) == "thumb-1.jpg"
    assert cw.is_output("page-3.jpg", 3) and cw.is_output("thumb-1.jpg", 3)
    assert cw.is_output(cw.PDF_NAME, 1)
    for bad in ("page-4.jpg", "page-0.jpg", "page-01.jpg", "page-1.png", "../page-1.jpg",
                "page-1.jpg/..", "source.pptx", "", "PAGE-1.jpg"):
        assert not cw.is_output(bad, 3), bad
