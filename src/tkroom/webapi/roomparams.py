"""Validation of ``roomcreate`` / ``roommodify`` parameters, in the order the codes are checked.

``roomcreate`` needs every required field; ``roommodify`` validates only what it is given and
checks the cross-field rules (times, duplicate passwords, required student password) against
the room as it would be after the change.
"""

from __future__ import annotations

import re
from typing import Any

from tkroom.errors import CodeError
from tkroom.passwords import PasswordChecker
from tkroom.store.models import Company, Room
from tkroom.store.rooms import RESOLUTIONS, ROLE_PASSWORD
from tkroom.webapi.params import Params

ROOMTYPES = (0, 3, 4, 6, 7, 8)
FRAMERATES = (10, 15, 20, 25, 30)
PASSWORD_RE = re.compile(r"[\x21-\x7e]{4,16}")
MAX_TIME = 2**40
# password field -> (code when missing, code when malformed)
PASSWORD_CODES = {
    "chairmanpwd": (5002, 4006),
    "assistantpwd": (5018, 4010),
    "patrolpwd": (5019, 4010),
    "confuserpwd": (5003, 4009),
    "sidelineuserpwd": (5005, 4010),
}


def password_ok(pw: str) -> bool:
    return PASSWORD_RE.fullmatch(pw) is not None


def _time(p: Params, name: str) -> int | None:
    v = p.get(name)
    if v is None:
        return None
    if not re.fullmatch(r"\d{1,13}", v) or int(v) > MAX_TIME:
        raise CodeError(4004, f"{name} must be Unix seconds")
    return int(v)


async def validate(
    p: Params, company: Company, now: float, checker: PasswordChecker, room: Room | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The new column values and the new plaintext passwords (to be hashed by the caller)."""
    create = room is None
    v: dict[str, Any] = {}
    name = p.get("roomname")
    if p.raw("roomname") is not None or create:
        if not name:
            raise CodeError(4003)
        if len(name) > 200:
            raise CodeError(4003, "roomname is longer than 200 characters")
        v["roomname"] = name
    rt = p.get("roomtype")
    if rt is not None or create:
        if rt is None:
            raise CodeError(4011)
        if not rt.isdigit() or int(rt) not in ROOMTYPES:
            raise CodeError(4011, f"roomtype must be one of {ROOMTYPES}")
        v["roomtype"] = int(rt)

    start, end = _time(p, "starttime"), _time(p, "endtime")
    if create and (start is None or end is None):
        raise CodeError(5004)
    if start is not None or end is not None:
        s = start if start is not None else room.starttime  # type: ignore[union-attr]
        e = end if end is not None else room.endtime  # type: ignore[union-attr]
        if e <= s:
            raise CodeError(4005, "endtime must be after starttime")
        if end is not None and e < now:
            raise CodeError(4005, "endtime is already in the past")
        v["starttime"], v["endtime"] = s, e

    pr = p.get("passwordrequired")
    if pr is not None or create:
        if pr not in ("0", "1"):
            raise CodeError(5001, "passwordrequired (0 or 1) is required")
        v["passwordrequired"] = pr == "1"
    allow = p.flag("allowsidelineuser", default=room.allowsidelineuser if room else False, bad=5005)
    v["allowsidelineuser"] = allow
    passwordrequired = v.get("passwordrequired", room.passwordrequired if room else False)

    plain: dict[str, str] = {}
    for field_name, (missing, bad) in PASSWORD_CODES.items():
        pw = p.raw(field_name)
        pw = pw.strip() if pw is not None else None
        has_old = bool(room is not None and getattr(room, field_name))
        needed = field_name in ("chairmanpwd", "assistantpwd", "patrolpwd") or (
            field_name == "confuserpwd" and passwordrequired
        ) or (field_name == "sidelineuserpwd" and allow)
        if not pw:
            if needed and not has_old:
                raise CodeError(missing)
            continue
        if not password_ok(pw):
            raise CodeError(bad, f"{field_name} must be 4 to 16 visible ASCII characters")
        plain[field_name] = pw
    if len(set(plain.values())) < len(plain):
        raise CodeError(5102, "Two roles cannot share one password")
    if room is not None:  # a new password must not equal another role's current one
        for field_name, pw in plain.items():
            for other in ROLE_PASSWORD.values():
                stored = getattr(room, other)
                if other != field_name and other not in plain and stored and await checker.check(other, pw, stored):
                    raise CodeError(5102, "Two roles cannot share one password")

    v["maxusers"] = p.int("maxusers", default=None if room else 0, bad=5008, lo=0, hi=10000, out_of_range=5009)
    v["maxsidelineusers"] = p.int(
        "maxsidelineusers", default=None if room else 0, bad=5010, lo=0, hi=100000, out_of_range=5011
    )
    v["maxvideo"] = p.int("maxvideo", default=None if room else 6, bad=5012, lo=1, hi=32, out_of_range=5013)
    v["maxaudio"] = p.int("maxaudio", default=None if room else 0, bad=5014, lo=0, hi=64, out_of_range=5015)
    vt = p.get("videotype")
    if vt is not None:
        if not vt.isdigit() or int(vt) not in RESOLUTIONS:
            raise CodeError(5016, f"videotype must be one of {sorted(RESOLUTIONS)}")
        w, h = RESOLUTIONS[int(vt)]
        cw, ch = RESOLUTIONS.get(company.max_videotype, (1920, 1080))
        if w * h > cw * ch:
            raise CodeError(5020, f"The enterprise's limit is {cw}x{ch}")
        v["videotype"] = int(vt)
    fr = p.int("videoframerate", bad=5016)
    if fr is not None:
        if fr not in FRAMERATES:
            raise CodeError(5016, f"videoframerate must be one of {FRAMERATES}")
        v["videoframerate"] = fr
    v["roomlayout"] = p.int("roomlayout", default=None if room else 0, bad=5017, lo=0, hi=99)
    for flag in ("autoopenav", "singlelogin", "keepstate", "registeredonly"):
        v[flag] = p.flag(flag, default=getattr(room, flag) if room else False, bad=5017)
    v["bigroomthreshold"] = p.int("bigroomthreshold", default=None if room else 100, bad=5017, lo=1, hi=100000)
    v["evictseconds"] = p.int("evictseconds", default=None if room else 180, bad=5017, lo=0, hi=86400)
    third = p.get("thirdroomid")
    if third is not None:
        if len(third) > 100:
            raise CodeError(5017, "thirdroomid is longer than 100 characters")
        v["thirdroomid"] = third
    return {k: x for k, x in v.items() if x is not None}, plain
