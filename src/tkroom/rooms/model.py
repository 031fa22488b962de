"""The data a room is made of: members, saved messages, events and their targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# re-exported: the room rules (and the media plane) import the roles from here too
from tkroom.roles import ASSISTANT as ASSISTANT
from tkroom.roles import INSPECTOR as INSPECTOR
from tkroom.roles import ROLES as ROLES
from tkroom.roles import STUDENT as STUDENT
from tkroom.roles import SUPER_ROLES as SUPER_ROLES
from tkroom.roles import TEACHER as TEACHER
from tkroom.roles import VIEWER as VIEWER

DEFAULT_PROPERTIES: dict[str, Any] = {
    "publishstate": 0,
    "raisehand": False,
    "disablechat": False,
    "candraw": False,
    "group": None,
}
# what the class gave a user, kept when the same user replaces its session (e.g. a reload)
INHERITED_PROPS = tuple(DEFAULT_PROPERTIES)


@dataclass(slots=True)
class Member:
    """One user in a room; ``session`` names the connection-independent session it lives in."""

    userid: str
    role: int
    nickname: str
    session: str
    properties: dict[str, Any] = field(default_factory=dict)
    joined_ms: int = 0

    @property
    def group(self) -> str | None:
        return self.properties.get("group")

    @property
    def on_stage(self) -> bool:
        return bool(self.properties.get("publishstate"))

    def merge(self, props: dict[str, Any]) -> None:
        """Take changed properties in (``role`` never changes this way)."""
        self.properties.update({k: v for k, v in props.items() if k != "role"})

    def public(self) -> dict[str, Any]:
        """The user as others see it (``{"id", "properties"}``), a copy that later property
        changes do not alter (it may wait in a replay window)."""
        return {"id": self.userid, "properties": dict(self.properties)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "userid": self.userid, "role": self.role, "nickname": self.nickname,
            "session": self.session, "properties": self.properties, "joined_ms": self.joined_ms,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Member:
        return cls(**d)


def new_member(userid: str, role: int, nickname: str, session: str, custom: dict[str, Any],
               now_ms: int) -> Member:
    """A member with the default properties; the role and nickname always come from the proof."""
    props = {**DEFAULT_PROPERTIES, **custom, "role": role, "nickname": nickname}
    return Member(userid, role, nickname, session, props, now_ms)


@dataclass(frozen=True, slots=True)
class Target:
    """Who an event is for, kept symbolic so every node can match its own connections.

    ``kind`` is one of ``user``, ``all``, ``except_sender``, ``except_auditor``, ``none``,
    ``super``, ``ids``, ``roles``, ``group``, ``session``. ``sender`` is the user excluded by
    ``except_sender``; ``session`` reaches one session (``ids[0]``), not the user's newer one.
    """

    kind: str
    sender: str = ""
    ids: tuple[str, ...] = ()
    roles: tuple[int, ...] = ()
    group: str = ""

    def matches(self, userid: str, role: int, group: str | None, session: str = "") -> bool:
        """Whether the user with this id, role, group and session receives the event."""
        k = self.kind
        if k == "all":
            return True
        if k == "except_sender":
            return userid != self.sender
        if k == "except_auditor":
            return role != VIEWER
        if k == "user" or k == "ids":
            return userid in self.ids
        if k == "super":
            return role in SUPER_ROLES
        if k == "roles":
            return role in self.roles
        if k == "group":
            return role in SUPER_ROLES or (group is not None and group == self.group)
        if k == "session":
            return session in self.ids
        return False

    def to_list(self) -> list[Any]:
        return [self.kind, self.sender, list(self.ids), list(self.roles), self.group]

    @classmethod
    def from_list(cls, v: list[Any]) -> Target:
        return cls(v[0], v[1], tuple(v[2]), tuple(v[3]), v[4])


ALL = Target("all")


@dataclass(frozen=True, slots=True)
class Event:
    """One room event. ``s`` is the room sequence number the state assigned (0 = not yet)."""

    ev: str
    data: dict[str, Any]
    target: Target
    s: int = 0

    def frame(self) -> dict[str, Any]:
        """The wire form a client receives."""
        return {"ev": self.ev, "s": self.s, "data": self.data}

    def to_dict(self) -> dict[str, Any]:
        return {"ev": self.ev, "data": self.data, "target": self.target.to_list(), "s": self.s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(d["ev"], d["data"], Target.from_list(d["target"]), d["s"])
