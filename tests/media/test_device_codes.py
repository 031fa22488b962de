"""Each device code of the SDK, provoked the way it happens in use."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from conftest import need_binary
from media.devices import FifoDevice, without_permission_bypass
from media.harness import Node
from media.rtc import until
from tkroom.client.media import MediaClient
from tkroom.client.sources import _classify, open_player
from tkroom.directory import RoomInfo
from tkroom.errors import CodeError
from tkroom.media.janus_process import JanusSettings

pytestmark = pytest.mark.media


@pytest.fixture
async def node(in_netns, janus: JanusSettings, tmp_path):
    n = Node(tmp_path / "rec", RoomInfo("r1", 1))
    await n.add_server("j1", janus.url)
    yield n
    await n.close()


def offline_client() -> MediaClient:
    async def request(ev: str, data: dict) -> dict:
        raise AssertionError("a device error must come before any request")
    return MediaClient(request, "u")


def make_clip(path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=5",
                    "-t", "1", "-pix_fmt", "yuv420p", "-y", str(path)], check=True, timeout=60)


async def test_no_device() -> None:
    c = offline_client()
    with pytest.raises(CodeError) as e:
        await c.publishVideo("/dev/video-that-is-not-there", fmt="v4l2")
    assert e.value.code == 151
    with pytest.raises(CodeError) as e:  # this machine has no sound card
        await c.publishAudio("default", fmt="alsa")
    assert e.value.code == 101
    with pytest.raises(CodeError) as e:
        await c.publishMedia("/no/such/file.webm")
    assert e.value.code == 151


async def test_permission_denied(tmp_path) -> None:
    need_binary("ffmpeg")
    clip = tmp_path / "clip.y4m"
    make_clip(clip)
    os.chmod(clip, 0)
    c = offline_client()
    with without_permission_bypass():
        with pytest.raises(CodeError) as e:
            await c.publishVideo(str(clip))
        assert e.value.code == 152
        with pytest.raises(CodeError) as e:
            await c.publishAudio(str(clip))
        assert e.value.code == 103


def test_busy_device_maps_to_153_and_104() -> None:
    # No device on this machine can be made busy from a test; the mapping of EBUSY is checked.
    busy = OSError(errno.EBUSY, "Device or resource busy")
    assert _classify(busy) == "busy"
    assert open_player.__module__ == "tkroom.client.sources"


async def test_constraints() -> None:
    c = offline_client()
    for bad in [(0, 480, 30), (640, "480", 30), (641, 480, 30)]:
        with pytest.raises(CodeError) as e:
            c.setVideoProfile(*bad)
        assert e.value.code == 2008
    with pytest.raises(CodeError) as e:
        c.setVideoProfile(7680, 4320, 30)
    assert e.value.code == 2006
    with pytest.raises(CodeError) as e:
        c.setAudioProfile(-1)
    assert e.value.code == 2007
    with pytest.raises(CodeError) as e:
        c.setAudioProfile(44100)
    assert e.value.code == 2005
    c.setVideoProfile(320, 240, 15)
    assert (c.profile.width, c.profile.height, c.profile.fps) == (320, 240, 15)


async def test_screen_capture_refused(monkeypatch) -> None:
    c = offline_client()
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(CodeError) as e:
        await c.startShareScreen()
    assert e.value.code == 2103
    with pytest.raises(CodeError) as e:  # an X display that does not exist
        await c.startShareScreen(":97")
    assert e.value.code == 2103


@pytest.mark.parametrize(("kind", "lost", "warning"), [("video", 2009, 1015),
                                                       ("audio", 2011, 1016)])
async def test_device_unplugged_while_publishing(node: Node, tmp_path, kind, lost,
                                                 warning) -> None:
    need_binary("ffmpeg")
    dev = FifoDevice(tmp_path, kind)
    try:
        alice, bob = node.user("r1", "alice"), node.user("r1", "bob")
        if kind == "video":
            sid = await alice.publishVideo(str(dev.path), fmt=dev.fmt)
            await bob.waitForStream("alice", "video")
            played = await bob.playVideo("alice")
        else:
            sid = await alice.publishAudio(str(dev.path), fmt=dev.fmt)
            await bob.waitForStream("alice", "audio")
            played = await bob.playAudio("alice")
        await until(lambda: played.frames_received > 5, 20, "frames from the device")
        dev.unplug()
        await until(lambda: warning in node.codes(alice, "warn"), 15, f"warning {warning}")
        err = [n for n in alice.notices if n["code"] == lost]
        assert len(err) == 1 and err[0]["kind"] == "error" and err[0]["type"] == kind
        w = next(n for n in alice.notices if n["code"] == warning)
        assert w["deviceId"] == "default"
        await until(lambda: any(ev == "onRemoveStream" and d["streamId"] == sid
                                for ev, d in node.sink.events["bob"]), 10, "stream withdrawn")
        assert not alice.local
    finally:
        dev.close()
