"""``tkroom serve`` processes in the test's network namespace, and what browser tests check
when a class's media comes back after a failover (a node or a Janus killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from browser.test_classroom_e2e import Person, wait_until
from tkroom.media.netns import NetNamespace
from webapi_nodes import SRC, port_open
from webapi_nodes import wait_for as wait_port


class Serve:
    """``tkroom serve`` started inside ``ns`` with the cluster's signal URLs, own first; its
    output appended to ``log`` when given."""

    def __init__(self, ns: NetNamespace, args: list[str], port: int, signal_port: int,
                 signal_urls: list[str], log: Path | None = None) -> None:
        self.ns, self.port, self.signal_port = ns, port, signal_port
        urls = [a for u in signal_urls for a in ("--signal-url", u)]
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child's
        with ns.entered():
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tkroom", "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--signal-port", str(signal_port), *urls, *args],
                env={**os.environ, "PYTHONPATH": SRC}, stdout=out, stderr=out)
            wait_port(lambda: port_open("127.0.0.1", port) or self.proc.poll() is not None, 60,
                      what="tkroom serve")
        if log:
            out.close()
        assert self.proc.poll() is None, "tkroom serve exited"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def signal_url(self) -> str:
        return f"ws://127.0.0.1:{self.signal_port}/signal"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def video_sub(person: Person, userid: str) -> str | None:
    """The subscription id through which the page plays ``userid``'s camera."""
    return person.eval("""(u) => { const s = [...tkroomPage.room.subs.values()]
        .find((x) => x.info.userId === u && x.info.type === 'video'); return s ? s.subscriptionId : null; }""",
                       userid)


def decodes_anew(person: Person, userid: str, old_sub: str | None, within: float = 60.0) -> None:
    """A new subscription to ``userid``'s camera (not ``old_sub``) whose frames the page decodes."""
    wait_until(lambda: (s := video_sub(person, userid)) and s != old_sub, within,
               f"a new subscription to {userid}")
    person.decodes(userid, 15, within)


def plays_again(person: Person, userid: str, old_sub: str | None, within: float = 60.0) -> None:
    """A new subscription to ``userid``'s camera and microphone: frames decoded, sound played,
    the tile showing the new track and its clock running."""
    decodes_anew(person, userid, old_sub, within)
    frames = person.stats(userid).get("framesDecoded", 0)
    wait_until(lambda: person.stats(userid).get("framesDecoded", 0) > frames + 15, within,
               f"frames of {userid} advancing")
    person.hears(userid, within)
    tile = f'.tile[data-userid="{userid}"] video'
    assert person.eval(f"""() => {{ const v = document.querySelector('{tile}');
        const sub = [...tkroomPage.room.subs.values()].find((x) => x.subscriptionId === '{video_sub(person, userid)}');
        return sub.pc.getReceivers().some((r) => r.track === v.srcObject.getVideoTracks()[0]); }}"""), \
        "the tile shows the new subscription's track"
    t0 = person.eval(f"document.querySelector('{tile}').currentTime")
    wait_until(lambda: person.eval(f"document.querySelector('{tile}').currentTime") > t0 + 0.5, within,
               f"{userid}'s video playing")
