"""Settings: flags over environment over a TOML file over defaults, ``tkroom config show``, the
generated reference, and a server secret that is made once."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from tkroom.config import Settings, reference_markdown
from webapi_nodes import SRC, Served

DOCS = Path(__file__).resolve().parents[1] / "docs"


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


# -- the settings model: a TOML file, the environment, flags, `tkroom config show` ---------------

# Every setting, each with a value other than its default (the test below checks both).
EVERY = {
    "host": "0.0.0.0", "port": 9100, "signal_port": 9200,
    "signal_urls": ["wss://class.example.org/signal", "wss://b.example.org/signal"],
    "tls_cert": "/etc/tkroom/fullchain.pem", "tls_key": "/etc/tkroom/privkey.pem",
    "tls_reload_s": 60.0,
    "data_dir": "/var/lib/tkroom", "database_url": "postgresql://tk:dbpass@db.internal:5433/tk",
    "redis_url": "redis://:redispass@redis.internal:6380/2", "secret_hex": "cd" * 32,
    "redis_wait_replicas": 1, "log_level": "warning", "janus_urls": ["ws://10.0.0.5:8188"], "janus_secret": "janus-pw",
    "embedded_janus": False, "janus_ice": "eth1", "janus_advertise": "10.0.0.7",
    "rtp_ports": "30000-30999",
    "media_sync_s": 30.0, "simulcast": "off", "egress_width": 1920, "egress_height": 1080, "egress_fps": 25,
    "egress_preset": "faster", "egress_crf": 23, "egress_per_user": False, "egress_workers": 2,
    "egress_attempts": 5, "egress_keep_sources": True, "ticket_ttl_s": 60.0, "loginkey_ttl_s": 7200.0,
    "entry_window_s": 120.0, "room_cache_ttl_s": 0.5, "throttle_base_s": 0.1,
    "throttle_max_s": 8.0, "max_body_bytes": 2097152, "max_upload_bytes": 52428800,
    "room_file_limit": 40, "callback_delays_s": [5.0, 30.0], "callback_timeout_s": 4.0,
    "convert_workers": 3, "convert_timeout_s": 120.0, "convert_max_bytes": 0,
    "convert_max_pages": 80, "convert_poll_s": 5.0, "file_ticket_hours": 6.0,
    "http_header_timeout_s": 20.0, "join_timeout_s": 15.0, "max_connections_per_address": 0,
    "session_grace_s": 30.0, "resume_window": 8192, "sweep_interval_s": 0.5,
    "socket_out_limit_bytes": 8388608, "group_timeout_s": 2.0, "max_saved_messages": 1000,
    "max_saved_per_user": 20, "board_max_shapes": 300, "board_max_shape_bytes": 4096,
    "board_rate": 0, "drain_s": 12.5, "metrics": False, "log_format": "json", "access_log": False,
    "password_time_cost": 3, "password_memory_kib": 65536, "password_parallelism": 2,
    "embedded_turn": False, "turn_urls": ["turn:turn.example.org:3478?transport=udp",
                                          "turns:turn.example.org:443?transport=tcp"],
    "turn_secret": "turn-pw", "turn_host": "turn.example.org", "turn_port": 3479,
    "turn_tls_port": 443, "turn_relay_ports": "50000-50999", "turn_realm": "school.example.org",
    "turn_allowed_peers": ["10.0.0.5", "10.0.1.1-10.0.1.9"], "turn_ttl_s": 14400.0,
    "live_enabled": False, "live_max_rooms": 2, "live_size": "960x540", "live_fps": 20,
    "live_video_kbps": 1200, "live_segment_s": 2.0, "live_list_size": 8,
    "live_ports": "41000-41999", "live_rtp_host": "10.0.0.9",
    "live_public_url": "https://cdn.example.org", "live_rtmp_url": "rtmp://live.example.org/app/key",
    "storage": "s3", "storage_dir": "/mnt/tkroom", "s3_endpoint": "http://minio.internal:9000",
    "s3_bucket": "tkroom", "s3_prefix": "node-files/", "s3_region": "eu-west-3",
    "s3_access_key": "AKIDEXAMPLE", "s3_secret_key": "s3-pw", "s3_downloads": "redirect",
    "s3_url_ttl_s": 60.0, "s3_create_bucket": True,
}
MASKED = {"database_url": "postgresql://tk:***@db.internal:5433/tk",
          "redis_url": "redis://:***@redis.internal:6380/2", "secret_hex": "***",
          "janus_secret": "***", "turn_secret": "***", "s3_secret_key": "***"}


def _toml(values: dict) -> str:
    from tkroom.config import _toml_value

    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any TKROOM_* setting (the shell's must not leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TKROOM_")}
    return {**env, "PYTHONPATH": SRC, **extra}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tkroom", *args], env=_clean_env(**env),
                          capture_output=True, text=True, timeout=120)


def test_a_file_with_every_setting_round_trips_through_config_show(tmp_path):
    assert set(EVERY) == set(Settings.model_fields), "give the new setting a value in EVERY"
    defaults = Settings()
    for key, value in EVERY.items():
        assert Settings(**{key: value}).model_dump()[key] != getattr(defaults, key), key
    conf = tmp_path / "tkroom.toml"
    conf.write_text(_toml(EVERY))

    shown = _run("config", "show", "--config", str(conf))
    assert shown.returncode == 0, shown.stderr
    got = tomllib.loads(shown.stdout)
    assert got == {**EVERY, **MASKED}, "every setting as the file gave it, secrets masked"
    for line in shown.stdout.splitlines():
        assert line.endswith(f"# {conf}: {line.split(' = ')[0]}"), line
    for secret in ("dbpass", "redispass", "cd" * 32, "janus-pw", "turn-pw", "s3-pw"):
        assert secret not in shown.stdout

    # what show printed, secrets filled in again, is a config file giving the same settings
    again = tmp_path / "again.toml"
    again.write_text(_toml({**got, **{k: EVERY[k] for k in MASKED}}))
    loaded = Settings.load(config=conf, environ={}).model_dump()
    assert Settings.load(config=again, environ={}).model_dump() == loaded
    assert loaded == Settings(**EVERY).model_dump()


def test_flags_over_environment_over_file_over_defaults(tmp_path):
    conf = tmp_path / "tkroom.toml"
    conf.write_text('port = 9100\nboard_rate = 7\nticket_ttl_s = 30\nhost = "10.0.0.1"\n')
    env = {"TKROOM_PORT": "9200", "TKROOM_TICKET_TTL": "45", "TKROOM_CONFIG": str(conf)}
    s = Settings.load({"port": 9300}, environ=env)
    assert (s.port, s.ticket_ttl_s, s.board_rate, s.host, s.max_saved_messages) == \
        (9300, 45.0, 7, "10.0.0.1", 50_000)
    assert [s.origin(k) for k in ("port", "ticket_ttl_s", "board_rate", "max_saved_messages")] == \
        ["--port", "TKROOM_TICKET_TTL", f"{conf}: board_rate", "default"]
    assert Settings.load({"data_dir": None, "janus_urls": []}, environ=env).janus_urls == []
    # --config wins over TKROOM_CONFIG; an empty variable counts as unset
    other = tmp_path / "other.toml"
    other.write_text("board_rate = 9\n")
    assert Settings.load(config=other, environ={**env, "TKROOM_BOARD_RATE": " "}).board_rate == 9
    shown = _run("config", "show", "--port", "9300", "--data", str(tmp_path / "d"), **env)
    assert shown.returncode == 0, shown.stderr
    got = tomllib.loads(shown.stdout)
    assert (got["port"], got["ticket_ttl_s"], got["board_rate"], got["data_dir"]) == \
        (9300, 45.0, 7, str(tmp_path / "d"))
    assert "port = 9300  # --port" in shown.stdout and "# TKROOM_TICKET_TTL" in shown.stdout
    assert "# signal_port: not set (default)" in shown.stdout


def test_settings_only_changeable_in_code_before_are_settings_now(monkeypatch):
    """The knobs that were constructor literals reach the parts that use them."""
    env = {"TKROOM_LOGINKEY_TTL": "60", "TKROOM_ENTRY_WINDOW": "30", "TKROOM_ROOM_FILE_LIMIT": "5",
           "TKROOM_CALLBACK_TIMEOUT": "2", "TKROOM_ROOM_CACHE_TTL": "0", "TKROOM_THROTTLE_BASE": "0.2",
           "TKROOM_THROTTLE_MAX": "1", "TKROOM_SESSION_GRACE": "40", "TKROOM_EMBEDDED_JANUS": "0",
           "TKROOM_JANUS_ICE": "v0", "TKROOM_RTP_PORTS": "45000-49999", "TKROOM_LOG_LEVEL": "DEBUG"}
    s = Settings.load(environ=env)
    assert (s.loginkey_ttl_s, s.entry_window_s, s.room_file_limit, s.callback_timeout_s) == (60, 30, 5, 2)
    assert (s.room_cache_ttl_s, s.throttle_base_s, s.throttle_max_s, s.session_grace_s) == (0, 0.2, 1, 40)
    assert (s.embedded_janus, s.janus_ice, s.rtp_ports, s.log_level) == (False, "v0", "45000-49999", "debug")


def test_a_node_is_built_from_the_settings(tmp_path):
    from tkroom.media.plane import MediaSettings
    from tkroom.planes import build_node
    from tkroom.webapi.app import body_limits

    s = Settings(data_dir=tmp_path, session_grace_s=40.0, resume_window=100, sweep_interval_s=0.25,
                 socket_out_limit_bytes=1 << 16, group_timeout_s=1.5, room_cache_ttl_s=0.0,
                 throttle_base_s=0.2, throttle_max_s=1.0, callback_timeout_s=3.0, max_body_bytes=5000,
                 max_upload_bytes=70000, janus_ice="v0", rtp_ports="45000-49999", embedded_janus=False,
                 janus_secret="pw", media_sync_s=3.0, convert_poll_s=0.5)
    node = build_node(s, web=False)
    sig = node.signal
    assert (sig.grace, sig.sweep_interval, sig.out_limit, sig.group_timeout) == (40.0, 0.25, 1 << 16, 1.5)
    assert sig.state.window == 100
    assert (node.rooms.ttl_s, node.api.throttle.base_s, node.api.throttle.cap_s) == (0.0, 0.2, 1.0)
    assert node.webhooks.timeout_s == 3.0
    assert node.media.sync_every == 3.0
    assert MediaSettings.from_settings(s) == MediaSettings([], tmp_path / "media", "v0", "45000-49999",
                                                           embedded=False, janus_secret="pw")
    limit = body_limits(s)
    assert limit("/WebAPI/roomcreate") == (5000, 4105)
    assert limit("/ClientAPI/uploadfile") == (75000, 5206)
    assert build_node(s, web=False, grace=1.0, sweep_interval=0.1).signal.grace == 1.0


@pytest.mark.parametrize(("file", "env", "line"), [
    ("prot = 9000\n", {}, "{conf}: prot: no such setting (did you mean port?)"),
    ('port = "eighty"\n', {}, "{conf}: port: 'eighty': Input should be a valid integer"),
    ("board_rate = -1\n", {}, "{conf}: board_rate: -1: Input should be greater than or equal to 0"),
    ("port = \n", {}, "{conf}: not a TOML file: "),
    (None, {"TKROOM_PROT": "9000"}, "TKROOM_PROT: no such setting (did you mean TKROOM_PORT?)"),
    (None, {"TKROOM_PORT": "eighty"}, "TKROOM_PORT: 'eighty': Input should be a valid integer"),
    (None, {"TKROOM_SECRET": "not-hex"}, "TKROOM_SECRET: ***: String should match pattern"),
    (None, {"TKROOM_CONFIG": "/nonexistent/tkroom.toml"}, "/nonexistent/tkroom.toml: no such config file"),
    (None, {"TKROOM_TURN_URLS": "turn:ok.example.org,https://turn.example.org"},
     "TKROOM_TURN_URLS: 'turn:ok.example.org,https://turn.example.org': Value error, "
     "'https://turn.example.org' is not a turn: or turns: URL with a host"),
    (None, {"TKROOM_TURN_ALLOWED_PEERS": "10.0.0.5,10.0.0.x"}, "TKROOM_TURN_ALLOWED_PEERS: '10.0.0.5,10.0.0.x': "
     "Value error, '10.0.0.x' is not an address or a first-last range"),
])
def test_an_unknown_or_malformed_setting_stops_start_up_with_one_line(tmp_path, file, env, line):
    conf = tmp_path / "tkroom.toml"
    args = ["serve", "--data", str(tmp_path / "data")]
    if file is not None:
        conf.write_text(file)
        args += ["--config", str(conf)]
    out = _run(*args, **env)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("tkroom: " + line.format(conf=conf)), out.stderr
    assert not (tmp_path / "data").exists(), "nothing started"


def test_admin_reads_the_config_file_too(tmp_path):
    conf = tmp_path / "tkroom.toml"
    conf.write_text(f'data_dir = "{tmp_path / "fromfile"}"\n')
    out = _run("admin", "enterprise", "list", "--config", str(conf))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "fromfile" / "tkroom.db").exists()
    bad = _run("admin", "enterprise", "list", TKROOM_DATABSE_URL="x")
    assert bad.returncode == 2 and "TKROOM_DATABSE_URL: no such setting (did you mean TKROOM_DATABASE_URL?)" in bad.stderr


def test_every_flag_of_the_model_is_a_flag_of_serve_and_config_show():
    from tkroom.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    model = {_flag for f in Settings.model_fields.values() if (_flag := f.json_schema_extra["flag"])}
    show = next(a for a in sub.choices["config"]._actions if isinstance(a, argparse._SubParsersAction))
    for parser in (sub.choices["serve"], show.choices["show"]):
        flags = {o for a in parser._actions for o in a.option_strings} - {"-h", "--help", "--config"}
        assert flags == model


def test_the_reference_is_generated_from_the_model():
    assert (DOCS / "configuration.md").read_text() == reference_markdown(), "run python -m tkroom.config"
    assert "(configuration.md)" in (DOCS / "operations.md").read_text()


def test_serve_runs_on_the_settings_of_its_config_file(tmp_path):
    """``tkroom serve --config``: the node keeps its data where the file says and applies the
    file's limits (a body over its ``max_body_bytes`` is cut: HTTP 413, 4105)."""
    data = tmp_path / "fromfile"
    conf = tmp_path / "tkroom.toml"
    conf.write_text(_toml({"data_dir": str(data), "embedded_janus": False, "max_body_bytes": 1000,
                           "log_format": "json"}))
    node = Served("--config", str(conf))
    try:
        small = httpx.post(f"{node.url}/WebAPI/getroom", data={"key": "x", "serial": "1"})
        assert small.status_code == 200 and small.json()["result"] != 4105
        big = httpx.post(f"{node.url}/WebAPI/getroom", data={"key": "x" * 2000, "serial": "1"})
        assert big.status_code == 413 and big.json()["result"] == 4105
        assert (data / "tkroom.db").exists() and (data / "secret").exists()
    finally:
        node.stop()
