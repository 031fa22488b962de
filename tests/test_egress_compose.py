"""The compositor on a lesson recorded at the level after janus-pp-rec (bench.egress.lesson):
what a student who missed the class sees and hears in the files it makes."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.egress.lesson import Lesson, Publisher, make, page_color

from conftest import need_binary
from egress_media import beep_time, close, duration, flash_time, frame_at, mean_color, streams
from tkroom.egress.board import BACKGROUND
from tkroom.egress.compose import ComposeSettings, CorruptInput, compose

W, H = 1280, 720
TEACHER_SLOT = (960, 0, 320, 180)     # layout 0: the right column, the teacher first
STUDENT_SLOT = (960, 180, 320, 180)
CENTRE = (474, 354, 12, 12)           # the page's (0.5, 0.5): the 4:3 page fills 960x720
PAPER = (700, 600, 40, 40)            # a bit of page no stroke crosses


def lesson() -> Lesson:
    return Lesson(
        12_000,
        [Publisher("t", 0, flash_s=5.0, hz=330), Publisher("s1", 2, start_ms=3000, hz=550)],
        pages=2, page_turns=[(9000, 2)],
        strokes=[(4000, 1, [0.1, 0.1, 0.9, 0.9], "#ff0000"),
                 (10_000, 2, [0.1, 0.9, 0.9, 0.1], "#0000ff")],
        chat=[(2000, "hello")])


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, dict, list[float]]:
    need_binary("ffmpeg")
    folder = make(tmp_path_factory.mktemp("rec") / "1234567890" / "r1", lesson())
    seen: list[float] = []
    result = compose(folder, ComposeSettings(width=W, height=H), seen.append)
    return folder, result, seen


def test_outputs_are_h264_aac_at_the_set_size_and_the_class_length(made):
    folder, result, seen = made
    assert set(result["outputs"]) == {"composite.mp4", "audio.m4a", "user-t.mp4", "user-s1.mp4"}
    s = streams(folder / "composite.mp4")
    assert s["video"]["codec_name"] == "h264" and (s["video"]["width"], s["video"]["height"]) == (W, H)
    assert s["audio"]["codec_name"] == "aac"
    assert abs(duration(folder / "composite.mp4") - 12.0) <= 1.0
    a = streams(folder / "audio.m4a")
    assert set(a) == {"audio"} and a["audio"]["codec_name"] == "aac"
    assert abs(duration(folder / "audio.m4a") - 12.0) <= 1.0
    u = streams(folder / "user-s1.mp4")
    assert u["video"]["codec_name"] == "h264" and u["audio"]["codec_name"] == "aac"
    assert abs(duration(folder / "user-s1.mp4") - 9.0) <= 1.0  # from the student's first frame
    assert seen == sorted(seen) and seen[-1] > 0.5
    assert not (folder / ".stills").exists()


def test_frames_show_the_page_and_strokes_of_their_moment(made):
    folder = made[0]
    mp4 = folder / "composite.mp4"
    red, blue = (255, 0, 0), (0, 0, 255)
    before = frame_at(mp4, 3.5)
    assert close(mean_color(before, PAPER), page_color(1))
    assert close(mean_color(before, CENTRE), page_color(1))     # not drawn yet
    after = frame_at(mp4, 5.5)
    assert close(mean_color(after, CENTRE), red, 60)            # the stroke at 4 s
    turned = frame_at(mp4, 9.5)
    assert close(mean_color(turned, PAPER), page_color(2))      # the page turn at 9 s
    assert close(mean_color(turned, CENTRE), page_color(2))     # page 1's stroke stays on 1
    assert close(mean_color(frame_at(mp4, 11.0), CENTRE), blue, 60)


def test_cameras_take_their_slots_when_they_start(made):
    mp4 = made[0] / "composite.mp4"
    early = frame_at(mp4, 2.0)
    assert close(mean_color(early, STUDENT_SLOT), BACKGROUND, 6)  # the student's camera not yet
    assert close(mean_color(early, TEACHER_SLOT), (0, 0, 0), 20)  # the teacher's black video
    late = frame_at(mp4, 6.5)
    assert not close(mean_color(late, STUDENT_SLOT), BACKGROUND, 30)  # the test pattern


def test_audio_and_video_stay_together(made):
    """The teacher's flash and beep were made together: they come out within 100 ms of each
    other, and where the class had them (5 s)."""
    mp4 = made[0] / "composite.mp4"
    flash, beep = flash_time(mp4, TEACHER_SLOT), beep_time(mp4)
    assert flash is not None and beep is not None
    assert abs(flash - beep) < 0.1, (flash, beep)
    assert abs(flash - 5.0) < 0.15
    user = made[0] / "user-t.mp4"
    uf, ub = flash_time(user, (0, 0, 640, 360)), beep_time(user)
    assert uf is not None and ub is not None and abs(uf - ub) < 0.1


def test_layout_two_is_a_grid_of_cameras(tmp_path):
    need_binary("ffmpeg")
    les = Lesson(4000, [Publisher("t", 0), Publisher("s1", 2, hz=550)], layout=2, pages=1)
    folder = make(tmp_path / "r2", les)
    compose(folder, ComposeSettings(width=640, height=360, per_user=False))
    assert set(p.name for p in folder.glob("*.mp4")) == {"composite.mp4"}
    frame = frame_at(folder / "composite.mp4", 2.0)
    assert frame.size == (640, 360)
    # two cameras side by side over the whole frame: no page anywhere
    for box in ((0, 0, 320, 360), (320, 0, 320, 360)):
        assert not close(mean_color(frame, box), page_color(1), 30)
        assert not close(mean_color(frame, box), BACKGROUND, 30)


def test_a_corrupt_input_is_named_in_the_reason(tmp_path):
    need_binary("ffmpeg")
    folder = make(tmp_path / "r3", Lesson(3000, [Publisher("t", 0)], pages=1))
    (folder / "rec-t_video_default-0-video.webm").write_bytes(b"\x1aE\xdf\xa3 not a webm at all")
    with pytest.raises(CorruptInput) as e:
        compose(folder, ComposeSettings(width=640, height=360))
    assert "rec-t_video_default-0-video.webm" in str(e.value)
    assert not (folder / "composite.mp4").exists()
