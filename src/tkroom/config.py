"""Settings of a node: flags over environment variables over defaults.

One object carries every knob so that ``serve``, ``admin``, the tests and the benchmark build a
node the same way. The server secret is generated once and kept in the data folder (or, for
nodes sharing PostgreSQL, adopted from the database), because join tickets signed before a
restart or by another node must stay valid.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 8080
CALLBACK_DELAYS_S = (15.0, 60.0, 300.0, 1800.0)


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def _env_count(name: str) -> int:
    """A limit from the environment: a whole number, 0 meaning no limit."""
    raw = os.environ[name].strip()
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number (0 = no limit), not {raw!r}")
    return int(raw)


@dataclass
class Settings:
    """Everything a node needs to know to start."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    signal_port: int | None = None  # None: port + 1 (or chosen by the signalling plane if port is 0)
    data_dir: Path = field(default_factory=lambda: Path("tkroom-data"))
    database_url: str | None = None  # None: SQLite under data_dir
    redis_url: str | None = None
    janus_urls: list[str] = field(default_factory=list)
    # Public signalling URLs (e.g. wss://class.example.org/signal behind a TLS proxy): this
    # node's first, then the cluster's other nodes; getconfig hands them to clients. Empty: the
    # host the client reached over HTTP and the signalling port.
    signal_urls: list[str] = field(default_factory=list)
    secret_hex: str | None = None  # None: read or create data_dir/secret
    ticket_ttl_s: float = 120.0
    room_cache_ttl_s: float = 2.0
    loginkey_ttl_s: float = 3600.0
    entry_window_s: float = 300.0
    room_file_limit: int = 100
    max_upload_bytes: int = 200 * 1024 * 1024
    # Courseware conversion (tkroom.courseware): documents converted at once by this node, the
    # time one may take, the largest source and the most pages it may have (0: no limit), and
    # how long after issue a join ticket still authorizes the page's file calls (uploadfile,
    # delroomfile of the ClientAPI): a class outlasts the ticket's join lifetime.
    convert_workers: int = 2
    convert_timeout_s: float = 300.0
    convert_max_bytes: int = 100 * 1024 * 1024
    convert_max_pages: int = 500
    file_ticket_hours: float = 12.0
    # The edge (tkroom.edge): how long a client may take to send a request's headers, how long
    # a signalling socket may stay without joining (or resuming), and how many HTTP and,
    # separately, signalling connections one address may hold open (0: no cap).
    http_header_timeout_s: float = 10.0
    join_timeout_s: float = 10.0
    max_connections_per_address: int = 1000
    callback_delays_s: tuple[float, ...] = CALLBACK_DELAYS_S
    callback_timeout_s: float = 10.0
    throttle_base_s: float = 0.05
    throttle_max_s: float = 5.0
    # saved messages (pubMsg save:true) a room keeps, in all and associated with one user;
    # 0 = no limit. They bound what every join carries and what one leave removes.
    max_saved_messages: int = 50_000
    max_saved_per_user: int = 500
    # the board (docs/board.md): saved shapes per page, bytes of one board message's data as
    # JSON, board messages a second per user (bursts of twice that); 0 = no limit
    board_max_shapes: int = 10_000
    board_max_shape_bytes: int = 32 * 1024
    board_rate: int = 60
    log_level: str = "info"
    # Operations (tkroom.health, tkroom.metrics): seconds a stopping node keeps serving while
    # /readyz answers 503 (load balancers take it out), and then at most waits for its clients
    # to reconnect elsewhere (0: stop at once); whether /metrics is served.
    drain_s: float = 0.0
    metrics: bool = True

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then TKROOM_* variables, then the explicit overrides (flags) that are not None."""
        s = cls()
        env = os.environ
        if "TKROOM_HOST" in env:
            s.host = env["TKROOM_HOST"]
        if "TKROOM_PORT" in env:
            s.port = int(env["TKROOM_PORT"])
        if "TKROOM_SIGNAL_PORT" in env:
            s.signal_port = int(env["TKROOM_SIGNAL_PORT"])
        if "TKROOM_DATA" in env:
            s.data_dir = Path(env["TKROOM_DATA"])
        s.database_url = env.get("TKROOM_DATABASE_URL") or None
        s.redis_url = env.get("TKROOM_REDIS_URL") or None
        s.janus_urls = _env_list("TKROOM_JANUS")
        s.signal_urls = _env_list("TKROOM_SIGNAL_URLS")
        s.secret_hex = env.get("TKROOM_SECRET") or None
        if "TKROOM_TICKET_TTL" in env:
            s.ticket_ttl_s = float(env["TKROOM_TICKET_TTL"])
        if "TKROOM_MAX_SAVED_MESSAGES" in env:
            s.max_saved_messages = _env_count("TKROOM_MAX_SAVED_MESSAGES")
        if "TKROOM_MAX_SAVED_PER_USER" in env:
            s.max_saved_per_user = _env_count("TKROOM_MAX_SAVED_PER_USER")
        if "TKROOM_BOARD_MAX_SHAPES" in env:
            s.board_max_shapes = _env_count("TKROOM_BOARD_MAX_SHAPES")
        if "TKROOM_BOARD_MAX_SHAPE_BYTES" in env:
            s.board_max_shape_bytes = _env_count("TKROOM_BOARD_MAX_SHAPE_BYTES")
        if "TKROOM_BOARD_RATE" in env:
            s.board_rate = _env_count("TKROOM_BOARD_RATE")
        if "TKROOM_CALLBACK_DELAYS" in env:
            s.callback_delays_s = tuple(float(x) for x in _env_list("TKROOM_CALLBACK_DELAYS"))
        if "TKROOM_MAX_UPLOAD" in env:
            s.max_upload_bytes = int(env["TKROOM_MAX_UPLOAD"])
        if "TKROOM_CONVERT_WORKERS" in env:
            s.convert_workers = int(env["TKROOM_CONVERT_WORKERS"])
        if "TKROOM_CONVERT_TIMEOUT" in env:
            s.convert_timeout_s = float(env["TKROOM_CONVERT_TIMEOUT"])
        if "TKROOM_CONVERT_MAX_BYTES" in env:
            s.convert_max_bytes = _env_count("TKROOM_CONVERT_MAX_BYTES")
        if "TKROOM_CONVERT_MAX_PAGES" in env:
            s.convert_max_pages = _env_count("TKROOM_CONVERT_MAX_PAGES")
        if "TKROOM_FILE_TICKET_HOURS" in env:
            s.file_ticket_hours = float(env["TKROOM_FILE_TICKET_HOURS"])
        if "TKROOM_HEADER_TIMEOUT" in env:
            s.http_header_timeout_s = float(env["TKROOM_HEADER_TIMEOUT"])
        if "TKROOM_JOIN_TIMEOUT" in env:
            s.join_timeout_s = float(env["TKROOM_JOIN_TIMEOUT"])
        if "TKROOM_MAX_CONNECTIONS_PER_ADDRESS" in env:
            s.max_connections_per_address = int(env["TKROOM_MAX_CONNECTIONS_PER_ADDRESS"])
        if "TKROOM_DRAIN_SECONDS" in env:
            s.drain_s = float(env["TKROOM_DRAIN_SECONDS"])
        if "TKROOM_METRICS" in env:
            s.metrics = env["TKROOM_METRICS"].strip() != "0"
        for key, value in overrides.items():
            if value is None or (isinstance(value, list) and not value):
                continue
            if not hasattr(s, key):
                raise TypeError(f"unknown setting {key}")
            setattr(s, key, Path(str(value)) if key == "data_dir" else value)
        return s

    @property
    def effective_signal_port(self) -> int:
        if self.signal_port is not None:
            return self.signal_port
        return self.port + 1 if self.port else 0

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or a SQLite file under the data folder."""
        if self.database_url:
            url = self.database_url
            if url.startswith(("postgresql://", "postgres://")):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tkroom.db').resolve()}"

    def node_id(self) -> str:
        """This node's name in the store, kept in the data folder: the files it received live
        on its disk, so only it converts them (and takes them up again after a restart)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "node-id"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(secrets.token_hex(8))
            try:
                os.link(tmp, path)  # atomic, as for the secret
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()

    def secret(self) -> bytes:
        """The server secret: from TKROOM_SECRET, else read (or created once) in the data folder."""
        if self.secret_hex:
            return bytes.fromhex(self.secret_hex)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)  # atomic: the first node to start wins, the others read its secret
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return bytes.fromhex(path.read_text().strip())
