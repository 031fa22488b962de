"""``room.tools``: the classroom tools (docs/tools.md) from a program: answer cards, buzzer,
countdown timer, random pick and trophies.

The server decides everything (who may act, the tally, the buzzer's winner, the timer's times,
the pick); the calls send the tools' ``pubMsg`` / ``delMsg`` and raise ``ClientError`` with the
server's code (4108 not allowed, 4105 not open, 2602 someone was first, 103 malformed).
``ToolsModel`` is what every client knows of the tools, kept by the mirror from the saved
messages and events, and re-emitted as ``tools-*`` events. Times are the server's: the join
answer's ``serverTime`` gives this client's clock offset.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from tkroom.client import events as E
from tkroom.client.errors import BAD_PARAMETERS, ClientError

Request = Callable[[str, dict[str, Any]], Awaitable[Any]]
AppEvent = tuple[str, dict[str, Any]]

QUESTION, ANSWER, COUNT, RESULT = "Question", "AnswerCommit", "AnswerCount", "PublishResult"
BUZZER, PRESS, TIMER, DIAL, GIFT = "qiangDaQi", "QiangDaZhe", "timer", "dial", "sendgift"


def _remaining(st: Mapping[str, Any], server_now_ms: float) -> int:
    """What a timer state shows at the server's ``server_now_ms`` (the server's arithmetic)."""
    if st.get("state") != "running":
        return int(st.get("remaining_ms", 0))
    return int(max(0, st["remaining_ms"] - max(0, server_now_ms - st["since_ms"])))


class ToolsModel:
    """The tools as this client knows them: cards (question, newest live counts, result),
    the buzzer, the timer, the last pick, the trophy totals, and its own answers."""

    def __init__(self) -> None:
        self.offset_ms = 0.0          # server clock - this client's clock
        self._reset()
        self.my_answers: dict[str, list[int]] = {}

    def _reset(self) -> None:
        self.questions: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.buzzer: dict[str, Any] | None = None
        self.winner: dict[str, Any] | None = None
        self.timer: dict[str, Any] | None = None
        self.dial: dict[str, Any] | None = None
        self.gifts: dict[str, int] = {}

    def set_clock(self, server_time: Any, local_ms: float) -> None:
        if isinstance(server_time, int | float) and not isinstance(server_time, bool):
            self.offset_ms = server_time - local_ms

    def server_now(self) -> float:
        """The server's time now (ms), as this client estimates it."""
        return time.time() * 1000 + self.offset_ms

    def load(self, msgs: Iterable[dict[str, Any]], users: Mapping[str, dict[str, Any]]) -> None:
        """Rebuild from a join answer's saved messages and users (their ``giftnumber``)."""
        self._reset()
        for msg in msgs:
            self.pub(msg, [])
        for uid, u in users.items():
            n = u.get("properties", {}).get("giftnumber")
            if isinstance(n, int):
                self.gifts[uid] = n

    def pub(self, d: Mapping[str, Any], out: list[AppEvent]) -> None:
        name, data = d.get("name"), d.get("data")
        if not isinstance(data, dict):
            return
        qid = data.get("qid")
        if name == QUESTION and isinstance(qid, str):
            self.questions[qid] = dict(data)
            out.append((E.TOOLS_QUESTION, {"qid": qid, "question": dict(data)}))
        elif name == COUNT and isinstance(qid, str):
            cur = self.counts.get(qid)
            if cur is None or data.get("version", 0) > cur.get("version", 0):
                self.counts[qid] = dict(data)     # nodes send counts: older ones are dropped
                out.append((E.TOOLS_COUNT, dict(data)))
        elif name == RESULT and isinstance(qid, str):
            self.results[qid] = dict(data)
            mine = self.my_answers.get(qid)
            right = data.get("right")
            out.append((E.TOOLS_RESULT, {**data, "mine": mine,
                                         "correct": None if mine is None or right is None
                                         else sorted(mine) == sorted(right)}))
        elif name == BUZZER:
            self.buzzer, self.winner = dict(data), None
            out.append((E.TOOLS_BUZZER, {"armed": True, **data}))
        elif name == PRESS:
            self.winner = {"userid": d.get("fromID"), **data}
            out.append((E.TOOLS_WINNER, dict(self.winner)))
        elif name == TIMER:
            self.timer = dict(data)
            out.append((E.TOOLS_TIMER, dict(data)))
        elif name == DIAL:
            self.dial = dict(data)
            out.append((E.TOOLS_DIAL, dict(data)))
        elif name == GIFT and isinstance(data.get("totals"), dict):
            self.gifts.update(data["totals"])
            out.append((E.TOOLS_GIFT, {"fromID": d.get("fromID"), **data}))

    def delete(self, d: Mapping[str, Any], out: list[AppEvent]) -> None:
        mid = d.get("id")
        if not isinstance(mid, str):
            return
        if mid.startswith(QUESTION + "_"):
            qid = mid[len(QUESTION) + 1:]
            for kept in (self.questions, self.counts, self.results):
                kept.pop(qid, None)
            out.append((E.TOOLS_QUESTION, {"qid": qid, "question": None}))
        elif mid.startswith(RESULT + "_"):
            self.results.pop(mid[len(RESULT) + 1:], None)
        elif mid == BUZZER:
            self.buzzer, self.winner = None, None
            out.append((E.TOOLS_BUZZER, {"armed": False}))
        elif mid.startswith(PRESS + "_"):
            self.winner = None
        elif mid == TIMER:
            self.timer = None
            out.append((E.TOOLS_TIMER, {"state": None}))
        elif mid == DIAL:
            self.dial = None


