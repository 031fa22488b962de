"""Documents become pages: uploads with conversion=1 through the real LibreOffice, poppler and
ffmpeg, checked the way a user would (page counts, the images' pixels, Chinese glyphs, the
PDF's fonts), failures that end in status 2, the classroom's ticket-authorized file calls,
and a conversion that survives its node's restart."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import courseware_docs as docs
from conftest import need_binary
from tkroom import tickets
from tkroom.planes import build_node
from tkroom.roles import TEACHER
from webapi_nodes import Api, NodeThread, Served, node_settings, tkroom, wait_for

CONVERT_WAIT = 240.0  # s: generous, the machine is shared
BIG = 1 << 20  # bytes: the conversion limit of the module's node


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    for tool in ("soffice", "pdftoppm", "pdfinfo", "pdffonts", "ffmpeg"):
        need_binary(tool)


class ConvertNode(NodeThread):
    """A node as ``tkroom serve`` builds it (with the courseware plane), without media."""

    async def _make(self) -> Any:
        return build_node(self.settings, media=False, web=False)


def files_of(api: Api, serial: str) -> dict[int, dict[str, Any]]:
    r = api.client("getroomfile", serial=serial)
    assert r["result"] == 0, r
    return {f["fileid"]: f for f in r["roomfile"]}


def wait_done(api: Api, serial: str, ids: list[int], timeout: float = CONVERT_WAIT) -> dict[int, dict]:
    def finished() -> dict[int, dict] | None:
        got = files_of(api, serial)
        return got if all(got[i]["status"] in (1, 2) for i in ids) else None

    return wait_for(finished, timeout, 0.3, "conversions to finish")


def upload(api: Api, serial: str, name: str, data: bytes, conversion: int | None = 1) -> int:
    r = api("uploadfile", files={"filedata": (name, data)}, serial=serial, conversion=conversion)
    assert r["result"] == 0, r
    return r["fileid"]


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def image_at(url: str):
    r = get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", (url, r.status_code)
    return docs.image(r.content)


DOCS = {
    "slides.pptx": lambda: docs.pptx(3),
    "chinese.docx": docs.docx_cjk,
    "five.pdf": lambda: docs.pdf(5),
    "marks.xlsx": lambda: docs.xlsx(2),
    "essay.odt": lambda: docs.odt("Hello OpenDocument"),
    "picture.png": docs.png,
    "picture.gif": lambda: docs.png(fmt="GIF"),
    "picture.webp": lambda: docs.png(fmt="WEBP"),
    "broken.pptx": lambda: b"PK\x03\x04" + os.urandom(3000),
    "junk.pdf": lambda: b"%PDF-1.4\n" + os.urandom(2000),
    "broken.png": lambda: docs.png()[:100],
    "locked.pdf": docs.encrypted_pdf,
    "empty.docx": lambda: b"",
    "big.pdf": lambda: docs.pdf(2) + b" " * BIG,  # larger than this node's conversion limit
    "notes.txt": lambda: b"kept as uploaded",
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory):
    """One node converting every document above at once; what getroomfile says at the end."""
    n = ConvertNode(node_settings(tmp_path_factory.mktemp("convert 课件"), convert_max_bytes=BIG))  # odd path
    api = Api(n, n.enterprise())
    serial = api.room()
    ids = {name: upload(api, serial, name, make()) for name, make in DOCS.items()}
    ids["plain.pdf"] = upload(api, serial, "plain.pdf", docs.pdf(2), conversion=None)
    done = wait_done(api, serial, list(ids.values()))
    yield api, serial, {name: done[i] for name, i in ids.items()}
    api.http.close()
    n.stop()


def test_each_format_becomes_its_pages(converted):
    _, _, got = converted
    for name, pages in (("slides.pptx", 3), ("five.pdf", 5), ("picture.png", 1), ("chinese.docx", 1),
                        ("marks.xlsx", 2), ("essay.odt", 1), ("picture.gif", 1), ("picture.webp", 1)):
        f = got[name]
        assert (f["status"], f["statusmsg"], f["progress"], f["pagenum"]) == (1, "", 100, pages), f
        assert len(f["pageimages"]) == len(f["thumbnails"]) == pages
        for url in f["pageimages"]:
            assert image_at(url).size[0] == 1600
        for url in f["thumbnails"]:
            assert image_at(url).size[0] == 240
        pdf = get(f["pdfpath"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["cache-control"] == "private, max-age=86400"
        assert pdf.headers["content-disposition"] == f'inline; filename="{Path(name).stem}.pdf"'
        assert pdf.headers["content-type"] == "application/pdf"
        assert re.search(rf"^Pages:\s+{pages}$", _pdfinfo(pdf.content), re.M)
        assert get(f["downloadpath"]).status_code == 200  # the original stays downloadable


def _pdfinfo(data: bytes) -> str:
    return subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, timeout=30).stdout.decode()


def test_pages_show_the_document(converted):
    _, _, got = converted
    pages = [image_at(u) for u in got["five.pdf"]["pageimages"]]
    # "Page 1" .. "Page 5": text on every page, and the page numbers differ
    assert all(docs.ink(p) > 2000 for p in pages)
    numbers = [docs.glyph_shapes(p)[-1] for p in pages]
    assert all(docs.likeness(a, b) < 0.9 for i, a in enumerate(numbers) for b in numbers[i + 1:])
    slides = [image_at(u) for u in got["slides.pptx"]["pageimages"]]
    assert len({p.tobytes() for p in slides}) == 3 and all(docs.ink(p) > 2000 for p in slides)
    assert slides[0].size == (1600, 1200)  # 4:3 slides
    picture = image_at(got["picture.png"]["pageimages"][0])
    assert picture.size == (1600, 1000)  # the page is the image, scaled to the board's width
    r, g, b = picture.convert("RGB").getpixel((600, 375))[:3]
    assert r > 180 and g < 90 and b < 90, "the red square is where the image has it"
    assert picture.convert("RGB").getpixel((1200, 800))[:3] >= (245, 245, 245)


def test_chinese_renders_with_chinese_glyphs(converted):
    _, _, got = converted
    f = got["chinese.docx"]
    page = image_at(f["pageimages"][0])
    shapes = docs.glyph_shapes(page)
    # Missing glyphs would be one and the same box for every character: real ones all differ.
    assert len(shapes) >= 6
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            assert docs.likeness(a, b) < 0.8, "two characters look alike (missing-glyph boxes?)"
    fonts = subprocess.run(["pdffonts", "-"], input=get(f["pdfpath"]).content,
                           capture_output=True, timeout=30).stdout.decode()
    cjk = [ln for ln in fonts.splitlines() if "CJK" in ln]
    assert cjk and all(" yes " in ln for ln in cjk), fonts  # embedded


@pytest.mark.parametrize(("name", "reason"), [
    ("broken.pptx", "LibreOffice could not read"),
    ("junk.pdf", "not a readable PDF"),
    ("broken.png", "The image could not be read"),
    ("locked.pdf", "password-protected"),
    ("empty.docx", "empty"),
    ("big.pdf", "larger than the conversion limit"),
])
def test_bad_documents_fail_with_a_reason(converted, name, reason):
    _, _, got = converted
    f = got[name]
    assert f["status"] == 2 and reason in f["statusmsg"], f
    assert f["pageimages"] == [] and f["thumbnails"] == [] and f["pdfpath"] == ""
    assert f["pagenum"] == 0


def test_files_not_converted_keep_status_1(converted):
    _, _, got = converted
    for name in ("notes.txt", "plain.pdf"):
        f = got[name]
        assert (f["status"], f["pagenum"], f["pageimages"], f["pdfpath"]) == (1, 1, [], ""), f
        assert get(f["downloadpath"]).status_code == 200


def test_page_downloads_need_the_token_and_an_existing_page(converted):
    _, _, got = converted
    f = got["slides.pptx"]
    url = f["pageimages"][0]
    assert get(url.replace(f"/{f['fileid']}/", f"/{got['five.pdf']['fileid']}/")).status_code == 404
    base = url.rsplit("/", 1)[0]
    for part in ("page-4.jpg", "page-0.jpg", "thumb-9.jpg", "x.jpg", "..", "%2e%2e%2fsecret",
                 "document.pdf.jpg", "page-1.JPG", "page-1.png"):
        assert get(f"{base}/{part}").status_code == 404, part
    wrong = base.rsplit("/", 1)[0] + "/" + "0" * 32
    assert get(wrong + "/page-1.jpg").status_code == 404
    failed = got["locked.pdf"]
    assert get(failed["downloadpath"] + "/document.pdf").status_code == 404


# --- the classroom's calls: ticket-authorized upload and delete -------------------------------


def _ticket(api: Api, serial: str, password: str) -> str:
    r = api.client("checkroom", serial=serial, password=password, nickname="T")
    assert r["result"] == 0, r
    return r["ticket"]


def test_clientapi_upload_and_delete(converted):
    api, serial, _ = converted
    node = api.node.node
    teacher = _ticket(api, serial, "teach1")
    student = _ticket(api, serial, "stud1")
    pptx = docs.pptx(2)

    def up(ticket: str | None, **kw: Any) -> dict:
        return api.client("uploadfile", files={"filedata": ("lesson.pptx", pptx)}, serial=serial,
                          ticket=ticket, **kw)

    assert up(student)["result"] == 4108
    assert up(None)["result"] == 4108
    assert up(teacher[:-3] + "abc")["result"] == 5301
    assert up(_ticket(api, api.room(), "teach1"))["result"] == 4108  # another room's
    assert api.client("uploadfile", serial=serial, ticket=teacher)["result"] == 4202
    assert up(teacher, conversion=7)["result"] == 5017
    now = time.time()
    ident = tickets.Identity(serial=serial, userid="t-9", role=TEACHER, nickname="Ms T")
    hours = node.settings.file_ticket_hours
    stale = tickets.issue(node.secret, ident, now - hours * 3600 - 300, 120)
    assert up(stale)["result"] == 5301
    old = tickets.issue(node.secret, ident, now - 2 * 3600, 120)  # joined two hours ago
    r = up(old)
    assert r["result"] == 0, r
    fid = r["fileid"]
    f = wait_done(api, serial, [fid])[fid]
    assert (f["status"], f["pagenum"], f["uploaduserid"], f["uploadusername"]) == (1, 2, "t-9", "Ms T")
    pages = f["pageimages"]
    assert get(pages[1]).status_code == 200
    # the enterprise's folder only: scratch folders of conversions come and go beside it
    source = Path(api.node.settings.data_dir) / "files" / str(api.company["companyid"])
    assert any(source.rglob("*lesson.pptx.pages"))

    def delete(ticket: str, fileid: Any) -> dict:
        return api.client("delroomfile", serial=serial, ticket=ticket, fileid=fileid)

    assert delete(student, fid)["result"] == 4108
    assert delete(teacher, "")["result"] == 4202
    assert delete(teacher, "x")["result"] == 4202
    assert delete(teacher, 99999999)["result"] == 4105
    assert delete(teacher, fid)["result"] == 0
    assert fid not in files_of(api, serial)
    assert get(pages[1]).status_code == 404 and get(f["downloadpath"]).status_code == 404
    assert not any(source.rglob("*lesson.pptx*")), "the upload and its pages left the disk"
    assert delete(teacher, fid)["result"] == 4105


def test_webapi_delroomfile(converted):
    api, serial, _ = converted
    other = api.room()
    fid = upload(api, serial, "shared.pdf", docs.pdf(1), conversion=1)
    assert api("roombindfile", serial=other, fileidarr=str(fid))["result"] == 0
    wait_done(api, serial, [fid])
    assert api("delroomfile", serial=serial)["result"] == 4202
    assert api("delroomfile", serial=serial, fileid=99999)["result"] == 4105
    assert api("delroomfile", fileid=fid)["result"] == 5100
    assert api("delroomfile", serial=serial, fileid=fid)["result"] == 0
    # still another room's: unbound here, kept with its pages
    kept = files_of(api, other)[fid]
    assert kept["status"] == 1 and get(kept["pageimages"][0]).status_code == 200
    assert api("delroomfile", serial=other, fileid=fid)["result"] == 0
    assert get(kept["pageimages"][0]).status_code == 404
    stranger = Api(api.node, api.node.enterprise())
    assert stranger("delroomfile", serial=serial, fileid=fid)["result"] == 4108


# --- limits, timeouts and restarts ---------------------------------------------------------------


def _processes_under(path: Path | str) -> list[str]:
    """Command lines of the running processes that mention ``path``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmd:
            found.append(cmd)
    return found


