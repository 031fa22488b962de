"""40-character login keys: issued by ``getloginkey``, presented instead of a password.

A key is HMAC-SHA1 (40 hex characters) over the room, role, user, expiry and a random nonce
with the server secret, so it cannot be derived by anyone else; the row in ``login_keys`` is
what gives it meaning, so a key that is not in the table is forged by definition.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from tkroom.errors import CodeError
from tkroom.store.models import LoginKey

_HEX40 = re.compile(r"[0-9a-f]{40}")


async def issue_login_key(
    s: AsyncSession, secret: bytes, *, serial: str, usertype: int, username: str, userid: str,
    validity_s: float, now: float,
) -> LoginKey:
    expires = int(now + validity_s)
    msg = f"{serial}|{usertype}|{username}|{userid}|{expires}|{secrets.token_hex(16)}"
    key = hmac.new(secret, msg.encode(), hashlib.sha1).hexdigest()
    row = LoginKey(loginkey=key, serial=serial, usertype=usertype, username=username,
                   userid=userid, expires=expires, created=int(now))
    s.add(row)
    await s.flush()
    return row


async def check_login_key(s: AsyncSession, serial: str, loginkey: str | None, now: float) -> LoginKey:
    """The key's row: 5300 when absent, 5301 when malformed, unknown, expired or for another room."""
    if not loginkey:
        raise CodeError(5300)
    key = loginkey.strip().lower()
    if not _HEX40.fullmatch(key):
        raise CodeError(5301, "A login key is 40 hexadecimal characters")
    row = await s.get(LoginKey, key)
    if row is None or not hmac.compare_digest(row.serial, serial):
        raise CodeError(5301, "This login key is not valid for this room")
    if row.expires < now:
        raise CodeError(5301, "This login key has expired")
    return row
