"""Browsers fail over between nodes: two ``tkroom serve`` processes on one store (a shared
data folder) and a private Redis, one real Janus both broker into (``--janus``), Chromium on
each node's classroom page, all inside a network namespace the test creates. The teacher's
node is killed (``SIGKILL``): her browser walks the signalling URLs ``getconfig`` listed,
resumes her session on the other node, and publishes and subscribes again there."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from browser.classnode import PASSWORDS
from browser.test_classroom_e2e import (  # noqa: F401 - fixtures
    Person,
    browser_ns,
    janus_url,
    netns,
    ns_playwright,
    wait_until,
)
from media.nodes import Serve
from webapi_nodes import free_port, tkroom

pytestmark = [pytest.mark.browser, pytest.mark.media]


@pytest.fixture
def two_nodes(netns, janus_url, redis_url, tmp_path) -> Iterator[tuple[Serve, Serve, str]]:  # noqa: F811
    data = ["--data", str(tmp_path / "data")]
    made = tkroom("admin", "enterprise", "create", "Failover School", *data)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["authkey"]
    with netns.entered():
        ports = [(free_port(), free_port()) for _ in range(2)]
    urls = [f"ws://127.0.0.1:{sp}/signal" for _, sp in ports]
    args = [*data, "--redis", redis_url, "--janus", janus_url]
    a = Serve(netns, args, *ports[0], urls)
    b = Serve(netns, args, *ports[1], urls[::-1])
    try:
        now = int(time.time())
        with netns.entered():
            room = httpx.post(f"{a.url}/WebAPI/roomcreate", timeout=30, data={
                "key": key, "roomname": "Failover", "roomtype": 3, "starttime": now - 60,
                "endtime": now + 3600, "passwordrequired": 1, "maxvideo": 10, **PASSWORDS}).json()
        assert room["result"] == 0, room
        yield a, b, str(room["serial"])
    finally:
        a.stop()
        b.stop()


def video_sub(person: Person, userid: str) -> str | None:
    """The subscription id through which the page plays ``userid``'s camera."""
    return person.eval("""(u) => { const s = [...tkroomPage.room.subs.values()]
        .find((x) => x.info.userId === u && x.info.type === 'video'); return s ? s.subscriptionId : null; }""",
                       userid)


def plays_again(person: Person, userid: str, old_sub: str | None, within: float = 60.0) -> None:
    """A new subscription to ``userid``'s camera and microphone: frames decoded, sound played,
    the tile showing the new track and its clock running."""
    wait_until(lambda: (s := video_sub(person, userid)) and s != old_sub, within,
               f"a new subscription to {userid}")
    frames = person.decodes(userid, 15, within)["framesDecoded"]
    wait_until(lambda: person.stats(userid).get("framesDecoded", 0) > frames + 15, 30,
               f"frames of {userid} advancing")
    person.hears(userid, within)
    tile = f'.tile[data-userid="{userid}"] video'
    assert person.eval(f"""() => {{ const v = document.querySelector('{tile}');
        const sub = [...tkroomPage.room.subs.values()].find((x) => x.subscriptionId === '{video_sub(person, userid)}');
        return sub.pc.getReceivers().some((r) => r.track === v.srcObject.getVideoTracks()[0]); }}"""), \
        "the tile shows the new subscription's track"
    t0 = person.eval(f"document.querySelector('{tile}').currentTime")
    wait_until(lambda: person.eval(f"document.querySelector('{tile}').currentTime") > t0 + 0.5, 30,
               f"{userid}'s video playing")


