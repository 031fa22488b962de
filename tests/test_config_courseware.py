"""Settings of the courseware plane, and the node id that says which node holds a file."""

from __future__ import annotations

import pytest

from tkroom.config import Settings


def test_courseware_settings(monkeypatch):
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
