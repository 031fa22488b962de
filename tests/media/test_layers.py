"""The layer rules without Janus: which rooms simulcast, and how a subscription steps down on
slow_link and back up after quiet periods (time is passed in)."""

from __future__ import annotations

import pytest

from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.layers import LayerControl, Tuning, layer_number, simulcast_for

T = Tuning(settle=2, probe_first=8, probe_max=32, probe_window=6)


def test_which_publications_are_simulcast() -> None:
    small, usual = RoomInfo("1", 1, videotype=1), RoomInfo("2", 1, videotype=2)
    assert simulcast_for(usual, "auto", "video") and not simulcast_for(small, "auto", "video")
    assert simulcast_for(small, "on", "video") and not simulcast_for(usual, "off", "video")
    for kind in ("screen", "media", "audio"):
        assert not simulcast_for(usual, "on", kind)


def test_layer_names() -> None:
    assert [layer_number(x) for x in ("low", "medium", "high", 0, 2)] == [0, 1, 2, 0, 2]
    for bad in ("huge", 3, -1, True, None, 1.0):
        with pytest.raises(CodeError) as e:
            layer_number(bad)
        assert e.value.code == 103


def test_slow_link_steps_down_once_per_settle_period() -> None:
    c = LayerControl(preferred=2, tuning=T)
    assert c.slow_link(100) == 1
    assert c.slow_link(101) is None  # about the layer just left
    assert c.slow_link(102.5) == 0
    assert c.slow_link(105) is None and c.current == 0  # nothing lower


def test_recovery_one_layer_at_a_time_with_backoff_after_failed_tries() -> None:
    c = LayerControl(preferred=2, tuning=T)
    c.slow_link(0)
    assert c.next_probe() == 8 and c.probe(7) is None
    assert c.probe(8) == 2  # tried back up
    assert c.slow_link(10) == 1  # failed within the window: wait twice as long
    assert c.next_probe() == 16 and c.probe(20) is None and c.probe(26) == 2
    assert c.slow_link(27) is None  # within the settle time of the try: about the old layer
    assert c.slow_link(28.5) == 1  # still within the try's window: failed again
    assert c.next_probe() == 32 and c.probe(60) is None
    assert c.probe(60.5) == 2 and c.next_probe() is None  # the link recovered: stays high


def test_a_held_try_resets_the_wait_and_preference_caps_everything() -> None:
    c = LayerControl(preferred=2, tuning=T)
    c.slow_link(0)
    c.slow_link(3)  # low
    assert c.probe(11) == 1
    assert c.probe(19) == 2  # the medium try held through its window: no backoff
    assert c.prefer(0) == 0 and c.next_probe() is None
    assert c.prefer(1) == 1