def test_teacher_fails_over_to_the_other_node(two_nodes, browser_ns):  # noqa: F811
    a, b, serial = two_nodes
    teacher = Person(browser_ns, f"{a.url}/room/{serial}")
    student = Person(browser_ns, f"{b.url}/room/{serial}")
    try:
        t_id = teacher.join("Ms Node", PASSWORDS["chairmanpwd"])
        s_id = student.join("Sam", PASSWORDS["confuserpwd"])
        assert teacher.eval("tkroomPage.room.conn.url") == f"ws://127.0.0.1:{a.signal_port}/signal"
        assert student.eval("tkroomPage.room.conn.url") == f"ws://127.0.0.1:{b.signal_port}/signal"
        wait_until(lambda: teacher.page.locator("#people li").count() == 2, 15, "two participants")
        teacher.click("class-begin")
        wait_until(lambda: "In class" in student.page.inner_text("#class-timer"), 15, "class begun")
        teacher.click("av-on")
        teacher.click("stage-on", s_id)
        student.decodes(t_id)
        teacher.decodes(s_id)
        student.hears(t_id)
        teacher.hears(s_id)
        saved = sorted(teacher.eval("tkroomPage.room.getSavedMessages().map((m) => m.id)"))
        assert "ClassBegin" in saved
        old = {"teacher": video_sub(student, t_id), "student": video_sub(teacher, s_id)}
        teacher.eval("""() => { window.__ev = [];
            for (const t of ['room-reconnecting', 'room-reconnected', 'room-connected', 'room-disconnected',
                             'room-error-notice'])
              tkroomPage.room.on(t, (e) => window.__ev.push([t, t === 'room-connected' ? {} : e])); }""")
        student.eval("""() => { window.__left = []; window.__ev = [];
            tkroomPage.room.on('room-participant_leave', (e) => window.__left.push(e.user.id));
            tkroomPage.room.on('room-error-notice', (e) => window.__ev.push(e.code)); }""")

        a.stop(signal.SIGKILL)

        back = wait_until(lambda: [e for t, e in teacher.eval("window.__ev") if t == "room-reconnected"],
                          60, "the teacher's resume on node B")[0]
        assert back["rejoined"] is False and back["moved"] is True
        assert back["url"] == f"ws://127.0.0.1:{b.signal_port}/signal"
        kinds = [t for t, _ in teacher.eval("window.__ev")]
        assert "room-reconnecting" in kinds and "room-connected" not in kinds  # resumed, not rejoined
        assert teacher.eval("tkroomPage.room.getMySelf().id") == t_id
        assert teacher.eval("tkroomPage.room.getMySelf().properties.role") == 0
        assert sorted(teacher.eval("tkroomPage.room.getSavedMessages().map((m) => m.id)")) == saved

        # Media again both ways, through node B into the class's one Janus room.
        plays_again(student, t_id, old["teacher"])
        plays_again(teacher, s_id, old["student"])

        # Moved on purpose, not recovered through failures: no "publication/subscription failed".
        failed = [e["code"] for t, e in teacher.eval("window.__ev") if t == "room-error-notice"]
        assert failed == [], failed
        assert student.eval("window.__ev") == []
        # Chat still crosses, and the student never saw the teacher leave.
        teacher.page.fill("#chat-input", "back through node b")
        teacher.page.click("#chat-form button")
        wait_until(lambda: "back through node b" in student.page.inner_text("#chat-log"), 15, "chat")
        assert student.eval("window.__left") == []
        assert sorted(u["id"] for u in teacher.eval("Object.values(tkroomPage.room.getUsers())")) == \
            sorted([t_id, s_id])

        # No node left: a bounded walk, then a clear error.
        teacher.eval("tkroomPage.room.init('app', null, null, false, {failoverAttempts: 4})")
        b.stop(signal.SIGKILL)
        gone = wait_until(lambda: [e for t, e in teacher.eval("window.__ev")
                                   if t == "room-disconnected" and e.get("willReconnect") is False], 60,
                          "the teacher's browser giving up")[0]
        assert gone["code"] == 2600
        text = [e["message"] for t, e in teacher.eval("window.__ev")
                if t == "room-error-notice" and e["code"] == 2600][0]
        assert str(a.signal_port) in text and str(b.signal_port) in text, text
        assert teacher.page.locator('.notice[data-code="2600"]').count() > 0
        assert teacher.errors == [] and student.errors == []
    finally:
        teacher.close()
        student.close()
