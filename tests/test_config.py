"""Settings: flags over environment over defaults, and a server secret that is made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tkroom.config import Settings


def test_flags_override_environment_over_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("TKROOM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("TKROOM_DATABASE_URL", "postgresql://u@127.0.0.1/db")
    monkeypatch.setenv("TKROOM_JANUS", "ws://127.0.0.1:8188, ws://127.0.0.1:8189")
    s = Settings.from_env(port=9000)
    assert s.data_dir == tmp_path / "env" and s.port == 9000 and s.effective_signal_port == 9001
    assert s.db_url == "postgresql+asyncpg://u@127.0.0.1/db"
    assert s.janus_urls == ["ws://127.0.0.1:8188", "ws://127.0.0.1:8189"]
    s = Settings.from_env(data_dir=str(tmp_path / "flag"), database_url=None)
    assert s.data_dir == Path(tmp_path / "flag")
    monkeypatch.delenv("TKROOM_DATABASE_URL")
    assert Settings.from_env().db_url.startswith("sqlite+aiosqlite:///") and "env/tkroom.db" in Settings.from_env().db_url


def test_secret_is_generated_once_and_kept(tmp_path):
    a = Settings(data_dir=tmp_path).secret()
    b = Settings(data_dir=tmp_path).secret()
    assert a == b and len(a) == 32
    assert (tmp_path / "secret").stat().st_mode & 0o077 == 0, "readable by its owner only"
    assert Settings(data_dir=tmp_path / "other").secret() != a
    assert Settings(data_dir=tmp_path, secret_hex="ab" * 32).secret() == b"\xab" * 32


def test_saved_message_limits(monkeypatch):
    s = Settings.from_env()
    assert (s.max_saved_messages, s.max_saved_per_user) == (50_000, 500)
    monkeypatch.setenv("TKROOM_MAX_SAVED_MESSAGES", "0")
    monkeypatch.setenv("TKROOM_MAX_SAVED_PER_USER", "50")
    s = Settings.from_env()
    assert (s.max_saved_messages, s.max_saved_per_user) == (0, 50)
    monkeypatch.setenv("TKROOM_MAX_SAVED_PER_USER", "-1")
    with pytest.raises(ValueError, match="TKROOM_MAX_SAVED_PER_USER"):
        Settings.from_env()


def test_board_limits(monkeypatch):
    s = Settings.from_env()
    assert (s.board_max_shapes, s.board_max_shape_bytes, s.board_rate) == (10_000, 32_768, 60)
    monkeypatch.setenv("TKROOM_BOARD_MAX_SHAPES", "200")
    monkeypatch.setenv("TKROOM_BOARD_MAX_SHAPE_BYTES", "1024")
    monkeypatch.setenv("TKROOM_BOARD_RATE", "0")
    s = Settings.from_env()
    assert (s.board_max_shapes, s.board_max_shape_bytes, s.board_rate) == (200, 1024, 0)
    monkeypatch.setenv("TKROOM_BOARD_RATE", "fast")
    with pytest.raises(ValueError, match="TKROOM_BOARD_RATE"):
        Settings.from_env()


def test_courseware_settings(monkeypatch, tmp_path):
    s = Settings.from_env()
    assert (s.convert_workers, s.convert_timeout_s, s.convert_max_pages) == (2, 300.0, 500)
    assert s.convert_max_bytes == 100 * 1024 * 1024 and s.file_ticket_hours == 12.0
    for name, value in (("WORKERS", "3"), ("TIMEOUT", "60"), ("MAX_BYTES", "1000"), ("MAX_PAGES", "0")):
        monkeypatch.setenv(f"TKROOM_CONVERT_{name}", value)
    monkeypatch.setenv("TKROOM_FILE_TICKET_HOURS", "1.5")
    s = Settings.from_env()
    assert (s.convert_workers, s.convert_timeout_s, s.convert_max_bytes, s.convert_max_pages) == (3, 60.0, 1000, 0)
    assert s.file_ticket_hours == 1.5
    monkeypatch.setenv("TKROOM_CONVERT_MAX_PAGES", "lots")
    with pytest.raises(ValueError, match="TKROOM_CONVERT_MAX_PAGES"):
        Settings.from_env()


def test_node_id_is_made_once_per_data_folder(tmp_path):
    a = Settings(data_dir=tmp_path).node_id()
    assert a == Settings(data_dir=tmp_path).node_id() and len(a) == 16
    assert Settings(data_dir=tmp_path / "other").node_id() != a