class RoomTimer:
    """``room.tools.timer``: the room's countdown (one per room)."""

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[Any]], model: ToolsModel
                 ) -> None:
        self._send, self._model = send, model

    async def start(self, duration_s: int) -> dict[str, Any]:
        """Start (or restart) counting down ``duration_s`` seconds (1-86400)."""
        return await self._action("start", duration_s)

    async def pause(self) -> dict[str, Any]:
        return await self._action("pause")

    async def resume(self) -> dict[str, Any]:
        return await self._action("resume")

    async def reset(self, duration_s: int | None = None) -> dict[str, Any]:
        """Stop with the whole duration (or ``duration_s``) back on the clock."""
        return await self._action("reset", duration_s)

    async def _action(self, action: str, duration_s: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"action": action}
        if duration_s is not None:
            if isinstance(duration_s, bool) or not isinstance(duration_s, int):
                raise ClientError(BAD_PARAMETERS, "duration_s must be an integer of seconds")
            data["duration_s"] = duration_s
        ack = await self._send({"name": TIMER, "id": TIMER, "toID": "__all", "data": data})
        return dict(ack.get("timer", {}))

    @property
    def state(self) -> dict[str, Any] | None:
        """The timer's state as the server last stamped it, or None."""
        return dict(self._model.timer) if self._model.timer is not None else None

    def remaining(self) -> int:
        """Milliseconds left now, on the server's clock: the same on every screen."""
        st = self._model.timer
        return 0 if st is None else _remaining(st, self._model.server_now())


