"""Who may do what, what a request must look like, and the events it causes — pure checks.

Each ``check_*`` function validates one request against the sender and a snapshot of what
it needs to know, raising ``CodeError`` with the seed's code, or returning what to apply and
publish. No I/O, no clock: ``now_ms`` is an argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tkroom import codes
from tkroom.errors import CodeError
from tkroom.rooms.model import (
    INSPECTOR,
    ROLES,
    STUDENT,
    SUPER_ROLES,
    TEACHER,
    VIEWER,
    Member,
    Target,
)
from tkroom.rooms.transitions import SavePolicy

CHAT_MAX_CHARS = 1024           # 61 at this many characters or more
CHAT_MIN_GAP_MS = 1000          # 62 when this close or closer to the user's last chat
SERVER_ID = "__server"          # fromID of messages the server itself publishes
RESERVED_PROPS = frozenset(("role", "nickname", "publishstate", "candraw", "disablechat", "group",
                            "giftnumber"))
SERVER_PROPS = frozenset(("giftnumber",))   # counted by the server (docs/tools.md: trophies)
SUPER_ONLY_PROPS = frozenset(("candraw", "disablechat", "group"))
PAGE_MAX = 1000

_NAMESPACES = ("error_notice", "webapi", "sdk")

NAMED_TARGETS = {
    "__all": "all",
    "__allExceptSender": "except_sender",
    "__allExceptAuditor": "except_auditor",
    "__none": "none",
    "__allSuperUsers": "super",
}
STUDENT_TARGETS = frozenset(("none", "super", "user", "ids"))
STUDENT_LIST_MAX = 1            # a student's toID list is one user id, as a plain id would be

# Saved messages the server itself acts on: the class begins/ends (webhooks, recording), chat
# is banned, video is withdrawn, the room is big. Only super users send or delete them.
CLASS_BEGIN_ID = "ClassBegin"
BAN_CHAT_ID = "EveryoneBanChat"
AUDIO_ONLY_ID = "OnlyAudioRoom"
BIG_ROOM_ID = "BigRoom"
CLASS_STATE_IDS = frozenset((CLASS_BEGIN_ID, BAN_CHAT_ID, AUDIO_ONLY_ID, BIG_ROOM_ID))


def fail(code: int, detail: str = "") -> CodeError:
    """A CodeError with the seed's description (and a detail) for any signalling code."""
    for ns in _NAMESPACES:
        try:
            base = codes.describe(ns, code)
        except KeyError:
            continue
        return CodeError(code, f"{base}: {detail}" if detail else base, namespace=ns)
    return CodeError(code, detail or f"status {code}")


def is_super(m: Member) -> bool:
    return m.role in SUPER_ROLES


def visible(m: Member, bigroom: bool) -> bool:
    """Whether others are told about this member (inspectors never; big rooms: stage only)."""
    if m.role == INSPECTOR:
        return False
    return not bigroom or m.role in SUPER_ROLES or m.on_stage


def _str(v: Any, what: str, code: int = 103, *, empty: bool = False) -> str:
    if not isinstance(v, str) or (not empty and not v) or len(v) > 256:
        raise fail(code, f"{what} must be a non-empty string of at most 256 characters")
    return v


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise fail(103, f"{what} must be an integer in {lo}..{hi}")
    return v


def parse_roles(v: Any) -> tuple[int, ...] | None:
    """An optional list of roles (None = all roles)."""
    if v is None:
        return None
    if not isinstance(v, list) or len(v) > len(ROLES):
        raise fail(103, "roles must be a list of roles 0..4")
    return tuple(_int(r, "role", 0, 4) for r in v)


def parse_target(toid: Any, sender: str) -> Target:
    """The ``toID`` of a request as a ``Target`` (103 when it is none of the forms)."""
    if toid is None:
        return Target("all", sender)
    if isinstance(toid, str):
        kind = NAMED_TARGETS.get(toid)
        if kind is not None:
            return Target(kind, sender)
        return Target("user", sender, (_str(toid, "toID"),))
    if isinstance(toid, list):
        if len(toid) > PAGE_MAX:
            raise fail(103, f"toID lists hold at most {PAGE_MAX} ids")
        return Target("ids", sender, tuple(_str(u, "toID entry") for u in toid))
    if isinstance(toid, dict) and len(toid) == 1:
        if "roles" in toid:
            roles = parse_roles(toid["roles"])
            return Target("roles", sender, roles=roles or ())
        if "group" in toid:
            return Target("group", sender, group=_str(toid["group"], "toID group"))
    raise fail(103, "toID must be a user id, __all, __allExceptSender, __allExceptAuditor, "
                    "__none, __allSuperUsers, a list of ids, {roles: [...]} or {group: id}")


