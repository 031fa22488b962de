"""The SQL schema of tkroom, as SQLAlchemy 2 declarative models.

Alembic migrations under ``migrations/`` create exactly these tables; a test checks that the
models and the migrations agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Company(Base):
    """An enterprise (or a sub-enterprise when ``parentid`` is set) and its key."""

    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parentid: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(100), unique=True)
    authkey: Mapped[str] = mapped_column(String(64), unique=True)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    expires: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # Unix seconds
    max_rooms: Mapped[int] = mapped_column(Integer, default=0)  # 0 = no limit
    max_videotype: Mapped[int] = mapped_column(Integer, default=4)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[int] = mapped_column(BigInteger)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EnterpriseUser(Base):
    """A registered user of an enterprise (for rooms that admit registered users only)."""

    __tablename__ = "enterprise_users"
    __table_args__ = (UniqueConstraint("companyid", "account"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    companyid: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    account: Mapped[str] = mapped_column(String(100))
    username: Mapped[str] = mapped_column(String(200), default="")
    pwhash: Mapped[str] = mapped_column(String(200))
    created: Mapped[int] = mapped_column(BigInteger)


class Room(Base):
    """A classroom with every ``roomcreate`` parameter; role passwords only as hashes (tkroom.passwords)."""

    __tablename__ = "rooms"
    serial: Mapped[str] = mapped_column(String(20), primary_key=True)
    companyid: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    roomname: Mapped[str] = mapped_column(String(200))
    roomtype: Mapped[int] = mapped_column(Integer)
    starttime: Mapped[int] = mapped_column(BigInteger)
    endtime: Mapped[int] = mapped_column(BigInteger)
    passwordrequired: Mapped[bool] = mapped_column(Boolean, default=False)
    allowsidelineuser: Mapped[bool] = mapped_column(Boolean, default=False)
    chairmanpwd: Mapped[str] = mapped_column(String(200), default="")
    assistantpwd: Mapped[str] = mapped_column(String(200), default="")
    patrolpwd: Mapped[str] = mapped_column(String(200), default="")
    confuserpwd: Mapped[str] = mapped_column(String(200), default="")
    sidelineuserpwd: Mapped[str] = mapped_column(String(200), default="")
    maxusers: Mapped[int] = mapped_column(Integer, default=0)
    maxsidelineusers: Mapped[int] = mapped_column(Integer, default=0)
    maxvideo: Mapped[int] = mapped_column(Integer, default=6)
    maxaudio: Mapped[int] = mapped_column(Integer, default=0)
    videotype: Mapped[int] = mapped_column(Integer, default=2)
    videoframerate: Mapped[int] = mapped_column(Integer, default=15)
    roomlayout: Mapped[int] = mapped_column(Integer, default=0)
    autoopenav: Mapped[bool] = mapped_column(Boolean, default=False)
    thirdroomid: Mapped[str] = mapped_column(String(100), default="", index=True)
    singlelogin: Mapped[bool] = mapped_column(Boolean, default=False)
    bigroomthreshold: Mapped[int] = mapped_column(Integer, default=100)
    keepstate: Mapped[bool] = mapped_column(Boolean, default=False)
    registeredonly: Mapped[bool] = mapped_column(Boolean, default=False)
    evictseconds: Mapped[int] = mapped_column(Integer, default=180)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[int] = mapped_column(BigInteger)
    modified: Mapped[int] = mapped_column(BigInteger)


class File(Base):
    """An uploaded courseware file, kept under the data folder."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_queue", "node", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    companyid: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(500))
    token: Mapped[str] = mapped_column(String(64))
    filetype: Mapped[str] = mapped_column(String(20), default="")
    isopen: Mapped[bool] = mapped_column(Boolean, default=False)
    dynamicppt: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaduserid: Mapped[str] = mapped_column(String(100), default="")
    uploadusername: Mapped[str] = mapped_column(String(200), default="")
    uploadtime: Mapped[int] = mapped_column(BigInteger)
    # Conversion into pages (tkroom.courseware; statuses in tkroom.rooms.courseware): asked
    # for or not, 0 queued / 3 converting / 1 done / 2 failed, why it failed, how far it is,
    # the page count; ``node`` holds the source on its disk and alone converts it, ``worker``
    # is the process converting it now, alive while ``heartbeat`` (Unix seconds) is recent.
    conversion: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(Integer, default=1)
    statusmsg: Mapped[str] = mapped_column(String(300), default="")
    progress: Mapped[int] = mapped_column(Integer, default=100)
    pagenum: Mapped[int] = mapped_column(Integer, default=1)
    node: Mapped[str] = mapped_column(String(64), default="")
    worker: Mapped[str] = mapped_column(String(64), default="")
    heartbeat: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class RoomFile(Base):
    """A file bound to a room; ``isdefault`` marks the room's default document."""

    __tablename__ = "room_files"
    serial: Mapped[str] = mapped_column(ForeignKey("rooms.serial"), primary_key=True)
    fileid: Mapped[int] = mapped_column(ForeignKey("files.id"), primary_key=True)
    isdefault: Mapped[bool] = mapped_column(Boolean, default=False)
    sort: Mapped[int] = mapped_column(Integer, default=0)


