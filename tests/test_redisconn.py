"""Reading the Redis URL: a plain server or the primary Redis Sentinel names, and the URL shown
without its passwords (no sockets here; the failover itself is in test_redis_sentinel.py)."""

from __future__ import annotations

import pytest

from tkroom.config import _masked
from tkroom.redisconn import SentinelURL, parse_sentinel


def test_plain_urls_are_not_sentinel() -> None:
    for url in ("redis://h:6379/0", "rediss://:pw@h/1", "unix:///run/redis.sock"):
        assert parse_sentinel(url) is None


def test_sentinel_url_lists_sentinels_service_db_and_passwords() -> None:
    got = parse_sentinel("redis+sentinel://:data%20pw@10.0.0.1:26380,[::1]:26381,s3/tk/2"
                         "?sentinel_password=spw")
    assert got == SentinelURL(sentinels=(("10.0.0.1", 26380), ("::1", 26381), ("s3", 26379)),
                              service="tk", db=2, password="data pw", sentinel_password="spw")
    tls = parse_sentinel("rediss+sentinel://a:1/svc")
    assert tls is not None and tls.ssl and tls.db == 0 and tls.password is None


@pytest.mark.parametrize("url", ["redis+sentinel://h:26379", "redis+sentinel:///svc"])
def test_sentinel_url_without_service_or_host_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="redis\\+sentinel://"):
        parse_sentinel(url)


def test_shown_without_passwords() -> None:
    shown = _masked("redis+sentinel://:dpw@a:26379,b:26379/tk?sentinel_password=spw")
    assert shown == "redis+sentinel://:***@a:26379,b:26379/tk?sentinel_password=***"
    assert _masked("redis://:redispass@redis.internal:6380/2") == \
        "redis://:***@redis.internal:6380/2"
    assert _masked("redis://redis.internal:6380/2") == "redis://redis.internal:6380/2"
