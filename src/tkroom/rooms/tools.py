"""The classroom tools' rules (docs/tools.md): answer card, buzzer, timer, random pick, trophies.

Pure: no I/O, times passed in. ``check_pubmsg``/``check_delmsg`` say whether a message is a
tool's and what it asks for (who may send it, what it must look like); the tool-state
transitions (``open_card``, ``answer_card``, ``press`` ...) are the reference semantics of the
atomic ``RoomState`` operations, which the memory backend calls directly and the Redis backend
mirrors in Lua. The timer's arithmetic and the live-count coalescing decision live here too.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tkroom.rooms.model import STUDENT, SUPER_ROLES, Member, Target
from tkroom.rooms.rules import SERVER_ID, fail, parse_target

QUESTION, ANSWER, COUNT, RESULT = "Question", "AnswerCommit", "AnswerCount", "PublishResult"
BUZZER, PRESS, TIMER, DIAL, GIFT = "qiangDaQi", "QiangDaZhe", "timer", "dial", "sendgift"
TOOL_NAMES = frozenset((QUESTION, ANSWER, RESULT, BUZZER, PRESS, TIMER, DIAL, GIFT))
# the ids a plain message may not take: they carry the server's decisions
_TOOL_PREFIXES = (QUESTION + "_", COUNT + "_", RESULT + "_", PRESS + "_")
_TOOL_IDS = frozenset((BUZZER, TIMER, DIAL, GIFT, ANSWER))

NOT_OPEN = 4105         # the tool is not open: no such card, closed, late, buzzer not armed
ALREADY_WON = 2602      # the buzzer's round already has its winner
FORBIDDEN = 4108

QID = re.compile(r"[A-Za-z0-9_-]{1,32}")
MIN_OPTIONS, MAX_OPTIONS = 2, 8
OPTION_MAX, TITLE_MAX = 64, 512
LIMIT_MAX_S = 3600
DURATION_MAX_S = 86_400
MAX_RECEIVERS = 100
MAX_CARDS = 1000        # cards one room may ask (their ids are remembered, to refuse reuse)
TOOL_RATE = 10          # AnswerCommit / QiangDaZhe a second per user
COUNT_GAP_MS = 200      # live counts: at most one per room per node this often
TIMER_ACTIONS = ("start", "pause", "resume", "reset")


@dataclass(frozen=True, slots=True)
class Action:
    """What a tool message asks for. ``kind``: ask, answer, publish, arm, press, timer, dial,
    gift. ``msg`` is the message as it will be saved/sent (the server completes ``data``);
    ``question`` is the full card (with ``right``) that the tool state keeps."""

    kind: str
    msg: dict[str, Any]
    target: Target
    qid: str = ""
    answer: tuple[int, ...] = ()
    question: dict[str, Any] = field(default_factory=dict)
    round: int = 0
    timer: str = ""
    duration_ms: int = 0
    receivers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolDelete:
    """A ``delMsg`` of a tool's message: ``kind`` card (``qid``), buzzer, press or other."""

    kind: str
    msg: dict[str, Any]
    target: Target
    qid: str = ""


def is_tool_id(mid: str) -> bool:
    return mid in _TOOL_IDS or mid.startswith(_TOOL_PREFIXES)


def check_not_tool(msg: dict[str, Any]) -> None:
    """Plain messages keep off the tools' ids (a student saving ``QiangDaZhe_<uid>`` itself
    would claim a buzzer it never won)."""
    am = msg.get("associatedMsgID")
    if is_tool_id(msg["id"]) or (isinstance(am, str) and is_tool_id(am)):
        raise fail(103, f"{msg['id']!r} is a classroom tool's id: send it as the tool's message")


def _super(sender: Member, what: str) -> None:
    if sender.role not in SUPER_ROLES:
        raise fail(FORBIDDEN, f"only the teacher and assistants {what}")


def _student(sender: Member, what: str) -> None:
    if sender.role != STUDENT:
        raise fail(FORBIDDEN, f"only students {what}")