class Group(Base):
    """A breakout group of a room that clients may join later."""

    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(ForeignKey("rooms.serial"), index=True)
    groupname: Mapped[str] = mapped_column(String(200))
    created: Mapped[int] = mapped_column(BigInteger)


class LoginKey(Base):
    """A 40-character login key and who it lets in."""

    __tablename__ = "login_keys"
    loginkey: Mapped[str] = mapped_column(String(40), primary_key=True)
    serial: Mapped[str] = mapped_column(ForeignKey("rooms.serial"), index=True)
    usertype: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(200))
    userid: Mapped[str] = mapped_column(String(100))
    expires: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[int] = mapped_column(BigInteger)


class MediaServer(Base):
    """A media (Janus) server of the registry that codes 6000-6003 are about."""

    __tablename__ = "media_servers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    companyid: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    name: Mapped[str] = mapped_column(String(50), default="")
    ip: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(300), default="")
    maxusers: Mapped[int] = mapped_column(Integer)
    maxsidelineusers: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(BigInteger)


class ChatMessage(Base):
    """One chat message kept for ``getroomchat`` (chattype 0 public, 2 private)."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_serial_ts", "serial", "ts"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(20))
    chattype: Mapped[int] = mapped_column(Integer)
    fromid: Mapped[str] = mapped_column(String(100), default="")
    nickname: Mapped[str] = mapped_column(String(200), default="")
    toid: Mapped[str] = mapped_column(String(100), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    ts: Mapped[float] = mapped_column(Float)


class ClassEvent(Base):
    """Class begin (0) or end (1) of a room, as the signalling plane reported it."""

    __tablename__ = "class_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), index=True)
    classstate: Mapped[int] = mapped_column(Integer)
    ts: Mapped[float] = mapped_column(Float)


class WebhookDelivery(Base):
    """A class-state callback to an enterprise's URL, retried until it answers ``success``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_pending", "done", "next_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    companyid: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(500))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[float] = mapped_column(Float)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str] = mapped_column(String(500), default="")


class Record(Base):
    """One output of a recording, listed by ``getrecordlist``: ``recordtype`` 0 (event
    playback), 1 (one user's MP4) or 8 (the merged MP4); ``state`` 0 processing, 1 ready,
    2 failed (``reason``). The outputs of one recording share ``recording`` and its folder;
    ``files`` are the names in that folder the row's token downloads
    (``/download/record/<recordid>/<token>/<file>``)."""

    __tablename__ = "records"
    recordid: Mapped[str] = mapped_column(String(64), primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    starttime: Mapped[int] = mapped_column(BigInteger)
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    path: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20), default="mixed")  # 'publisher' | 'mixed'
    userid: Mapped[str] = mapped_column(String(100), default="")
    token: Mapped[str] = mapped_column(String(64))
    recordtype: Mapped[int] = mapped_column(Integer, default=8, server_default="8")
    state: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    recording: Mapped[str] = mapped_column(String(64), default="", server_default="",
                                           index=True)
    files: Mapped[list[str] | None] = mapped_column(JSON, nullable=True, default=None)


class ServerSecret(Base):
    """The secret shared by every node of a cluster (one row), so a join ticket signed by one
    node is accepted by all of them."""

    __tablename__ = "server_secret"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hex: Mapped[str] = mapped_column(String(128))
