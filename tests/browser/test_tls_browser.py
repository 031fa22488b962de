"""Chromium on ``https://`` and ``wss://`` of a node serving TLS itself (docs/operations.md#tls).

The test makes its own certificate authority and puts it into an NSS database of a home folder
made for this Chromium (``certutil``), the way a school would install its CA: no flag that
ignores certificate errors. A certificate for another name on the signalling URL is refused by
the browser and the page says why; an expired one keeps the page from loading at all.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from browser.classnode import PASSWORDS
from browser.conftest import BASE_ARGS, FAKE_MEDIA
from browser.test_classroom_e2e import Person
from conftest import need_binary
from test_tls import CA
from webapi_nodes import SRC, free_port, port_open, wait_for

pytestmark = pytest.mark.browser
DAY = datetime.timedelta(days=1)


def issue(ca: CA, folder: Path, names: list[str], *, expired: bool = False) -> tuple[Path, Path]:
    """A server certificate from ``ca`` for ``names`` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    start, end = (now - 3 * DAY, now - DAY) if expired else (now - DAY, now + DAY)
    alt = []
    for n in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(end).add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(ca.key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsNode:
    """``tkroom serve`` with a certificate, an enterprise and a room."""

    def __init__(self, tmp: Path, ca: CA, cert: Path, key: Path, *flags: str,
                 room: bool = True) -> None:
        self.port, self.signal_port = free_port(), free_port()
        self.data = tmp / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TKROOM_")}
        self.env = {**env, "PYTHONPATH": SRC, "TKROOM_EMBEDDED_JANUS": "0"}
        made = subprocess.run([sys.executable, "-m", "tkroom", "admin", "enterprise", "create",
                               "School", "--data", str(self.data)], env=self.env,
                              capture_output=True, text=True, timeout=120, check=True)
        self.authkey = json.loads(made.stdout)["authkey"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tkroom", "serve", "--port", str(self.port), "--signal-port",
             str(self.signal_port), "--data", str(self.data), "--tls-cert", str(cert),
             "--tls-key", str(key), *[f.format(signal_port=self.signal_port) for f in flags]],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: port_open("127.0.0.1", self.port) or self.proc.poll() is not None, 60,
                 what="serve")
        assert self.proc.poll() is None, self.proc.stderr.read().decode()
        self.url = f"https://127.0.0.1:{self.port}"
        self.serial = "5551234"
        if room:
            self._room(ca)

    def _room(self, ca: CA) -> None:
        now = int(time.time())
        with httpx.Client(verify=ca.context(), timeout=30) as http:
            r = http.post(f"{self.url}/WebAPI/roomcreate", data={
                "key": self.authkey, "roomname": "Math", "roomtype": 3, "starttime": now - 60,
                "endtime": now + 3600, "passwordrequired": 1, **PASSWORDS}).json()
        assert r["result"] == 0, r
        self.serial = str(r["serial"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def ca() -> CA:
    return CA()


@pytest.fixture
def trusting_chromium(ca, tmp_path) -> Iterator:
    """Debian's Chromium with ``ca`` in its user's NSS database (and no other change)."""
    from playwright.sync_api import sync_playwright

    certutil = need_binary("certutil")  # Debian's libnss3-tools
    home = tmp_path / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    pem = tmp_path / "ca.pem"
    pem.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    subprocess.run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"], check=True,
                   capture_output=True, timeout=30)
    subprocess.run([certutil, "-A", "-d", f"sql:{db}", "-n", "tkroom test CA", "-t", "C,,",
                    "-i", str(pem)], check=True, capture_output=True, timeout=30)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=need_binary("chromium"), headless=True,
                                     args=BASE_ARGS + FAKE_MEDIA,
                                     env={**os.environ, "HOME": str(home)})
        try:
            yield browser
        finally:
            browser.close()


def test_chromium_joins_over_https_and_wss_trusting_the_schools_ca(ca, trusting_chromium,
                                                                   tmp_path) -> None:
    cert, key = issue(ca, tmp_path / "tls", ["127.0.0.1", "localhost"])
    node = TlsNode(tmp_path, ca, cert, key)
    person = None
    try:
        person = Person(trusting_chromium, f"{node.url}/room/{node.serial}")
        assert person.eval("location.protocol") == "https:"
        assert person.eval("window.isSecureContext") is True
        person.join("Ann", PASSWORDS["confuserpwd"])
        assert person.eval("tkroomPage.room.signalUrl") == \
            f"wss://127.0.0.1:{node.signal_port}/signal"
        assert person.errors == []
    finally:
        if person is not None:
            person.close()
        node.stop()


def test_a_certificate_for_another_name_on_wss_is_refused_and_explained(ca, trusting_chromium,
                                                                       tmp_path) -> None:
    """The page is fine on https://127.0.0.1, but the signalling URL names ``localhost``, which
    the certificate does not: the browser refuses the socket and the page says why."""
    cert, key = issue(ca, tmp_path / "tls", ["127.0.0.1"])
    node = TlsNode(tmp_path, ca, cert, key, "--signal-url",
                   "wss://localhost:{signal_port}/signal")
    person = None
    try:
        person = Person(trusting_chromium, f"{node.url}/room/{node.serial}")
        person.page.fill("#nickname", "Ann")
        person.page.fill("#password", PASSWORDS["confuserpwd"])
        person.page.click("#join-button")
        notice = person.page.locator('.notice.error[data-key="error:page:2600"]')
        notice.wait_for(timeout=30000)
        text = notice.inner_text()
        assert f"localhost:{node.signal_port}" in text and "certificate" in text, text
        assert person.page.locator("#class-view").is_hidden()
    finally:
        if person is not None:
            person.close()
        node.stop()


def test_an_expired_certificate_is_refused_by_the_browser(ca, trusting_chromium,
                                                         tmp_path) -> None:
    cert, key = issue(ca, tmp_path / "tls", ["127.0.0.1", "localhost"], expired=True)
    node = TlsNode(tmp_path, ca, cert, key, room=False)
    try:
        page = trusting_chromium.new_page()
        with pytest.raises(Exception, match="ERR_CERT_DATE_INVALID"):
            page.goto(f"{node.url}/room/{node.serial}")
        page.close()
    finally:
        node.stop()
