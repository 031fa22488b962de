"""What browser tests check when a class's media comes back after a failover (a node or a
Janus killed); ``Serve`` (a ``tkroom serve`` process in the test's network namespace) is
``media.nodes``'s, re-exported for them."""

from __future__ import annotations

from browser.test_classroom_e2e import Person, wait_until
from media.nodes import Serve

__all__ = ["Serve", "decodes_anew", "plays_again", "video_sub"]


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
