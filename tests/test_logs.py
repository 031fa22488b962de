"""What an access line shows of a request's target, and the JSON line format."""

from __future__ import annotations

import json
import logging

from tkroom.logs import MAX_PATH, JsonFormatter, request_line


def test_only_harmless_values_are_shown():
    key, pw = "Vx3kq9ZpA1b2C3d4", "p/a%ss w"
    assert request_line(f"/WebAPI/roomcreate/key/{key}/chairmanpwd/p%2Fa%25ss%20w/roomtype/3", "") == \
        "/WebAPI/roomcreate/key/***/chairmanpwd/***/roomtype/3"
    # an odd segment count: the name without a value is shown, nothing shifts
    assert request_line("/ClientAPI/checkroom/serial/12/password", "") == "/ClientAPI/checkroom/serial/12/password"
    assert request_line("/ClientAPI/checkroom", f"serial=12&password={pw}&password=again&loginkey=ab&userrole=2") \
        == "/ClientAPI/checkroom?serial=12&password=***&password=***&loginkey=***&userrole=2"
    assert request_line("/download/record/r1/tok3n", "") == "/download/record/r1/***"
    assert request_line("/download/file/9/tok3n/page-2.jpg", "") == "/download/file/9/***"
    assert request_line("/room/4817302956", "ticket=abc.def&loginkey=0f") == "/room/4817302956?ticket=***&loginkey=***"
    assert request_line("/ClientAPI/checkroom", "serial=%3Cscript%3E") == "/ClientAPI/checkroom?serial=%3Cscript%3E"
    long = request_line("/room/" + "9" * 1000, "")
    assert len(long) == MAX_PATH + 3 and long.endswith("...")


def test_json_lines_carry_the_extra_fields_and_the_stack():
    fmt = JsonFormatter()
    rec = logging.LogRecord("tkroom.access", logging.INFO, __file__, 1, "%s done", ("GET",), None)
    rec.status = 200
    rec.duration_ms = 1.5
    line = fmt.format(rec)
    assert "\n" not in line
    out = json.loads(line)
    assert out["logger"] == "tkroom.access" and out["level"] == "INFO" and out["message"] == "GET done"
    assert out["status"] == 200 and out["duration_ms"] == 1.5 and out["time"].endswith("Z")
    assert "args" not in out and "msg" not in out
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        err = logging.LogRecord("tkroom.webapi", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(fmt.format(err))
    assert "RuntimeError: boom" in out["exc"] and out["level"] == "ERROR"