def test_timeout_and_page_limit_fail_and_kill_the_converter(tmp_path):
    n = ConvertNode(node_settings(tmp_path, convert_timeout_s=0.5, convert_max_pages=3))
    try:
        api = Api(n, n.enterprise())
        serial = api.room()
        slow = upload(api, serial, "slow.pptx", docs.pptx(5))
        got = wait_done(api, serial, [slow])[slow]
        assert got["status"] == 2 and "took too long" in got["statusmsg"], got
        # LibreOffice runs in a folder named after the node's id (when sandboxed) or under the
        # data folder: neither may have a process left
        node_id = n.node.api.node_id
        assert node_id in str(next((tmp_path / "files" / ".convert").iterdir()))
        wait_for(lambda: not _processes_under(tmp_path) and not _processes_under(node_id), 30, 0.2,
                 "LibreOffice to be gone")
    finally:
        n.stop()
    n = ConvertNode(node_settings(tmp_path, convert_max_pages=3))
    try:
        api = Api(n, n.enterprise())
        serial = api.room()
        long = upload(api, serial, "long.pdf", docs.pdf(4))
        got = wait_done(api, serial, [long])[long]
        assert got["status"] == 2 and got["statusmsg"] == "The document has 4 pages; the limit is 3"
    finally:
        n.stop()


