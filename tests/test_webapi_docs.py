"""The generated reference pages are up to date, and every method is documented and served."""

from __future__ import annotations

from pathlib import Path

from tkroom.webapi.docs import codes_markdown, webapi_markdown
from tkroom.webapi.openapi import openapi_document
from tkroom.webapi.registry import METHODS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_are_generated_from_the_code():
    assert (DOCS / "webapi.md").read_text() == webapi_markdown(), "run python -m tkroom.webapi.docs"
    assert (DOCS / "codes.md").read_text() == codes_markdown(), "run python -m tkroom.webapi.docs"


def test_every_method_of_the_issue_is_served_and_in_openapi():
    wanted = ["roomcreate", "roommodify", "roomdelete", "getroom", "getroomlist", "getroombytime", "companycreate", "companydelete", "useradd", "userdelete", "uploadfile", "getcompanyfiles", "roombindfile", "roomdeletefile", "deletefile", "getroomfile", "groupcreate", "groupdelete", "getgrouplist", "entry", "getloginkey", "serveradd", "servermodify", "serverdelete", "getserverlist", "getroomchat", "companyattribute", "getrecordlist"]
    assert {("WebAPI", m) for m in wanted} <= METHODS.keys()
    assert {("ClientAPI", m) for m in ("checkroom", "getconfig", "getroomfile")} <= METHODS.keys()
    paths = openapi_document()["paths"]
    assert {f"/{a}/{m}" for a, m in METHODS} == set(paths)