class RoomTools:
    """The classroom tools of a ``Room`` (``room.tools``)."""

    def __init__(self, request: Request, model: ToolsModel, self_id: Callable[[], str],
                 require_room: Callable[[], None]) -> None:
        self._request = request
        self._model = model
        self._self_id = self_id
        self._require_room = require_room
        self.timer = RoomTimer(self._pub, model)
        """The countdown: ``start``/``pause``/``resume``/``reset``, ``remaining()``."""

    async def _pub(self, msg: dict[str, Any]) -> dict[str, Any]:
        self._require_room()
        ack = await self._request("pubMsg", msg)
        return ack if isinstance(ack, dict) else {}

    # ---- answer card -------------------------------------------------------------------------

    async def ask(self, qid: str, options: list[str], *, multiple: bool = False,
                  right: list[int] | None = None, title: str | None = None,
                  limit_s: int | None = None) -> dict[str, Any]:
        """Ask a card (teacher, assistant): 2-8 option labels; ``right`` stays with the super
        users until the result is published; ``limit_s`` closes it to late answers."""
        data: dict[str, Any] = {"qid": qid, "options": list(options), "multiple": multiple}
        for k, v in (("right", right), ("title", title), ("limit_s", limit_s)):
            if v is not None:
                data[k] = v
        return await self._pub({"name": QUESTION, "id": f"{QUESTION}_{qid}", "toID": "__all",
                                "data": data})

    async def answer(self, qid: str, answer: list[int]) -> None:
        """Answer a card (student): option indices; a later answer replaces this one while
        the card is open. Kept locally for ``my_answer`` once the server took it."""
        picked = list(answer)
        await self._pub({"name": ANSWER, "id": ANSWER, "toID": "__none",
                         "data": {"qid": qid, "answer": picked}})
        self._model.my_answers[qid] = picked

    def my_answer(self, qid: str) -> list[int] | None:
        """This client's last accepted answer to the card, or None."""
        a = self._model.my_answers.get(qid)
        return list(a) if a is not None else None

    async def publish_result(self, qid: str) -> dict[str, Any]:
        """Close the card and show everyone the distribution (and ``right``)."""
        return await self._pub({"name": RESULT, "id": f"{RESULT}_{qid}", "toID": "__all",
                                "data": {"qid": qid}})

    async def remove_card(self, qid: str) -> None:
        self._require_room()
        await self._request("delMsg", {"id": f"{QUESTION}_{qid}", "toID": "__all"})

    def question(self, qid: str) -> dict[str, Any] | None:
        q = self._model.questions.get(qid)
        return dict(q) if q is not None else None

    def counts(self, qid: str) -> dict[str, Any] | None:
        """The newest live counts (super users): ``counts``, ``answered``, ``right``."""
        c = self._model.counts.get(qid)
        return dict(c) if c is not None else None

    def result(self, qid: str) -> dict[str, Any] | None:
        r = self._model.results.get(qid)
        return dict(r) if r is not None else None

    # ---- buzzer ------------------------------------------------------------------------------

    async def arm(self) -> int:
        """Arm the buzzer for a new round (teacher, assistant): the round's number."""
        ack = await self._pub({"name": BUZZER, "id": BUZZER, "toID": "__all", "data": {}})
        return int(ack.get("round", 0))

    async def disarm(self) -> None:
        self._require_room()
        await self._request("delMsg", {"id": BUZZER, "toID": "__all"})

    async def press(self, round: int | None = None) -> None:
        """Press the buzzer (student) for the armed round; ``ClientError`` 2602 says who was
        first, 4105 that it is not armed (or another round)."""
        rnd = round if round is not None else (self._model.buzzer or {}).get("round")
        if not isinstance(rnd, int):
            raise ClientError(BAD_PARAMETERS, "the buzzer is not armed")
        await self._pub({"name": PRESS, "id": f"{PRESS}_{self._self_id()}", "toID": "__all",
                         "associatedMsgID": BUZZER, "data": {"round": rnd}})

    @property
    def buzzer(self) -> dict[str, Any] | None:
        """The armed round (``round``, ``armed_at``) or None; ``winner`` below."""
        return dict(self._model.buzzer) if self._model.buzzer is not None else None

    @property
    def winner(self) -> dict[str, Any] | None:
        return dict(self._model.winner) if self._model.winner is not None else None

    # ---- random pick and trophies ------------------------------------------------------------

    async def dial(self) -> dict[str, Any]:
        """Pick a present student at random (the server's choice): ``userid``, ``nickname``."""
        ack = await self._pub({"name": DIAL, "id": DIAL, "toID": "__all", "data": {}})
        return {k: ack[k] for k in ("userid", "nickname", "picked_at") if k in ack}

    async def send_gift(self, receivers: list[str] | str) -> dict[str, int]:
        """One trophy to each receiver (present students): their new totals."""
        rec = [receivers] if isinstance(receivers, str) else list(receivers)
        ack = await self._pub({"name": GIFT, "id": GIFT, "toID": "__all",
                               "data": {"receivers": rec}})
        return dict(ack.get("totals", {}))

    @property
    def picked(self) -> dict[str, Any] | None:
        """The last random pick (``userid``, ``nickname``, ``picked_at``), or None."""
        return dict(self._model.dial) if self._model.dial is not None else None

    def gifts(self, userid: str) -> int:
        """Trophies the user holds in this class."""
        return self._model.gifts.get(userid, 0)

    def server_now(self) -> float:
        """The server's clock now (epoch ms), as this client estimates it."""
        return self._model.server_now()