def test_a_document_deleted_while_converting_leaves_nothing(tmp_path):
    n = ConvertNode(node_settings(tmp_path, convert_workers=1))
    try:
        api = Api(n, n.enterprise())
        serial = api.room()
        big = upload(api, serial, "big.pdf", docs.pdf(150))
        wait_for(lambda: files_of(api, serial)[big]["status"] == 3, 60, 0.05, "conversion to start")
        assert api("delroomfile", serial=serial, fileid=big)["result"] == 0
        small = upload(api, serial, "small.pdf", docs.pdf(1))  # after the big one, one worker
        assert wait_done(api, serial, [small])[small]["status"] == 1
        company = tmp_path / "files" / str(api.company["companyid"])
        assert not list(company.glob("*big.pdf*")), "no upload, no pages of the deleted document"

        def scratch_files() -> list[str]:  # os.walk skips what vanishes while it looks
            return [f for _, _, names in os.walk(tmp_path / "files" / ".convert") for f in names]

        wait_for(lambda: not scratch_files(), 30, 0.1, "the scratch folders to be emptied")
    finally:
        n.stop()


def test_nodes_sharing_a_data_folder_serve_every_page_and_convert_once(tmp_path):
    a = ConvertNode(node_settings(tmp_path))
    b = ConvertNode(node_settings(tmp_path))
    try:
        api_a = Api(a, a.enterprise())
        api_b = Api(b, api_a.company)
        serial = api_a.room()
        ids = [upload(api_a if i % 2 else api_b, serial, f"d{i}.pdf", docs.pdf(3 + i)) for i in range(6)]
        done = wait_done(api_b, serial, ids)
        assert [done[i]["pagenum"] for i in ids] == [3, 4, 5, 6, 7, 8]
        for f in done.values():
            path = "/" + f["pageimages"][-1].split("/", 3)[3]
            for node in (a, b):
                assert image_at(node.url + path).size[0] == 1600

        async def attempts() -> list[int]:
            from sqlalchemy import select

            from tkroom.store.models import File

            async with a.node.sessions() as s:
                return list((await s.execute(select(File.attempts).where(File.id.in_(ids)))).scalars())

        assert a.run(attempts()) == [1] * 6, "each document was converted once"
    finally:
        b.stop()
        a.stop()


