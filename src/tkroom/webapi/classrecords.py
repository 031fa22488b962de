"""Class records for a school's back end: who came and went (``getlogininfo``), who is in now
(``getonlineuser``), what they answered (``getanswerlist``) and the trophies they got
(``getgiftinfo``). The signalling plane writes the rows (through the directory); who is in now
comes from the room state every node shares, through ``ApiState.online``."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from tkroom.errors import CodeError
from tkroom.store.models import AnswerCard, Gift, LoginEvent, Room
from tkroom.webapi.history import _window
from tkroom.webapi.registry import Call, Param, method
from tkroom.webapi.rooms import SERIAL, SERIAL_CODES

MAX_ROWS = 10000  # one answer lists at most this many stays or gifts (the newest; totals are exact)

ROOM_PARAMS = (Param("serial", doc="room number (this or thirdroomid)"),
               Param("thirdroomid", doc="the room's own number given at roomcreate"))
ROOM_CODES = ((5100, "neither serial nor thirdroomid"),
              (4007, "no such room, or deleted (or serial and thirdroomid name different rooms)"),
              (4108, "the room belongs to another enterprise"))


async def class_room(call: Call) -> Room:
    """The room named by ``serial`` or ``thirdroomid`` (both: they must name the same room)."""
    c = await call.company()
    serial, third = call.p.get("serial"), call.p.get("thirdroomid")
    if serial:
        room = await call.own_room()
        if third and room.thirdroomid != third:
            raise CodeError(4007, f"room {serial} has no thirdroomid {third!r}")
        return room
    if not third:
        raise CodeError(5100, "serial or thirdroomid is required")
    q = select(Room).where(Room.companyid == c.id, Room.thirdroomid == third,
                           Room.deleted.is_(False))
    found = (await call.s.execute(q)).scalars().first()
    if found is None:
        raise CodeError(4007, f"No room with thirdroomid {third!r}")
    return found


@method("WebAPI", "getlogininfo",
        "Each entry and exit of a class: one row per stay (a join until the user left, was "
        "evicted, replaced by a new login, or lost the connection for good).",
        (*ROOM_PARAMS, Param("userid", doc="only this user"),
         Param("starttime", "integer", doc="stays that end at or after this, Unix seconds"),
         Param("endtime", "integer", doc="stays that begin at or before this, Unix seconds")),
        ROOM_CODES + ((4004, "a time malformed"), (4005, "endtime before starttime"),
                      (4105, "nobody entered (in that window)")))
async def getlogininfo(call: Call) -> dict[str, Any]:
    room = await class_room(call)
    start, end = _window(call)
    q = select(LoginEvent).where(LoginEvent.serial == room.serial,
                                 func.coalesce(LoginEvent.enter_ms, LoginEvent.out_ms) <= end * 1000 + 999,
                                 func.coalesce(LoginEvent.out_ms, 2**62) >= start * 1000)
    userid = call.p.get("userid")
    if userid:
        q = q.where(LoginEvent.userid == userid)
    q = q.order_by(func.coalesce(LoginEvent.enter_ms, LoginEvent.out_ms).desc(), LoginEvent.id.desc())
    rows = list(reversed((await call.s.execute(q.limit(MAX_ROWS))).scalars().all()))
    if not rows:
        raise CodeError(4105, "Nobody entered this room" + (" in that window" if call.p.get("starttime")
                                                            or call.p.get("endtime") else ""))
    now_ms = int(time.time() * 1000)
    out = []
    for r in rows:
        until = r.out_ms if r.out_ms is not None else now_ms
        out.append({
            "userid": r.userid, "nickname": r.nickname, "userrole": r.role,
            "entertime": r.enter_ms // 1000 if r.enter_ms is not None else 0,
            "outtime": r.out_ms // 1000 if r.out_ms is not None else 0,
            "duration": (until - r.enter_ms) // 1000 if r.enter_ms is not None else 0,
            "entertime_ms": r.enter_ms or 0, "outtime_ms": r.out_ms or 0,
            "online": 1 if r.out_ms is None else 0,
            "clienttype": r.clienttype, "devicetype": r.clienttype, "ipaddress": r.address})
    return {"logininfo": out}


@method("WebAPI", "getonlineuser", "Who is in a class now, on every node of the cluster.",
        ROOM_PARAMS, ROOM_CODES + ((4105, "nobody is in the room"),
                                   (4107, "the room state cannot be read (Redis away)")))
async def getonlineuser(call: Call) -> dict[str, Any]:
    room = await class_room(call)
    online = call.state.online
    if online is None:
        raise CodeError(4107, "this node runs no signalling plane: it cannot tell who is in a room")
    try:
        members = await online(room.serial)
    except Exception as exc:  # the room state (Redis) failing is the node's database failing
        raise CodeError(4107, "the room state cannot be read now") from exc
    if not members:
        raise CodeError(4105, "Nobody is in this room")
    return {"onlineuser": [
        {"buddyid": m["userid"], "serial": room.serial, "username": m["nickname"],
         "userrole": m["role"], "logIntime": m["joined_ms"] // 1000, "isrobot": 0}
        for m in sorted(members, key=lambda m: (m["joined_ms"], m["userid"]))]}


async def _nicknames(call: Call, serial: str, userids: list[str]) -> dict[str, str]:
    """The newest nickname each of these users had in the room ("" for one never seen)."""
    names: dict[str, str] = {}
    for i in range(0, len(userids), 500):
        q = (select(LoginEvent.userid, LoginEvent.nickname)
             .where(LoginEvent.serial == serial, LoginEvent.userid.in_(userids[i:i + 500]))
             .order_by(LoginEvent.id))
        names.update({u: n for u, n in (await call.s.execute(q)).all()})
    return names


def _is_right(answer: list[int], right: Any) -> int | None:
    """1 right, 0 wrong, None when the card had no right answer."""
    if not isinstance(right, list) or not right:
        return None
    return 1 if sorted(answer) == sorted(right) else 0


@method("WebAPI", "getanswerlist", "The closed answer cards of a class and every answer given.",
        (SERIAL, Param("qid", doc="only this card")),
        SERIAL_CODES + ((4105, "no closed card (with that qid)"),))
async def getanswerlist(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    q = select(AnswerCard).where(AnswerCard.serial == room.serial)
    qid = call.p.get("qid")
    if qid:
        q = q.where(AnswerCard.qid == qid)
    cards = (await call.s.execute(q.order_by(AnswerCard.closed_ms, AnswerCard.qid))).scalars().all()
    if not cards:
        raise CodeError(4105, "No closed answer card" + (f" {qid!r}" if qid else ""))
    names = await _nicknames(call, room.serial, sorted({u for c in cards for u in c.answers}))
    out = []
    for c in cards:
        question = dict(c.question)
        raw_options = question.get("options")
        options: list[Any] = raw_options if isinstance(raw_options, list) else []
        right = question.get("right")
        counts = [0] * len(options)
        answers = []
        for userid, answer in sorted(c.answers.items()):
            for i in answer:
                if isinstance(i, int) and 0 <= i < len(counts):
                    counts[i] += 1
            answers.append({"userid": userid, "nickname": names.get(userid, ""), "answer": answer,
                            "right": _is_right(answer, right)})
        out.append({"qid": c.qid, "question": question, "closetime": c.closed_ms // 1000,
                    "answered": len(answers), "counts": counts,
                    "rightcount": sum(1 for a in answers if a["right"] == 1)
                    if isinstance(right, list) and right else None,
                    "answers": answers})
    return {"answerlist": out}


@method("WebAPI", "getgiftinfo", "The trophies given in a class: a total per student, and each gift.",
        (SERIAL, Param("userid", doc="only this student")),
        SERIAL_CODES + ((4105, "no trophy given (to that student)"),))
async def getgiftinfo(call: Call) -> dict[str, Any]:
    room = await call.own_room()
    mine = [Gift.serial == room.serial]
    userid = call.p.get("userid")
    if userid:
        mine.append(Gift.receiver == userid)
    q = select(Gift).where(*mine)
    totals = dict((await call.s.execute(
        select(Gift.receiver, func.count()).where(*mine).group_by(Gift.receiver))).all())
    if not totals:
        raise CodeError(4105, "No trophy given" + (f" to {userid!r}" if userid else ""))
    gifts = (await call.s.execute(q.order_by(Gift.ts_ms.desc(), Gift.id.desc()).limit(MAX_ROWS))).scalars().all()
    names = await _nicknames(call, room.serial, list(totals))
    per: dict[str, list[dict[str, Any]]] = {}
    for g in reversed(gifts):
        per.setdefault(g.receiver, []).append({"sender": g.sender, "time": g.ts_ms // 1000,
                                               "time_ms": g.ts_ms})
    return {"giftinfo": [{"userid": u, "nickname": names.get(u, ""), "giftnumber": n,
                          "gifts": per.get(u, [])}
                         for u, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]}
