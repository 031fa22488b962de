"""Join tickets: the short-lived proof that ``checkroom`` hands a client for ``joinRoom``.

A ticket is ``base64url(json payload) + "." + base64url(HMAC-SHA256(secret, payload))``. Any
node that knows the server secret can verify it without a database round trip, which keeps the
join storm cheap and lets a client join on a node other than the one that checked it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass

from tkroom.errors import CodeError

TICKET_TTL_S = 120


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is joining: decided by the password or login key, never by the client."""

    serial: str
    userid: str
    role: int
    nickname: str
    companyid: int = 0


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def issue(secret: bytes, ident: Identity, now: float, ttl: float = TICKET_TTL_S) -> str:
    payload = json.dumps({**asdict(ident), "exp": int(now + ttl)}, separators=(",", ":")).encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify(secret: bytes, ticket: str, now: float, grace: float = 0.0) -> Identity:
    """The identity in a ticket; CodeError 5301 when it is malformed, forged or expired.

    ``grace`` seconds past its expiry it is still accepted: the classroom page's file calls
    (uploadfile, delroomfile) use the ticket that let it join, hours into a class."""
    try:
        p64, m64 = ticket.split(".")
        payload, mac = _unb64(p64), _unb64(m64)
    except (ValueError, AttributeError) as exc:
        raise CodeError(5301, "The join ticket is malformed") from exc
    if not hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest()):
        raise CodeError(5301, "The join ticket is not valid")
    data = json.loads(payload)
    if data.pop("exp") + grace < now:
        raise CodeError(5301, "The join ticket has expired: call checkroom again")
    return Identity(**data)


def live_token(secret: bytes, serial: str) -> str:
    """The path token of a room's live stream (``/live/<serial>/<token>/``): every node of the
    cluster derives the same one, and the stream cannot be found from the room number alone."""
    return hmac.new(secret, b"live\0" + serial.encode(), hashlib.sha256).hexdigest()[:32]
