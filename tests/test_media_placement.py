"""Where a class's media goes in a cluster, decided without Janus or Redis
(``tkroom.media.placement``)."""

from __future__ import annotations

from dataclasses import dataclass

from tkroom.media.placement import (
    choose_server,
    feed_display,
    is_current,
    may_carry,
    must_move,
    node_of,
    stream_of,
    usable,
)
from tkroom.media.servers import static_name


@dataclass
class S:
    id: str
    healthy: bool = True
    free: int = 100
    capacity: int = 100
    owner: int | None = None


def test_an_enterprise_class_prefers_its_own_server_and_never_uses_anothers() -> None:
    shared, mine, theirs = S("op"), S("mine", free=10, owner=7), S("theirs", owner=8)
    assert choose_server([shared, mine, theirs], 7).id == "mine"  # own first, though busier
    assert choose_server([shared, mine, theirs], 9).id == "op"
    assert choose_server([mine, theirs], 9) is None
    assert choose_server([shared, theirs], 7).id == "op"
    mine.healthy = False
    assert choose_server([shared, mine, theirs], 7).id == "op"
    assert not may_carry(theirs, 7) and may_carry(shared, 7) and may_carry(theirs, 8)


def test_least_loaded_share_and_capacity() -> None:
    a, b = S("a", free=40, capacity=100), S("b", free=300, capacity=1000)
    assert choose_server([a, b], None).id == "a"  # 40 % free beats 30 %
    assert choose_server([a, b], None, need=50).id == "b"
    assert choose_server([a, b], None, exclude=["a"]).id == "b"
    assert choose_server([a, b], None, need=400) is None


def test_a_record_moves_only_when_its_server_cannot_serve_and_another_can() -> None:
    servers = {"j1": S("j1"), "j2": S("j2")}
    rec = {"server": "j1", "room": "r", "epoch": 1}
    assert usable(rec, servers) and not must_move(rec, servers, None)
    servers["j1"].healthy = False
    assert not usable(rec, servers) and must_move(rec, servers, None)
    servers["j2"].healthy = False
    assert not must_move(rec, servers, None), "nothing to move to: wait for a server"
    gone = {"server": "unknown", "room": "r", "epoch": 3}
    assert must_move(gone, {"j3": S("j3")}, None)
    # the registry now gives j1 to enterprise 5: enterprise 6's class leaves it
    owned = {"j1": S("j1", owner=5), "j2": S("j2")}
    assert must_move(rec, owned, 6) and not must_move(rec, owned, 5)
    assert not usable(None, servers)


def test_following_and_feed_names() -> None:
    rec = {"server": "j1", "room": "r9", "epoch": 2}
    assert is_current(rec, "j1", "r9")
    assert not is_current(rec, "j2", "r9") and not is_current(rec, "j1", "r8")
    assert not is_current(None, None, None)
    assert stream_of(feed_display("t1:video:default", False)) == ("t1", "video", "default",
                                                                  False)
    assert stream_of(feed_display("a:b:video:cam2", True)) == ("a:b", "video", "cam2", True)
    assert stream_of("1|t1") is None and stream_of("1|::") is None
    assert stream_of("t1:video:default") is None, "an untagged display is no feed of ours"


def test_a_feed_names_the_node_that_brokers_it() -> None:
    """The survivors of a dead node find its feeds in the VideoRoom by their display."""
    shown = feed_display("a|b:c:video:cam2", True, "0b57e0294877")
    assert stream_of(shown) == ("a|b:c", "video", "cam2", True)
    assert node_of(shown) == "0b57e0294877"
    assert node_of(feed_display("t1:video:default", False)) == "", "memory state: no node"
    assert stream_of(feed_display("t1:audio:default", False, "n1")) == \
        ("t1", "audio", "default", False)
    assert stream_of("s@|t1:video:default") is None and node_of("s@n1t1:video:x") == ""
    assert node_of("x@n1|t1:video:default") == ""


def test_static_servers_are_named_alike_on_every_node() -> None:
    """``--janus`` servers are named from their URL, so two nodes listing them in another
    order agree on the name the class's shared record holds; the name hides the URL."""
    a, b = "ws://10.0.0.5:8188", "ws://10.0.0.6:8188/janus"
    assert static_name(a) != static_name(b)
    assert static_name(a) == static_name(" WS://10.0.0.5:8188/ ")
    assert static_name("ws://h") == static_name("ws://h:80") != static_name("wss://h")
    assert static_name(a).startswith("janus-") and "10.0.0.5" not in static_name(a)
