"""The classroom tools' rules without sockets (docs/tools.md): who may act, what a message must
look like, the tool-state transitions, the timer's arithmetic and the live-count coalescing."""

from __future__ import annotations

import pytest

from tkroom.errors import CodeError
from tkroom.rooms import tools
from tkroom.rooms.model import new_member

T, A, S, V, INSP = (new_member(u, r, u.upper(), f"s-{u}", {}, 0)
                 for u, r in (("t", 0), ("a", 1), ("s", 2), ("v", 3), ("i", 4)))


def code_of(fn, *args) -> int:
    with pytest.raises(CodeError) as e:
        fn(*args)
    return e.value.code


def ask(qid="q1", **data):
    return {"name": "Question", "id": f"Question_{qid}", "toID": "__all",
            "data": {"qid": qid, "options": ["A", "B", "C"], **data}}


ANSWER = {"name": "AnswerCommit", "id": "AnswerCommit", "data": {"qid": "q1", "answer": [1]}}
PRESS = {"name": "QiangDaZhe", "id": "QiangDaZhe_s", "data": {"round": 1}}


@pytest.mark.parametrize("msg, allowed", [
    (ask(), {0, 1}),
    (ANSWER, {2}),
    ({"name": "PublishResult", "id": "PublishResult_q1", "data": {"qid": "q1"}}, {0, 1}),
    ({"name": "qiangDaQi", "id": "qiangDaQi", "data": {}}, {0, 1}),
    ({"name": "timer", "id": "timer", "data": {"action": "start", "duration_s": 5}}, {0, 1}),
    ({"name": "dial", "id": "dial", "data": {}}, {0, 1}),
    ({"name": "sendgift", "id": "sendgift", "data": {"receivers": ["s"]}}, {0, 1}),
])
def test_who_may_act(msg, allowed):
    for m in (T, A, S, V, INSP):
        if m.role in allowed:
            assert tools.check_pubmsg(m, msg, 5) is not None
        else:
            assert code_of(tools.check_pubmsg, m, msg, 5) == 4108, m.role


def test_only_the_presser_itself_and_only_students_press():
    assert tools.check_pubmsg(S, PRESS, 5).round == 1
    other = {**PRESS, "id": "QiangDaZhe_x"}
    assert code_of(tools.check_pubmsg, S, other, 5) == 103
    for m in (T, A, V, INSP):
        assert code_of(tools.check_pubmsg, m, {**PRESS, "id": f"QiangDaZhe_{m.userid}"}, 5) \
            == 4108


@pytest.mark.parametrize("data", [
    {"options": ["A"]},                                     # too few
    {"options": [str(i) for i in range(9)]},                # too many
    {"options": ["x" * 65, "B"]},                           # too long
    {"options": ["A", 2]},
    {"multiple": "yes"},
    {"title": "t" * 513},
    {"right": [3]},                                         # no option 3
    {"right": [0, 1]},                                      # single choice
    {"right": [0, 0], "multiple": True},
    {"limit_s": 0},
    {"limit_s": 3601},
    {"qid": "bad qid"},
    {"qid": "x" * 33},
])
def test_malformed_cards_are_103(data):
    msg = ask(**{k: v for k, v in data.items() if k != "qid"})
    if "qid" in data:
        msg["data"]["qid"] = data["qid"]
    assert code_of(tools.check_pubmsg, T, msg, 5) == 103


def test_the_right_answer_stays_out_of_the_public_card():
    a = tools.check_pubmsg(T, ask(right=[0, 2], multiple=True, title="Which?", limit_s=30), 77)
    assert "right" not in a.msg["data"] and a.question["right"] == [0, 2]
    assert a.msg["data"] == {"qid": "q1", "options": ["A", "B", "C"], "multiple": True,
                             "title": "Which?", "limit_s": 30, "asked_at": 77}
    assert a.msg["save"] is True and a.target.kind == "all"


@pytest.mark.parametrize("answer", [[], [1, 1], [-1], [8], ["1"], 1, [True]])
def test_malformed_answers_are_103(answer):
    msg = {**ANSWER, "data": {"qid": "q1", "answer": answer}}
    assert code_of(tools.check_pubmsg, S, msg, 5) == 103


def test_plain_messages_keep_off_tool_ids_and_deleting_tools_is_super_only():
    for mid in ("Question_q", "QiangDaZhe_s", "qiangDaQi", "timer", "AnswerCount_q",
                "PublishResult_q", "dial", "sendgift"):
        assert code_of(tools.check_not_tool, {"id": mid}) == 103
        assert code_of(tools.check_delmsg, S, {"id": mid}, 5) == 4108
        assert tools.check_delmsg(A, {"id": mid}, 5) is not None
    tools.check_not_tool({"id": "Question"})            # not the card's prefix
    assert tools.check_delmsg(S, {"id": "other"}, 5) is None
    assert tools.check_delmsg(T, {"id": "Question_q7"}, 5).qid == "q7"


