"""HTTPS and WSS of a node: one ``ssl.SSLContext`` shared by the HTTP and signalling listeners.

Operators renew certificates (Let's Encrypt every 60-90 days) without wanting to drop a class, so
the context is never replaced: a watcher polls the files' modification times and loads the new
pair into the same context, which every new connection of both listeners then presents. A pair
that does not load (half-written, key of another certificate) is logged and the old one kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path

from tkroom.config import Settings, SettingsError

log = logging.getLogger("tkroom.tls")


class TlsFiles:
    """The certificate chain and key files of a node and the context serving them."""

    def __init__(self, cert: Path, key: Path, interval: float) -> None:
        self.cert, self.key, self.interval = cert, key, interval
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.reloads = 0  # pairs loaded after the first
        self.failures = 0  # changed pairs that did not load
        self._stamp = self._mtimes()
        self._load()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TlsFiles | None:
        """None without TLS; ``SettingsError`` (one line) for half a pair or files that do not
        load, so ``serve`` stops before anything listens."""
        cert, key = settings.tls_cert, settings.tls_key
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            given, missing = ("--tls-cert", "--tls-key") if key is None else ("--tls-key", "--tls-cert")
            raise SettingsError(f"{given} needs {missing} too (TKROOM_TLS_CERT and TKROOM_TLS_KEY "
                                "go together)")
        try:
            return cls(cert, key, settings.tls_reload_s)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"--tls-cert {cert} / --tls-key {key}: cannot load: "
                                f"{_why(exc)}") from None

    def _mtimes(self) -> tuple[float, float] | None:
        try:
            return self.cert.stat().st_mtime, self.key.stat().st_mtime
        except OSError:
            return None

    def _load(self) -> None:
        """Try the pair on a scratch context first: a failed ``load_cert_chain`` can leave a
        context with the new certificate and no key, which would refuse every handshake."""
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cert, self.key)
        self.context.load_cert_chain(self.cert, self.key)

    def check(self) -> bool:
        """Reload when either file changed since the last look; True when a new pair loaded."""
        stamp = self._mtimes()
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self._load()
        except (OSError, ssl.SSLError) as exc:
            log.error("TLS: new certificate %s / key %s not loaded, still serving the previous "
                      "one: %s", self.cert, self.key, _why(exc))
            self.failures += 1
            return False
        self.reloads += 1
        log.info("TLS: certificate %s reloaded", self.cert)
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.check()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="tls-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return str(exc)
