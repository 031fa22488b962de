"""Enterprises in the store: creation with a random authkey, lookup, freezing."""

from __future__ import annotations

import re
import secrets
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tkroom.errors import CodeError
from tkroom.store.models import Company

DOMAIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,99}")


def new_authkey() -> str:
    """16 random URL-safe characters (the original platform's key length); never derived."""
    return secrets.token_urlsafe(12)


async def create_company(
    s: AsyncSession, name: str, domain: str | None = None, *, max_rooms: int = 0,
    expires: int | None = None, parentid: int | None = None, max_videotype: int = 4,
) -> Company:
    """A new enterprise; the domain defaults to a random one. 5206 when the domain is taken."""
    domain = domain or f"e{secrets.token_hex(5)}"
    if not DOMAIN_RE.fullmatch(domain):
        raise CodeError(4101, "A domain is letters, digits, dots and dashes (at most 100)")
    if (await s.execute(select(Company.id).where(Company.domain == domain))).first():
        raise CodeError(5206, f"The domain {domain} is taken")
    c = Company(name=name, domain=domain, authkey=new_authkey(), frozen=False, expires=expires,
                max_rooms=max_rooms, max_videotype=max_videotype, parentid=parentid,
                deleted=False, created=int(time.time()), attributes={})
    s.add(c)
    await s.flush()
    return c


async def by_domain(s: AsyncSession, domain: str) -> Company | None:
    return (await s.execute(select(Company).where(Company.domain == domain))).scalar_one_or_none()


def company_dict(c: Company, *, with_key: bool = False) -> dict[str, object]:
    d: dict[str, object] = {
        "companyid": c.id, "name": c.name, "domain": c.domain, "frozen": c.frozen,
        "expires": c.expires, "max_rooms": c.max_rooms, "parentid": c.parentid, "deleted": c.deleted,
    }
    if with_key:
        d["authkey"] = c.authkey
    return d