def test_card_transitions():
    td = tools.ToolData()
    q = tools.check_pubmsg(T, ask(right=[1], limit_s=10), 1000).question
    assert tools.open_card(td, q) == (0, None)
    assert tools.open_card(td, q)[0] == 103
    assert tools.answer_card(td, "q1", "s", (1,), 2000).counts == (0, 1, 0)
    changed = tools.answer_card(td, "q1", "s", (2,), 3000)
    assert changed.counts == (0, 0, 1) and changed.answered == 1 and changed.version == 2
    assert changed.right == (1,)
    assert tools.answer_card(td, "q1", "u", (0,), 11_001).code == 4105   # past asked+10 s
    assert tools.answer_card(td, "q1", "u", (0,), 11_000).code == 0
    assert tools.answer_card(td, "q1", "u", (3,), 5000).code == 103
    closed = tools.close_card(td, "q1")
    assert closed.answers == {"s": [2], "u": [0]} and closed.answered == 2
    assert tools.result_data(closed) == {"qid": "q1", "counts": [1, 0, 1], "answered": 2,
                                         "right": [1]}
    assert tools.answer_card(td, "q1", "s", (1,), 5000).code == 4105
    assert tools.close_card(td, "q1") is None


def test_buzzer_and_gifts():
    td = tools.ToolData()
    assert tools.press(td, 1, "s", 5).code == 4105
    assert tools.arm(td) == (1, "")
    assert tools.press(td, 1, "s", 5) == tools.Press(0, "s", 5)
    assert tools.press(td, 1, "u", 6) == tools.Press(2602, "s", 5)
    assert tools.arm(td) == (2, "s")
    assert tools.disarm(td) == ""
    assert tools.give(td, ["s", "u"]) == {"s": 1, "u": 1}
    assert tools.give(td, ["s"]) == {"s": 2}


def test_receivers_must_be_present_students():
    tools.check_receivers(["s"], [T, S, V])
    assert code_of(tools.check_receivers, ["v"], [T, S, V]) == 4105
    assert code_of(tools.check_receivers, ["gone"], [T, S, V]) == 4105
    assert [m.userid for m in tools.dial_candidates([T, A, S, V, INSP])] == ["s"]


def test_timer_arithmetic():
    a = tools.check_pubmsg(T, {"name": "timer", "data": {"action": "start", "duration_s": 60}}, 0)
    st = tools.timer_apply(None, a.timer, a.duration_ms, 1000)
    assert st == {"state": "running", "duration_ms": 60_000, "remaining_ms": 60_000,
                  "since_ms": 1000}
    assert tools.timer_remaining(st, 11_000) == 50_000
    paused = tools.timer_apply(st, "pause", 0, 21_000)
    assert paused["state"] == "paused" and paused["remaining_ms"] == 40_000
    assert tools.timer_remaining(paused, 99_000) == 40_000
    assert code_of(tools.timer_apply, paused, "pause", 0, 22_000) == 4105
    resumed = tools.timer_apply(paused, "resume", 0, 30_000)
    assert tools.timer_remaining(resumed, 40_000) == 30_000
    assert tools.timer_remaining(resumed, 80_000) == 0
    ended = tools.timer_ended(resumed)
    assert ended["state"] == "ended" and ended["since_ms"] == 70_000
    # a timer that ran out cannot be paused; reset puts the whole duration back
    assert code_of(tools.timer_apply, resumed, "pause", 0, 80_000) == 4105
    reset = tools.timer_apply(resumed, "reset", 0, 80_000)
    assert reset == {"state": "stopped", "duration_ms": 60_000, "remaining_ms": 60_000,
                     "since_ms": 80_000}
    assert code_of(tools.timer_apply, None, "reset", 0, 1) == 4105
    assert code_of(tools.check_pubmsg, T, {"name": "timer", "data": {"action": "start"}}, 0) \
        == 103
    assert code_of(tools.check_pubmsg, T, {"name": "timer", "data": {"action": "stop"}}, 0) \
        == 103


def test_counts_are_coalesced_with_a_trailing_send():
    c = tools.Coalescer(200)
    assert c.offer("r", 1000) == 0              # the first goes at once
    assert c.offer("r", 1001) is None           # already due
    c.taken("r", 1002)
    assert c.offer("r", 1050) == 152            # the trailing one, a gap after the last
    assert c.offer("r", 1100) is None
    c.taken("r", 1202)
    assert c.offer("r", 1500) == 0              # quiet for a gap: at once again
    assert c.offer("other", 1500) == 0          # rooms are independent
    c.taken("r", 1500)
    c.taken("other", 1500)
    c.offer("x", 5000)
    assert len(c) == 1                          # quiet rooms forgotten


def test_a_timer_message_the_server_did_not_stamp_is_no_timer():
    assert tools.timer_of(None) is None
    assert tools.timer_of({"data": {"t": 1}}) is None
    assert tools.timer_of({"data": {"state": "running", "duration_ms": 1, "remaining_ms": "1",
                                    "since_ms": 0}}) is None
    st = {"state": "paused", "duration_ms": 5, "remaining_ms": 3, "since_ms": 9}
    assert tools.timer_of({"data": st}) == st