def _may_steer(sender: Member, target: Target, what: str) -> None:
    """Students reach only __none, super users and single users; viewers/inspectors nothing."""
    if sender.role in (VIEWER, INSPECTOR):
        raise fail(4108, f"role {sender.role} may not send {what}")
    if sender.role == STUDENT and target.kind not in STUDENT_TARGETS:
        raise fail(4108, f"a student may not send {what} to everyone, a role set or a group")
    if sender.role == STUDENT and len(target.ids) > STUDENT_LIST_MAX:
        raise fail(4108, f"a student may send {what} to one user id, not to a list of "
                         f"{len(target.ids)} (use __allSuperUsers to reach the teachers)")


def _not_class_state(sender: Member, name: str, mid: str, what: str) -> None:
    """Class state (``CLASS_STATE_IDS``, by name or by id) is the super users' alone."""
    if not is_super(sender) and {name, mid} & CLASS_STATE_IDS:
        which = sorted({name, mid} & CLASS_STATE_IDS)[0]
        raise fail(4108, f"{which} is class state: only the teacher and assistants {what} it")


def saved_author(sender: Member) -> str:
    """Whose saved messages ``sender`` may replace or delete: a student (or any non-super
    user) only its own, super users anyone's ("")."""
    return "" if is_super(sender) else sender.userid


def check_pubmsg(sender: Member, data: Any, now_ms: int) -> tuple[dict[str, Any], Target]:
    """A ``pubMsg`` request as the message to publish (and save) and its target."""
    if not isinstance(data, dict):
        raise fail(103, "pubMsg data must be an object")
    name = _str(data.get("name"), "name")
    mid = _str(data.get("id", name), "id")
    target = parse_target(data.get("toID", "__all"), sender.userid)
    _may_steer(sender, target, "pubMsg")
    _not_class_state(sender, name, mid, "send")
    save = data.get("save", False)
    if not isinstance(save, bool):
        raise fail(103, "save must be true or false")
    if "do_not_save" in data:
        save = False
    msg: dict[str, Any] = {
        "name": name, "id": mid, "toID": data.get("toID", "__all"), "data": data.get("data", {}),
        "fromID": sender.userid, "ts": now_ms, "save": save,
    }
    for key in ("associatedMsgID", "associatedUserID"):
        if data.get(key) is not None:
            msg[key] = _str(data[key], key)
    if "expires" in data:
        msg["expires"] = _int(data["expires"], "expires", 0, 2**53)
    if save and sender.role == STUDENT and msg.get("associatedUserID") != sender.userid:
        raise fail(4108, "a student may only save messages associated with itself")
    return msg, target


def saved_limit_detail(refused: str, policy: SavePolicy, msg: dict[str, Any]) -> str:
    """Why a saved message was refused (2601), in words a client can show."""
    if refused == "room":
        return (f"the room keeps at most {policy.max_room} saved messages: delete some "
                "(delMsg) or send this one without save")
    return (f"at most {policy.max_user} saved messages may be associated with one user "
            f"({msg.get('associatedUserID')!r}): delete some of them first")


def check_delmsg(sender: Member, data: Any, now_ms: int) -> tuple[dict[str, Any], Target]:
    """A ``delMsg`` request as the event to publish and its target."""
    if not isinstance(data, dict):
        raise fail(103, "delMsg data must be an object")
    name = _str(data.get("name"), "name")
    mid = _str(data.get("id", name), "id")
    target = parse_target(data.get("toID", "__all"), sender.userid)
    _may_steer(sender, target, "delMsg")
    _not_class_state(sender, name, mid, "delete")
    msg = {"name": name, "id": mid, "toID": data.get("toID", "__all"),
           "data": data.get("data", {}), "fromID": sender.userid, "ts": now_ms}
    return msg, target