def test_queued_and_converting_documents_finish_after_a_clean_restart(tmp_path):
    settings = node_settings(tmp_path, convert_workers=1)
    n = ConvertNode(settings)
    try:
        api = Api(n, n.enterprise())
        serial = api.room()
        ids = [upload(api, serial, "a.pdf", docs.pdf(150)), upload(api, serial, "b.pptx", docs.pptx(2))]
        wait_for(lambda: files_of(api, serial)[ids[0]]["status"] == 3, 60, 0.05, "conversion to start")
        key = api.key
    finally:
        n.stop()
    # the stopped node put its document back in the queue, and the other one waits there
    assert _stored_status(tmp_path, ids) == [(0, 0), (0, 0)]
    n = ConvertNode(node_settings(tmp_path, convert_workers=1))
    try:
        api = Api(n, {"authkey": key, "companyid": 0})
        done = wait_done(api, serial, ids)
        assert [done[i]["status"] for i in ids] == [1, 1]
        assert [done[i]["pagenum"] for i in ids] == [150, 2]
        assert image_at(done[ids[0]]["pageimages"][149]).size[0] == 1600
    finally:
        n.stop()


def test_conversion_resumes_after_the_node_is_killed(tmp_path):
    ent = tkroom("admin", "enterprise", "create", "School", "--data", str(tmp_path))
    assert ent.returncode == 0, ent.stderr
    key = json.loads(ent.stdout)["authkey"]
    served = _serve(tmp_path)
    try:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            now = int(time.time())
            serial = http.post("/WebAPI/roomcreate", data=dict(
                key=key, roomname="R", roomtype=3, starttime=now - 60, endtime=now + 3600,
                chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1",
                passwordrequired=1, confuserpwd="stud1")).json()["serial"]
            fid = http.post("/WebAPI/uploadfile", data={"key": key, "serial": serial, "conversion": 1},
                            files={"filedata": ("deck.pdf", docs.pdf(150))}).json()["fileid"]
            wait_for(lambda: _room_file(http, serial)["status"] == 3, 60, 0.05, "conversion to start")
            served.proc.send_signal(signal.SIGKILL)
            served.proc.wait(30)
    finally:
        served.stop()
    assert _stored_status(tmp_path, [fid]) == [(3, 0)], "killed while converting"
    served = _serve(tmp_path)
    try:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            def finished() -> dict | None:
                f = _room_file(http, serial)
                return f if f["status"] in (1, 2) else None

            f = wait_for(finished, CONVERT_WAIT, 0.3, "conversion after the restart")
            assert (f["fileid"], f["status"], f["pagenum"]) == (fid, 1, 150), f
            assert image_at(f["pageimages"][149]).size == (1600, 2265)
    finally:
        served.stop()


def _stored_status(data: Path, ids: list[int]) -> list[tuple[int, int]]:
    """(status, pagenum) of files as the stopped node's SQLite database has them."""
    with contextlib.closing(sqlite3.connect(data / "tkroom.db")) as db:
        return [db.execute("SELECT status, pagenum FROM files WHERE id = ?", (i,)).fetchone()
                for i in ids]


def _room_file(http: httpx.Client, serial: str) -> dict:
    return http.post("/ClientAPI/getroomfile", data={"serial": serial}).json()["roomfile"][0]


def _serve(data: Path) -> Served:
    """``tkroom serve`` converting one document at a time, without Janus."""
    env = {"TKROOM_CONVERT_WORKERS": "1", "TKROOM_EMBEDDED_JANUS": "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return Served("--data", str(data))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
