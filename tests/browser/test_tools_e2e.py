"""The classroom tools in Debian's Chromium (docs/tools.md, docs/classroom.md): a teacher runs
an answer card and a countdown, two students answer in their browsers (one on a phone), the
buzzer has one winner, trophies and a random pick reach everyone; a live viewer sees results
and an inspector sees everything with no controls. A real node (no media: the tools need
none) on 127.0.0.1; the server's tool rules decide every outcome.

Screenshots go to test-output/browser/<test name>/ (printed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from browser.classnode import PASSWORDS, ClassNode
from browser.conftest import OUTPUT, need_node_modules
from browser.test_classroom_e2e import Person, wait_until
from browser.test_page import run_axe

pytestmark = [pytest.mark.browser]

# A student whose computer clock is seven minutes fast: the countdown must not care.
SKEWED_CLOCK = "(() => { const real = Date.now; Date.now = () => real() + 7 * 60 * 1000; })();"


@pytest.fixture(scope="module")
def tools_node(tmp_path_factory) -> Iterator[ClassNode]:
    with ClassNode(None, None, tmp_path_factory.mktemp("toolsnode")) as node:
        yield node


@pytest.fixture(scope="module")
def chromium(playwright_instance, chromium_path):
    from browser.conftest import launch

    b = launch(playwright_instance, chromium_path)
    yield b
    b.close()


def seconds(text: str) -> int:
    m = re.search(r"(\d+):(\d\d)", text)
    assert m, f"no mm:ss in {text!r}"
    return int(m.group(1)) * 60 + int(m.group(2))


def faces(a: Person, b: Person) -> tuple[int, int]:
    """The two timer faces, read as close together as the test can."""
    return seconds(a.page.inner_text("#timer-face")), seconds(b.page.inner_text("#timer-face"))


def counts(p: Person) -> list[int]:
    return [int(x) for x in p.page.locator("#tool-quiz .count").evaluate_all("els => els.map(e => e.dataset.count)")]


def choose(p: Person, *indices: int) -> None:
    for i in indices:
        p.page.click(f'#tool-quiz li[data-index="{i}"] [data-action="quiz-choose"]')
    p.page.click('#tool-quiz [data-action="quiz-send"]')


def test_quiz_timer_and_roles(tools_node: ClassNode, chromium, request):
    node = tools_node
    serial = node.create_room("Biology", allowsidelineuser=1, sidelineuserpwd="watch1234")
    url = f"{node.url}/room/{serial}"
    out = OUTPUT / request.node.name
    out.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {out}")

    teacher = Person(chromium, url, bypass_csp=True)
    ann = Person(chromium, url, init_script=SKEWED_CLOCK)
    # Bob is on a phone, in Chinese.
    bob = Person(chromium, url, locale="zh-CN", has_touch=True, is_mobile=True, bypass_csp=True)
    bob.page.set_viewport_size({"width": 390, "height": 844})
    people = [teacher, ann, bob]
    try:
        teacher.join("Ms Darwin", PASSWORDS["chairmanpwd"])
        ann.join("Ann", PASSWORDS["confuserpwd"])
        b_id = bob.join("Bob", PASSWORDS["confuserpwd"])
        inspector = Person(chromium, url)
        people.append(inspector)
        inspector.join("Inspector", PASSWORDS["patrolpwd"])
        live = Person(chromium, f"{url}?userrole=3")
        people.append(live)
        live.join("Viewer", "watch1234")
        assert live.eval("tkroomPage.room.getMySelf().properties.role") == 3

        # The teacher composes a one-answer card with B right; A-D are the labels by default.
        teacher.click("quiz-new")
        teacher.page.fill("#quiz-title", "Which organelle makes ATP?")
        labels = ["Nucleus", "Mitochondrion", "Ribosome", "Vacuole"]
        for i, text in enumerate(labels):
            teacher.page.get_by_label(f"Option {'ABCD'[i]}", exact=True).fill(text)
        teacher.page.get_by_label("Option B is right").check()
        need_node_modules()
        assert run_axe(teacher.page) == []  # the form, labelled for screen readers
        teacher.page.click('#quiz-compose [data-action="quiz-ask"]')
        expect(teacher.page.locator("#quiz-compose")).to_be_hidden()

        for p in (ann, bob):
            expect(p.page.locator("#tool-quiz .quiz-title")).to_have_text("Which organelle makes ATP?", timeout=15000)
            expect(p.page.locator('#tool-quiz [data-action="quiz-choose"]')).to_have_count(4)
        # The right answer is not in the students' copy before the result.
        assert ann.eval("tkroomPage.room.tools.currentCard().question.right") is None
        # Nobody but the students may answer: the live viewer and the inspector get no buttons.
        for p in (live, inspector):
            expect(p.page.locator("#tool-quiz .quiz-title")).to_be_visible(timeout=15000)
            assert p.page.locator("#tool-quiz button").count() == 0

        # Ann answers B; Bob answers A, then changes his mind to C (the card is still open).
        choose(ann, 1)
        expect(ann.page.locator("#tool-quiz .quiz-mine")).to_contain_text("Sent: B", timeout=15000)
        choose(bob, 0)
        expect(bob.page.locator("#tool-quiz .quiz-mine")).to_contain_text("A", timeout=15000)
        choose(bob, 2)
        expect(bob.page.locator("#tool-quiz .quiz-mine")).to_contain_text("C", timeout=15000)
        # Bob's tab reloads: his answer is still his (kept in the tab) and still selected.
        bob.page.reload()
        bob.page.wait_for_selector("#class-view:not([hidden])", timeout=20000)
        expect(bob.page.locator("#tool-quiz .quiz-mine")).to_contain_text("C", timeout=15000)
        expect(bob.page.locator('#tool-quiz li[data-index="2"] [data-action="quiz-choose"]')).to_have_attribute("aria-pressed", "true")

        # The teacher's page shows the live tally: one B, one C (Bob's A was replaced), 2 answered.
        wait_until(lambda: counts(teacher) == [0, 1, 1, 0], 15, "live counts [0, 1, 1, 0] at the teacher")
        wait_until(lambda: counts(inspector) == [0, 1, 1, 0], 15, "live counts at the inspector")
        expect(teacher.page.locator("#tool-quiz .quiz-answered")).to_have_attribute("data-answered", "2")
        # The teacher sees which option is right; students see neither that nor the others'
        # answers while the card is open.
        expect(teacher.page.locator('#tool-quiz li[data-right="1"]')).to_have_attribute("data-index", "1")
        assert ann.page.locator("#tool-quiz .count").count() == 0
        assert ann.page.locator("#tool-quiz li[data-right]").count() == 0
        assert ann.eval("tkroomPage.room.tools.currentCard().right") is None

        # A phone renders the student's panel whole: no sideways scrolling, the choices in view.
        assert bob.eval("document.documentElement.scrollWidth <= window.innerWidth")
        box = bob.page.locator('#tool-quiz [data-action="quiz-send"]').bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        bob.page.locator("#tool-quiz").screenshot(path=str(out / "student-phone-quiz.png"))

        # The countdown (started while the card is open): 90 s, the same remaining time on the
        # teacher's page and Ann's (whose clock is 7 minutes fast) and Bob's, running, paused
        # and resumed.
        teacher.click("timer-open")
        teacher.page.fill("#timer-min", "1")
        teacher.page.fill("#timer-sec", "30")
        # What the teacher types survives the live counts arriving meanwhile.
        version = "tkroomPage.room.tools.currentCard().version"
        before = teacher.eval(version)
        choose(ann, 1)
        wait_until(lambda: teacher.eval(version) > before, 15, "a newer count at the teacher")
        assert teacher.page.input_value("#timer-min") == "1" and teacher.page.input_value("#timer-sec") == "30"
        teacher.page.click('#tool-timer [data-action="timer-start"]')
        for p in (ann, bob, live, inspector):
            expect(p.page.locator("#tool-timer")).to_have_attribute("data-state", "running", timeout=15000)
        # The pictures of docs/classroom.md: the teacher's tools, a student's phone.
        for p in (teacher, bob):
            p.eval("window.scrollTo(0, 0)")
        area = teacher.page.locator("#tools-area").bounding_box()
        assert area is not None
        teacher.page.screenshot(path=str(out / "tools-teacher.png"),
                                clip={"x": 0, "y": 0, "width": 1280, "height": area["y"] + area["height"] + 12})
        bob.page.screenshot(path=str(out / "tools-student-phone.png"))

        # The teacher publishes: everyone sees the distribution; Ann is right, Bob is not.
        teacher.page.click('#tool-quiz [data-action="quiz-publish"]')
        expect(ann.page.locator("#tool-quiz .quiz-verdict")).to_have_attribute("data-verdict", "right", timeout=15000)
        expect(ann.page.locator("#tool-quiz .quiz-verdict")).to_contain_text("Right")
        expect(bob.page.locator("#tool-quiz .quiz-verdict")).to_have_attribute("data-verdict", "wrong", timeout=15000)
        expect(bob.page.locator("#tool-quiz .quiz-verdict")).to_contain_text("正确答案：B")
        for p in (teacher, ann, bob, live, inspector):
            wait_until(lambda p=p: counts(p) == [0, 1, 1, 0], 15, "the published distribution")
        expect(live.page.locator('#tool-quiz li[data-right="1"]')).to_have_attribute("data-index", "1")
        # Closed: a late answer is refused by the server (4105), and the page offers none.
        assert ann.page.locator('#tool-quiz [data-action="quiz-choose"]').count() == 0
        code = ann.eval("(q) => tkroomPage.room.tools.answer(q, [0]).then(() => 0, (e) => e.code)",
                        ann.eval("tkroomPage.room.tools.currentCard().qid"))
        assert code == 4105

        # The countdown, still running after the result.
        wait_until(lambda: seconds(teacher.page.inner_text("#timer-face")) <= 88, 15, "the timer counting down")
        t_s, a_s = faces(teacher, ann)
        assert 0 < t_s < 90 and abs(t_s - a_s) <= 1, (t_s, a_s)
        t_s, b_s = faces(teacher, bob)
        assert abs(t_s - b_s) <= 1, (t_s, b_s)
        teacher.page.click('#tool-timer [data-action="timer-pause"]')
        for p in (ann, bob):
            expect(p.page.locator("#tool-timer")).to_have_attribute("data-state", "paused", timeout=15000)
        paused = seconds(teacher.page.inner_text("#timer-face"))
        teacher.page.wait_for_timeout(1500)
        assert faces(teacher, ann) == (paused, paused)
        assert seconds(bob.page.inner_text("#timer-face")) == paused
        teacher.page.click('#tool-timer [data-action="timer-resume"]')
        expect(ann.page.locator("#tool-timer")).to_have_attribute("data-state", "running", timeout=15000)
        wait_until(lambda: seconds(ann.page.inner_text("#timer-face")) < paused, 15, "running again")
        t_s, a_s = faces(teacher, ann)
        assert abs(t_s - a_s) <= 1, (t_s, a_s)
        bob.page.screenshot(path=str(out / "student-phone.png"), full_page=True)

        # The inspector sees every tool and has no controls at all.
        assert inspector.page.locator('#controls [data-group="tools"]').count() == 0
        assert inspector.page.locator("#tools-area button").count() == 0
        assert inspector.page.locator("#controls button").all_inner_texts() == ["Leave class"]
        assert ann.page.locator('#controls [data-group="tools"]').count() == 0

        # A short run ends on every screen with "time is up".
        teacher.page.click('#tool-timer [data-action="timer-reset"]')
        expect(ann.page.locator("#tool-timer")).to_have_attribute("data-state", "stopped", timeout=15000)
        teacher.page.fill("#timer-min", "0")
        teacher.page.fill("#timer-sec", "2")
        teacher.page.click('#tool-timer [data-action="timer-start"]')
        for p in (teacher, ann, bob):
            expect(p.page.locator("#tool-timer")).to_have_attribute("data-state", "ended", timeout=15000)
            expect(p.page.locator("#timer-face")).to_have_text("00:00")
        expect(ann.page.locator("#timer-note")).to_have_text("Time is up!")

        assert run_axe(teacher.page) == []
        assert run_axe(bob.page) == []
        assert b_id
        for p in people:
            assert p.errors == [], p.errors
    finally:
        for p in people:
            p.close()


def test_buzzer_trophies_and_pick(tools_node: ClassNode, chromium):
    node = tools_node
    serial = node.create_room("History")
    url = f"{node.url}/room/{serial}"
    teacher = Person(chromium, url, bypass_csp=True)
    ann = Person(chromium, url)
    bob = Person(chromium, url, locale="zh-CN")
    assistant = Person(chromium, url)
    people = [teacher, ann, bob, assistant]
    try:
        teacher.join("Mr Herodotus", PASSWORDS["chairmanpwd"])
        assistant.join("Ms Thucydides", PASSWORDS["assistantpwd"])
        a_id = ann.join("Ann", PASSWORDS["confuserpwd"])
        b_id = bob.join("Bob", PASSWORDS["confuserpwd"])

        # The buzzer: both students get the button; Ann is first, Bob sees who.
        teacher.click("buzzer-arm")
        for p in (ann, bob):
            expect(p.page.locator('#tool-buzzer [data-action="buzz"]')).to_be_visible(timeout=15000)
        expect(teacher.page.locator('#tool-buzzer [data-action="buzz"]')).to_have_count(0)
        ann.page.click('#tool-buzzer [data-action="buzz"]')
        expect(ann.page.locator("#buzzer-state")).to_have_text("You were first!", timeout=15000)
        expect(bob.page.locator("#buzzer-state")).to_have_text("Ann 抢到了。", timeout=15000)
        expect(bob.page.locator('#tool-buzzer [data-action="buzz"]')).to_have_count(0)
        expect(teacher.page.locator("#tool-buzzer")).to_have_attribute("data-winner", a_id, timeout=15000)
        expect(teacher.page.locator("#buzzer-state")).to_have_text("Ann was first.")
        # A late press (a modified page) is refused: 2602, one winner per round.
        assert bob.eval("tkroomPage.room.tools.press().then(() => 0, (e) => e.code)") == 2602
        assert bob.eval("tkroomPage.room.tools.buzzerState().winnerId") == a_id
        # A new round, from the assistant's toolbar: the winner is gone and the buttons are back.
        expect(assistant.page.locator('#controls [data-group="tools"] button')).to_have_count(4)
        assistant.click("buzzer-arm")
        expect(bob.page.locator('#tool-buzzer [data-action="buzz"]')).to_be_visible(timeout=15000)
        bob.page.click('#tool-buzzer [data-action="buzz"]')
        expect(ann.page.locator("#buzzer-state")).to_have_text("Bob was first.", timeout=15000)
        teacher.page.click('#tool-buzzer [data-action="buzzer-off"]')
        expect(ann.page.locator("#tool-buzzer")).to_be_hidden(timeout=15000)

        # Trophies from the participant list: counts on every page, twice for Ann.
        for _ in range(2):
            teacher.click("trophy", a_id)
        teacher.click("trophy", b_id)
        for p in (teacher, ann, bob):
            expect(p.page.locator(f'#people li[data-userid="{a_id}"] .flags')).to_contain_text("★ 2", timeout=15000)
            expect(p.page.locator(f'#people li[data-userid="{b_id}"] .flags')).to_contain_text("★ 1", timeout=15000)
        assert ann.eval(f"tkroomPage.room.tools.trophies('{a_id}')") == 2
        # On stage, a student's tile shows the count and gives another trophy.
        teacher.click("stage-on", a_id)
        tile = teacher.page.locator(f'#stage .tile[data-userid="{a_id}"]')
        expect(tile.locator(".trophies")).to_have_attribute("data-count", "2", timeout=15000)
        expect(tile.locator(".trophies")).to_contain_text("★ 2")
        tile.locator('[data-action="trophy"]').click()
        expect(tile.locator(".trophies")).to_have_attribute("data-count", "3", timeout=15000)
        need_node_modules()
        assert run_axe(teacher.page) == []  # the tile's count and button, the tools' cards
        expect(ann.page.locator(f'#people li[data-userid="{a_id}"] .flags')).to_contain_text("★ 3", timeout=15000)
        teacher.click("stage-off", a_id)
        # A student may not give trophies (the server says 4108).
        assert ann.eval(f"tkroomPage.room.tools.sendGift(['{b_id}']).then(() => 0, (e) => e.code)") == 4108

        # Random pick: one of the two students, the same on every page.
        teacher.click("dial")
        expect(ann.page.locator("#tool-pick")).to_be_visible(timeout=15000)
        picked = ann.page.get_attribute("#tool-pick", "data-userid")
        assert picked in (a_id, b_id)
        for p in (teacher, bob):
            expect(p.page.locator("#tool-pick")).to_have_attribute("data-userid", picked, timeout=15000)
        name = "Ann" if picked == a_id else "Bob"
        expect(teacher.page.locator("#pick-name")).to_have_text(f"Random pick: {name}")

        # A card with several answers and a 3 s limit closes by itself on the students' pages;
        # an answer after the limit is refused (4105).
        teacher.eval("tkroomPage.room.tools.ask({options: ['x', 'y', 'z'], multiple: true, limit_s: 3})")
        expect(bob.page.locator("#quiz-left")).to_be_visible(timeout=15000)
        bob.page.click('#tool-quiz li[data-index="0"] [data-action="quiz-choose"]')
        bob.page.click('#tool-quiz li[data-index="2"] [data-action="quiz-choose"]')
        bob.page.click('#tool-quiz [data-action="quiz-send"]')
        expect(bob.page.locator("#tool-quiz .quiz-mine")).to_contain_text("A, C", timeout=15000)
        expect(ann.page.locator('#tool-quiz [data-action="quiz-choose"]')).to_have_count(0, timeout=15000)
        expect(ann.page.locator("#tool-quiz .quiz-state")).to_have_text("Answers are closed.")
        qid = ann.eval("tkroomPage.room.tools.currentCard().qid")
        assert ann.eval("(q) => tkroomPage.room.tools.answer(q, [1]).then(() => 0, (e) => e.code)", qid) == 4105
        # Its result can still be published: Bob's two answers counted, no right answer to judge.
        teacher.page.click('#tool-quiz [data-action="quiz-publish"]')
        wait_until(lambda: counts(ann) == [1, 0, 1], 15, "the timed card's result")
        assert bob.page.locator("#tool-quiz .quiz-verdict").count() == 0

        # A reload brings the tools back as they are (saved messages), trophies included.
        ann.page.reload()
        ann.page.wait_for_selector("#class-view:not([hidden])", timeout=20000)
        expect(ann.page.locator("#tool-pick")).to_have_attribute("data-userid", picked, timeout=15000)
        expect(ann.page.locator(f'#people li[data-userid="{a_id}"] .flags')).to_contain_text("★ 3", timeout=15000)
        for p in people:
            assert p.errors == [], p.errors
    finally:
        for p in people:
            p.close()