def server_delmsg(saved: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The ``delMsg`` the server announces when a cascade removes a saved message."""
    return {"name": saved["name"], "id": saved["id"], "toID": "__all",
            "data": saved.get("data", {}), "fromID": SERVER_ID, "ts": now_ms}


@dataclass(frozen=True, slots=True)
class Chat:
    """A valid chat message: the event data and its target; ``gated`` = rate-limited user."""

    data: dict[str, Any]
    target: Target
    gated: bool


def chat_text(message: Any) -> str:
    """The text a chat message shows (a string, or the ``msg`` field of an object)."""
    if isinstance(message, str):
        return message
    text = message.get("msg", "") if isinstance(message, dict) else ""
    return text if isinstance(text, str) else ""


def check_chat(sender: Member, data: Any, banned: bool, now_ms: int) -> Chat:
    """A ``sendMessage`` request: 103 shape, 4108 banned/inspector, 61 too long."""
    if not isinstance(data, dict) or not isinstance(data.get("message"), str | dict):
        raise fail(103, "sendMessage needs a message (a string or an object)")
    target = parse_target(data.get("toID", "__all"), sender.userid)
    if sender.role == INSPECTOR:
        raise fail(4108, "an inspector may not chat")
    if not is_super(sender):
        if banned:
            raise fail(4108, "chat is banned for everyone (EveryoneBanChat)")
        if sender.properties.get("disablechat"):
            raise fail(4108, "chat is disabled for this user (disablechat)")
    if len(chat_text(data["message"])) >= CHAT_MAX_CHARS:
        raise fail(61)
    event = {"fromID": sender.userid, "nickname": sender.nickname, "role": sender.role,
             "toID": data.get("toID", "__all"), "message": data["message"], "ts": now_ms}
    return Chat(event, target, not is_super(sender))


def parse_property_subject(v: Any) -> tuple[str, Any]:
    """``id`` of setProperty: ``("id", uid)``, ``("ids", [...])`` or ``("roles", (...))``."""
    if isinstance(v, str):
        return "id", _str(v, "id")
    if isinstance(v, dict) and len(v) == 1:
        if "ids" in v and isinstance(v["ids"], list) and len(v["ids"]) <= PAGE_MAX:
            return "ids", [_str(u, "ids entry") for u in v["ids"]]
        if "roles" in v:
            return "roles", parse_roles(v["roles"]) or ()
    raise fail(103, "id must be a user id, {ids: [...]} or {roles: [...]}")


def check_properties(sender: Member, subject: Member, props: Any) -> dict[str, Any]:
    """The properties ``sender`` may set on ``subject`` (4108 otherwise, 103 bad shape)."""
    if not isinstance(props, dict) or not props or not all(isinstance(k, str) for k in props):
        raise fail(103, "properties must be a non-empty object")
    if "role" in props or "nickname" in props:
        raise fail(4108, "role and nickname come from the join proof")
    if SERVER_PROPS & props.keys():
        raise fail(4108, "giftnumber is counted by the server: give trophies with sendgift")
    if is_super(sender):
        if "publishstate" in props:
            _int(props["publishstate"], "publishstate", 0, 4)
        return props
    if sender.role == INSPECTOR:
        raise fail(4108, "an inspector may not change properties")
    if subject.userid != sender.userid:
        raise fail(4108, "only the teacher and assistants change other users' properties")
    if SUPER_ONLY_PROPS & props.keys():
        raise fail(4108, f"only super users set {sorted(SUPER_ONLY_PROPS & props.keys())}")
    if "publishstate" in props:
        new = _int(props["publishstate"], "publishstate", 0, 4)
        if sender.role == VIEWER and new:
            raise fail(4108, "a live viewer never publishes")
        if new and not subject.properties.get("publishstate"):
            raise fail(4108, "going on stage is granted by the teacher or an assistant")
    return props


def check_evict(sender: Member, target: Member | None) -> None:
    """Only super users evict; an assistant may not evict the teacher; nobody evicts itself."""
    if not is_super(sender):
        raise fail(4108, "only the teacher and assistants may evict")
    if target is None or target.role == INSPECTOR:
        raise fail(104)
    if target.userid == sender.userid:
        raise fail(103, "use leaveRoom to leave")
    if target.role == TEACHER and sender.role != TEACHER:
        raise fail(4108, "an assistant may not evict the teacher")


def check_join_group(sender: Member, data: Any) -> str:
    """The group id a user asks to join; 156 for roles that have no group."""
    if not isinstance(data, dict):
        raise fail(103, "joinGroup data must be an object")
    gid = _str(data.get("groupid"), "groupid", 156)
    if sender.role in (VIEWER, INSPECTOR):
        raise fail(156, "live viewers and inspectors do not join groups")
    return gid


def page_users(members: Iterable[Member], data: Any) -> tuple[list[dict[str, Any]], int]:
    """``getRoomUsers``: members filtered by roles and search, one page, and the total."""
    if not isinstance(data, dict):
        raise fail(103, "getRoomUsers data must be an object")
    start = _int(data.get("start", 0), "start", 0, 2**31)
    limit = _int(data.get("max", 200), "max", 1, PAGE_MAX)
    roles = parse_roles(data.get("roles"))
    search = data.get("search")
    if search is not None:
        search = _str(search, "search", empty=True).lower()
    found = [m for m in members if m.role != INSPECTOR
             and (roles is None or m.role in roles)
             and (not search or search in m.userid.lower() or search in m.nickname.lower())]
    return [m.public() for m in found[start:start + limit]], len(found)


def count_users(members: Iterable[Member], data: Any) -> int:
    """``getRoomUserNum``: how many visible members have one of the roles."""
    if not isinstance(data, dict):
        raise fail(103, "getRoomUserNum data must be an object")
    roles = parse_roles(data.get("roles"))
    return sum(1 for m in members if m.role != INSPECTOR and (roles is None or m.role in roles))


def custom_properties(v: Any) -> dict[str, Any]:
    """The client's own join properties, without the ones only the server sets (63 if bad)."""
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
        raise fail(63, "properties must be an object")
    return {k: val for k, val in v.items() if k not in RESERVED_PROPS}
