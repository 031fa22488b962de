"""Real documents for the conversion tests and the benchmark, made on the spot: presentations
(python-pptx), Word files (python-docx), PDFs written by hand (one line of text per page),
images (Pillow), an encrypted PDF (pypdf), and how to read what conversion made of them."""

from __future__ import annotations

import io

from tkroom.courseware.convert import pdf_file

CJK_TEXT = "中  国  文  字  测  试  龙  鱼"  # eight different characters, far apart


def pptx(pages: int, title: str = "Slide") -> bytes:
    from pptx import Presentation
    from pptx.util import Pt

    prs = Presentation()
    for n in range(1, pages + 1):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = f"{title} {n}"
        body = slide.placeholders[1].text_frame
        body.text = f"Point one of slide {n}"
        para = body.add_paragraph()
        para.text = "x" * n  # each slide's content differs
        para.font.size = Pt(28)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def docx_cjk() -> bytes:
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    para = doc.add_paragraph()
    run = para.add_run(CJK_TEXT)
    run.font.size = Pt(40)
    run.font.name = "Noto Sans CJK SC"
    run._element.rPr.rFonts.set(qn("w:eastAsia"), "Noto Sans CJK SC")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def docx_linking(target: str) -> bytes:
    """A Word document whose picture is not embedded but linked to ``target`` (a file URL):
    LibreOffice draws whatever is there."""
    import re
    import zipfile

    from docx import Document
    from docx.shared import Inches

    doc = Document()
    doc.add_paragraph("A linked picture:")
    doc.add_picture(io.BytesIO(png(20, 20)), width=Inches(3))
    src = io.BytesIO()
    doc.save(src)
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/_rels/document.xml.rels":
                data = re.sub(rb'(Type="[^"]+/image" Target=")[^"]+"',
                              rb'\1' + target.encode() + rb'" TargetMode="External"', data)
            elif item.filename == "word/document.xml":
                data = data.replace(b"r:embed=", b"r:link=")
            zout.writestr(item, data)
    return out.getvalue()


def xlsx(sheets: int) -> bytes:
    """A workbook of ``sheets`` small sheets: LibreOffice prints each on a page of its own."""
    import xlsxwriter  # python-pptx's own dependency

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    for n in range(1, sheets + 1):
        sheet = book.add_worksheet(f"Term {n}")
        sheet.write_row(0, 0, ["Name", "Score"])
        sheet.write_row(1, 0, [f"Student {n}", 90 + n])
    book.close()
    return buf.getvalue()


def odt(text: str) -> bytes:
    """The smallest OpenDocument text LibreOffice opens: one paragraph."""
    import zipfile

    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
               f'office:version="1.2"><office:body><office:text><text:p>{text}</text:p>'
               '</office:text></office:body></office:document-content>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
                'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '</manifest:manifest>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def pdf(pages: int) -> bytes:
    """A PDF of ``pages`` A4 pages, page n saying "Page n" in large Helvetica."""
    objs: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",
                         b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for n in range(1, pages + 1):
        content = f"BT /F1 72 Tf 80 600 Td (Page {n}) Tj ET".encode()
        objs.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources "
                    f"<< /Font << /F1 3 0 R >> >> /Contents {len(objs)} 0 R >>".encode())
        kids.append(f"{len(objs)} 0 R")
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {pages} >>".encode()
    return pdf_file(objs)


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(2))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def png(width: int = 800, height: int = 500, fmt: str = "PNG") -> bytes:
    """A white picture with a red square in its upper left quarter."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(im).rectangle((width // 4, height // 4, width // 2, height // 2), fill=(220, 30, 30))
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def image(data: bytes):  # -> PIL.Image.Image
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def ink(im) -> int:
    """How many pixels are not (nearly) white."""
    gray = im.convert("L")
    return sum(gray.histogram()[:200])


def _mask(im):  # ink white on black, so getbbox finds it
    return im.convert("L").point(lambda v: 255 if v < 128 else 0)


def glyphs(im) -> list[tuple[int, int]]:
    """The column spans of the separate marks on the first text line of a page: where there
    is ink, with gaps narrower than a third of the line's height merged (the strokes of one
    character), wider ones splitting (the spaces between characters)."""
    mask = _mask(im)
    w, h = mask.size
    inked = [mask.crop((0, y, w, y + 1)).getbbox() is not None for y in range(h)]
    assert any(inked), "no text on the page"
    top = inked.index(True)
    bottom = top
    while bottom + 1 < h and inked[bottom + 1]:
        bottom += 1
    gap = max(2, (bottom - top) // 3)
    spans: list[tuple[int, int]] = []
    for x in range(w):
        if mask.crop((x, top, x + 1, bottom + 1)).getbbox() is None:
            continue
        if spans and x - spans[-1][1] <= gap:
            spans[-1] = (spans[-1][0], x)
        else:
            spans.append((x, x))
    return spans


def glyph_shapes(im):  # -> list[PIL.Image.Image]
    """Each mark of the first text line, cropped to its ink (white on black)."""
    mask = _mask(im)
    out = []
    for a, b in glyphs(im):
        crop = mask.crop((a, 0, b + 1, mask.size[1]))
        box = crop.getbbox()
        if box is not None:
            out.append(crop.crop(box))
    return out


def likeness(a, b) -> float:
    """How alike two marks are, 0..1: the share of inked pixels they have in common once
    scaled to one size (intersection over union). Every missing-glyph box is one and the same
    shape (near 1); different characters share far less."""
    size = (64, 64)
    x = a.resize(size).point(lambda v: 255 if v >= 128 else 0).convert("1")
    y = b.resize(size).point(lambda v: 255 if v >= 128 else 0).convert("1")
    from PIL import ImageChops

    both = ImageChops.logical_and(x, y).histogram()[255]
    either = ImageChops.logical_or(x, y).histogram()[255]
    return both / either if either else 1.0
