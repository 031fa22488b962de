"""Short-lived TURN credentials (the TURN REST API) and the ``iceServers`` a client is given.

The node and the TURN server share one secret and nothing else: the node signs
``<expiry epoch>:<userid>`` with HMAC-SHA1 and the TURN server (coturn's ``use-auth-secret``)
checks the signature and refuses the name once its expiry has passed. So credentials leak
nothing lasting, need no database, and every node of a cluster issues ones the same TURN
server accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_USERID = 100  # what checkroom accepts; a longer name is cut, never refused


def turn_credential(secret: str, userid: str, now: float, ttl: float) -> tuple[str, str]:
    """``(username, credential)`` valid until ``now + ttl``: the username is
    ``<expiry>:<userid>`` and the credential ``base64(HMAC-SHA1(secret, username))``."""
    name = f"{int(now + ttl)}:{userid.replace(':', '_')[:MAX_USERID]}"
    mac = hmac.new(secret.encode(), name.encode(), hashlib.sha1).digest()
    return name, base64.b64encode(mac).decode()


def turn_secret_from(node_secret: bytes) -> str:
    """The TURN shared secret derived from the node's (cluster-wide) secret, so that every
    node of a cluster issues credentials one TURN server accepts without another setting."""
    return hmac.new(node_secret, b"tkroom turn shared secret", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class TurnOffer:
    """Where clients reach TURN: external ``urls`` as configured, or the embedded server at
    ``host`` (empty: the host the client reached the node by) on ``port`` (UDP and TCP) and,
    when the node has a certificate, ``tls_port`` (``turns:``)."""

    secret: str
    ttl: float
    urls: tuple[str, ...] = ()
    host: str = ""
    port: int = 3478
    tls_port: int | None = None

    def urls_for(self, reached_host: str) -> list[str]:
        """The TURN URLs in the order a client should try them: UDP, TCP, then TLS."""
        if self.urls:
            return list(self.urls)
        host = self.host or reached_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal
        urls = [f"turn:{host}:{self.port}?transport=udp", f"turn:{host}:{self.port}?transport=tcp"]
        if self.tls_port:
            urls.append(f"turns:{host}:{self.tls_port}?transport=tcp")
        return urls

    def ice_servers(self, userid: str, reached_host: str, now: float) -> list[dict[str, Any]]:
        """The ``iceServers`` entry (RTCConfiguration form) for ``userid``, valid ``ttl``."""
        username, credential = turn_credential(self.secret, userid, now, self.ttl)
        return [{"urls": self.urls_for(reached_host), "username": username,
                 "credential": credential, "credentialType": "password"}]


def valid_turn_url(url: str) -> bool:
    """``turn:`` / ``turns:`` with a host (what RTCIceServer accepts)."""
    scheme, _, rest = url.partition(":")
    return scheme in ("turn", "turns") and bool(urlsplit(f"//{rest}").hostname)