def _obj(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise fail(103, f"{what} must be an object")
    return v


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise fail(103, f"{what} must be an integer in {lo}..{hi}")
    return v


def check_qid(v: Any) -> str:
    if not isinstance(v, str) or not QID.fullmatch(v):
        raise fail(103, "qid must be 1-32 characters of A-Z a-z 0-9 _ -")
    return v


def check_indices(v: Any, n: int, multiple: bool, what: str) -> tuple[int, ...]:
    """Option indices ``0..n-1``, unique, exactly one unless ``multiple`` (103 otherwise)."""
    if not isinstance(v, list) or not v or len(v) > n:
        raise fail(103, f"{what} must be a non-empty list of at most {n} option indices")
    out = tuple(_int(i, f"{what}'s entries", 0, n - 1) for i in v)
    if len(set(out)) != len(out):
        raise fail(103, f"{what} lists an option twice")
    if not multiple and len(out) != 1:
        raise fail(103, f"{what} must hold exactly one option (the card is single choice)")
    return tuple(sorted(out))


def _base(name: str, mid: str, sender: Member, now_ms: int, toid: str = "__all",
          save: bool = True) -> dict[str, Any]:
    return {"name": name, "id": mid, "toID": toid, "fromID": sender.userid, "ts": now_ms,
            "save": save}


def _check_id(data: dict[str, Any], want: str) -> None:
    if data.get("id", want) != want:
        raise fail(103, f"the id of this message is {want!r}")


def check_pubmsg(sender: Member, data: Any, now_ms: int) -> Action | None:
    """A ``pubMsg`` of a tool checked (4108 forbidden, 103 malformed), or None when it is not
    a tool's message. Tool messages go where the tool says, whatever ``toID`` asked."""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in TOOL_NAMES:
        return None
    assert isinstance(data, dict)
    payload = _obj(data.get("data", {}), f"{name} data")
    all_ = parse_target("__all", sender.userid)
    if name == QUESTION:
        _super(sender, "ask a question")
        return _ask(sender, data, payload, now_ms, all_)
    if name == ANSWER:
        _student(sender, "answer a card")
        _check_id(data, ANSWER)
        qid = check_qid(payload.get("qid"))
        ans = payload.get("answer")
        if not isinstance(ans, list) or not ans or len(ans) > MAX_OPTIONS:
            raise fail(103, f"answer must be a non-empty list of at most {MAX_OPTIONS} indices")
        picked = check_indices(ans, MAX_OPTIONS, True, "answer")
        msg = _base(ANSWER, ANSWER, sender, now_ms, "__none", False)
        msg["data"] = {"qid": qid, "answer": list(picked)}
        return Action("answer", msg, parse_target("__none", sender.userid), qid, picked)
    if name == RESULT:
        _super(sender, "publish a result")
        qid = check_qid(payload.get("qid"))
        _check_id(data, f"{RESULT}_{qid}")
        msg = _base(RESULT, f"{RESULT}_{qid}", sender, now_ms)
        msg["associatedMsgID"] = f"{QUESTION}_{qid}"
        return Action("publish", msg, all_, qid)
    if name == BUZZER:
        _super(sender, "arm the buzzer")
        _check_id(data, BUZZER)
        return Action("arm", _base(BUZZER, BUZZER, sender, now_ms), all_)
    if name == PRESS:
        _student(sender, "press the buzzer")
        _check_id(data, f"{PRESS}_{sender.userid}")
        rnd = _int(payload.get("round"), "round", 1, 2**53)
        msg = _base(PRESS, f"{PRESS}_{sender.userid}", sender, now_ms)
        msg["associatedMsgID"] = BUZZER
        return Action("press", msg, all_, round=rnd)
    if name == TIMER:
        _super(sender, "run the timer")
        _check_id(data, TIMER)
        action = payload.get("action")
        if action not in TIMER_ACTIONS:
            raise fail(103, f"the timer's action is one of {', '.join(TIMER_ACTIONS)}")
        duration = 0
        if action == "start" or payload.get("duration_s") is not None:
            duration = _int(payload.get("duration_s"), "duration_s", 1, DURATION_MAX_S) * 1000
        return Action("timer", _base(TIMER, TIMER, sender, now_ms), all_, timer=action,
                      duration_ms=duration)
    if name == DIAL:
        _super(sender, "pick a student")
        _check_id(data, DIAL)
        return Action("dial", _base(DIAL, DIAL, sender, now_ms), all_)
    _super(sender, "give trophies")
    _check_id(data, GIFT)
    rec = payload.get("receivers")
    if not isinstance(rec, list) or not 1 <= len(rec) <= MAX_RECEIVERS \
            or not all(isinstance(u, str) and 0 < len(u) <= 256 for u in rec) \
            or len(set(rec)) != len(rec):
        raise fail(103, f"receivers must be a list of 1-{MAX_RECEIVERS} distinct user ids")
    return Action("gift", _base(GIFT, GIFT, sender, now_ms, save=False), all_,
                  receivers=tuple(rec))


def _ask(sender: Member, data: dict[str, Any], payload: dict[str, Any], now_ms: int,
         target: Target) -> Action:
    qid = check_qid(payload.get("qid"))
    _check_id(data, f"{QUESTION}_{qid}")
    opts = payload.get("options")
    if not isinstance(opts, list) or not MIN_OPTIONS <= len(opts) <= MAX_OPTIONS or \
            not all(isinstance(o, str) and len(o) <= OPTION_MAX for o in opts):
        raise fail(103, f"options must be {MIN_OPTIONS}-{MAX_OPTIONS} labels of at most "
                        f"{OPTION_MAX} characters")
    multiple = payload.get("multiple", False)
    if not isinstance(multiple, bool):
        raise fail(103, "multiple must be true or false")
    public: dict[str, Any] = {"qid": qid, "options": list(opts), "multiple": multiple}
    title = payload.get("title")
    if title is not None:
        if not isinstance(title, str) or len(title) > TITLE_MAX:
            raise fail(103, f"title must be a string of at most {TITLE_MAX} characters")
        public["title"] = title
    if payload.get("limit_s") is not None:
        public["limit_s"] = _int(payload["limit_s"], "limit_s", 1, LIMIT_MAX_S)
    public["asked_at"] = now_ms
    question = dict(public)
    if payload.get("right") is not None:
        question["right"] = list(check_indices(payload["right"], len(opts), multiple, "right"))
    msg = _base(QUESTION, f"{QUESTION}_{qid}", sender, now_ms)
    msg["data"] = public
    return Action("ask", msg, target, qid, question=question)


def check_delmsg(sender: Member, data: Any, now_ms: int) -> ToolDelete | None:
    """A ``delMsg`` of a tool's message (the super users' alone, 4108), or None."""
    mid = data.get("id", data.get("name")) if isinstance(data, dict) else None
    if not isinstance(mid, str) or not is_tool_id(mid):
        return None
    assert isinstance(data, dict)
    _super(sender, f"remove {mid}")
    name = mid.split("_", 1)[0] if "_" in mid else mid
    msg = {"name": name, "id": mid, "toID": "__all", "data": {}, "fromID": sender.userid,
           "ts": now_ms}
    target = parse_target("__all", sender.userid)
    if mid.startswith(QUESTION + "_"):
        return ToolDelete("card", msg, target, check_qid(mid[len(QUESTION) + 1:]))
    if mid == BUZZER:
        return ToolDelete("buzzer", msg, target)
    return ToolDelete("other", msg, target)


# the tool state: reference transitions ------------------------------------------------------
@dataclass(slots=True)
class OpenCard:
    """The room's open card: its question (with ``right``), tally and answers."""

    qid: str
    question: dict[str, Any]
    counts: list[int]
    answers: dict[str, tuple[int, ...]] = field(default_factory=dict)
    version: int = 0

    @property
    def deadline_ms(self) -> int:
        limit = self.question.get("limit_s")
        return self.question["asked_at"] + limit * 1000 if limit else 0


@dataclass(frozen=True, slots=True)
class ClosedCard:
    """A card as it closed: what the store keeps and ``PublishResult`` announces."""

    qid: str
    question: dict[str, Any]
    counts: list[int]
    answers: dict[str, list[int]]

    @property
    def answered(self) -> int:
        return len(self.answers)


@dataclass(frozen=True, slots=True)
class Tally:
    """An answer's outcome: ``code`` 0 (then the card's counts after it, and its ``version``,
    which grows with every accepted answer), 4105 or 103 with ``detail``."""

    code: int
    counts: tuple[int, ...] = ()
    answered: int = 0
    version: int = 0
    detail: str = ""
    right: tuple[int, ...] = ()          # the card's right answer, for the super users' counts


@dataclass(frozen=True, slots=True)
class Press:
    """A buzzer press: ``code`` 0 (this user won), 2602 (``winner`` won), 4105 (not armed or
    another round); ``pressed_at`` of the winning press."""

    code: int
    winner: str = ""
    pressed_at: int = 0


@dataclass(slots=True)
class ToolData:
    """A room's tool state (what must be exact across nodes)."""

    used: set[str] = field(default_factory=set)
    card: OpenCard | None = None
    round: int = 0
    armed: int = 0                   # the armed round, 0 = not armed
    winner: str = ""
    pressed_at: int = 0
    gifts: dict[str, int] = field(default_factory=dict)


def _closed(card: OpenCard) -> ClosedCard:
    return ClosedCard(card.qid, card.question, list(card.counts),
                      {u: list(a) for u, a in card.answers.items()})


def open_card(td: ToolData, question: dict[str, Any]) -> tuple[int, ClosedCard | None]:
    """Open a card (``question`` as ``Action.question``): 103 when its ``qid`` was used in
    this room or the room asked ``MAX_CARDS`` already; the card it replaces is closed and
    returned (its answers to be stored)."""
    qid = question["qid"]
    if qid in td.used or len(td.used) >= MAX_CARDS:
        return 103, None
    prev = _closed(td.card) if td.card is not None else None
    td.used.add(qid)
    td.card = OpenCard(qid, question, [0] * len(question["options"]))
    return 0, prev


def answer_card(td: ToolData, qid: str, userid: str, answer: tuple[int, ...],
                now_ms: int) -> Tally:
    """Count one student's answer, replacing its earlier one while the card is open."""
    card = td.card
    if card is None or card.qid != qid:
        return Tally(NOT_OPEN, detail=f"no open card {qid!r}")
    if card.deadline_ms and now_ms > card.deadline_ms:
        return Tally(NOT_OPEN, detail=f"the card {qid!r} took answers until its time limit")
    n = len(card.counts)
    if answer[-1] >= n or (not card.question["multiple"] and len(answer) != 1):
        return Tally(103, detail=f"the card has {n} options and takes "
                                 f"{'one or more' if card.question['multiple'] else 'one'}")
    for i in card.answers.get(userid, ()):
        card.counts[i] -= 1
    for i in answer:
        card.counts[i] += 1
    card.answers[userid] = answer
    card.version += 1
    return Tally(0, tuple(card.counts), len(card.answers), card.version,
                 right=tuple(card.question.get("right", ())))


def close_card(td: ToolData, qid: str) -> ClosedCard | None:
    """Close the open card ``qid`` (None when it is not the open card)."""
    card = td.card
    if card is None or card.qid != qid:
        return None
    td.card = None
    return _closed(card)


def arm(td: ToolData) -> tuple[int, str]:
    """Arm the buzzer for a new round: ``(round, the last round's winner or "")``."""
    prev = td.winner
    td.round += 1
    td.armed, td.winner, td.pressed_at = td.round, "", 0
    return td.round, prev


def press(td: ToolData, rnd: int, userid: str, now_ms: int) -> Press:
    """The first press of the armed round wins; later ones learn who did."""
    if not td.armed or rnd != td.armed:
        return Press(NOT_OPEN)
    if td.winner:
        return Press(ALREADY_WON, td.winner, td.pressed_at)
    td.winner, td.pressed_at = userid, now_ms
    return Press(0, userid, now_ms)


def disarm(td: ToolData) -> str:
    """Disarm the buzzer; answers the winner whose message goes with it ("" = none)."""
    prev = td.winner
    td.armed, td.winner, td.pressed_at = 0, "", 0
    return prev


def give(td: ToolData, receivers: Iterable[str]) -> dict[str, int]:
    """One trophy to each receiver: their new totals."""
    out = {}
    for u in receivers:
        td.gifts[u] = out[u] = td.gifts.get(u, 0) + 1
    return out


# server-side checks and messages ------------------------------------------------------------
def check_receivers(receivers: Iterable[str], members: Iterable[Member]) -> None:
    """Trophies go to present students only (4105 names the first one that is not)."""
    students = {m.userid for m in members if m.role == STUDENT}
    for u in receivers:
        if u not in students:
            raise fail(NOT_OPEN, f"{u!r} is not a student in the room")


def dial_candidates(members: Iterable[Member]) -> list[Member]:
    """Who the random pick chooses among: the students present."""
    return [m for m in members if m.role == STUDENT]


def count_message(qid: str, tally: Tally, right: list[int] | None, now_ms: int) -> dict[str, Any]:
    """The live ``AnswerCount`` for super users (they may see ``right``); ``version`` lets a
    client drop an older count arriving after a newer one (two nodes send them)."""
    data: dict[str, Any] = {"qid": qid, "counts": list(tally.counts), "answered": tally.answered,
                            "version": tally.version}
    if right is not None:
        data["right"] = right
    return {"name": COUNT, "id": f"{COUNT}_{qid}", "toID": "__allSuperUsers",
            "fromID": SERVER_ID, "ts": now_ms, "save": False, "data": data}


def result_data(closed: ClosedCard) -> dict[str, Any]:
    data: dict[str, Any] = {"qid": closed.qid, "counts": closed.counts,
                            "answered": closed.answered}
    if "right" in closed.question:
        data["right"] = closed.question["right"]
    return data


# the countdown timer ------------------------------------------------------------------------
def timer_of(saved: dict[str, Any] | None) -> dict[str, Any] | None:
    """The timer state of the saved ``timer`` message (None: none, or not one the server
    stamped: a message saved under that id before the timer had rules)."""
    st = saved.get("data") if saved is not None else None
    if not isinstance(st, dict) or st.get("state") not in ("running", "paused", "stopped",
                                                            "ended"):
        return None
    for k in ("duration_ms", "remaining_ms", "since_ms"):
        if isinstance(st.get(k), bool) or not isinstance(st.get(k), int):
            return None
    return st


def timer_remaining(st: dict[str, Any], now_ms: int) -> int:
    """Milliseconds left on a timer state at ``now_ms`` (never below 0, never above what it
    had at ``since_ms``: a client clock estimated a little behind shows no extra time)."""
    if st.get("state") != "running":
        return int(st.get("remaining_ms", 0))
    return max(0, int(st["remaining_ms"]) - max(0, now_ms - int(st["since_ms"])))


def timer_apply(current: dict[str, Any] | None, action: str, duration_ms: int,
                now_ms: int) -> dict[str, Any]:
    """The timer's next state (4105 when the action does not apply to the current state:
    pausing a timer that does not run, resuming one not paused, resetting none)."""
    if current is not None and current.get("state") == "running" \
            and timer_remaining(current, now_ms) == 0:
        current = timer_ended(current)
    if action == "start":
        return {"state": "running", "duration_ms": duration_ms, "remaining_ms": duration_ms,
                "since_ms": now_ms}
    if action == "pause":
        if current is None or current.get("state") != "running":
            raise fail(NOT_OPEN, "the timer is not running")
        return {**current, "state": "paused", "remaining_ms": timer_remaining(current, now_ms),
                "since_ms": now_ms}
    if action == "resume":
        if current is None or current.get("state") != "paused":
            raise fail(NOT_OPEN, "the timer is not paused")
        return {**current, "state": "running", "since_ms": now_ms}
    if current is None and not duration_ms:
        raise fail(NOT_OPEN, "no timer to reset (give duration_s)")
    total = duration_ms or (int(current["duration_ms"]) if current is not None else 0)
    return {"state": "stopped", "duration_ms": total, "remaining_ms": total, "since_ms": now_ms}


def timer_ended(st: dict[str, Any]) -> dict[str, Any]:
    """A running timer's state once it reached zero (``since_ms``: when it did)."""
    return {**st, "state": "ended", "remaining_ms": 0,
            "since_ms": int(st["since_ms"]) + int(st["remaining_ms"])}


# live counts: the coalescing decision -------------------------------------------------------
class Coalescer:
    """At most one send per key every ``gap_ms``, the trailing one always sent: ``offer`` says
    when to send (0 = now, n = in n ms, None = a send is already due and will carry the
    latest); the sender calls ``taken`` when it reads what to send. Keys quiet for a gap are
    forgotten, so it holds only the rooms counting right now."""

    def __init__(self, gap_ms: int = COUNT_GAP_MS) -> None:
        self.gap_ms = gap_ms
        self._last: OrderedDict[Hashable, int] = OrderedDict()   # oldest send first
        self._due: set[Hashable] = set()

    def offer(self, key: Hashable, now_ms: int) -> int | None:
        if key in self._due:
            return None
        while self._last:
            first, at = next(iter(self._last.items()))
            if now_ms - at < self.gap_ms:
                break
            del self._last[first]
        self._due.add(key)
        last = self._last.get(key)
        return 0 if last is None else max(0, last + self.gap_ms - now_ms)

    def taken(self, key: Hashable, now_ms: int) -> None:
        self._due.discard(key)
        self._last.pop(key, None)
        self._last[key] = now_ms

    def __len__(self) -> int:
        return len(self._last) + len(self._due)
