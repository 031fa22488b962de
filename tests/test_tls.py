"""HTTPS and WSS served by the node itself (docs/operations.md#tls): a real private CA, real
handshakes on 127.0.0.1, the SDK joining over WSS, and certificates renewed without a restart."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from client_node import running_node
from tkroom.client import ClientError, Room
from webapi_nodes import SRC, free_port

DAY = datetime.timedelta(days=1)


class CA:
    """A private certificate authority issuing server certificates for 127.0.0.1/localhost."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tkroom test CA")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - DAY).not_valid_after(now + DAY)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def context(self) -> ssl.SSLContext:
        """A client context trusting only this CA."""
        pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        return ssl.create_default_context(cadata=pem)

    def issue(self, cert_path: Path, key_path: Path, serial: int, mtime: float) -> None:
        """Write a server pair with ``serial``; ``mtime`` set explicitly so the watcher sees a
        change even within one tick of the file system's clock."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(serial)
                .not_valid_before(now - DAY).not_valid_after(now + DAY)
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                    critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        for p in (cert_path, key_path):
            os.utime(p, (mtime, mtime))


    def issue_for(self, folder: Path, names: list[str], *,
                  expired: bool = False) -> tuple[Path, Path]:
        """A server pair for ``names`` (DNS names or IP addresses) in ``folder``; ``expired``:
        its validity ended a day ago."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        start, end = (now - 3 * DAY, now - DAY) if expired else (now - DAY, now + DAY)
        alt: list[x509.GeneralName] = []
        for n in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start)
                .not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .sign(self.key, hashes.SHA256()))
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path


async def served_serial(port: int, trust: ssl.SSLContext) -> int:
    """The serial number of the certificate a new connection to ``port`` is shown."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=trust, server_hostname="127.0.0.1"), 30)
    try:
        return int(writer.get_extra_info("peercert")["serialNumber"], 16)
    finally:
        writer.close()
        await writer.wait_closed()


async def until(check, what: str) -> None:
    """Poll ``check()`` (a coroutine function) until it is true, for at most 30 s."""
    deadline = time.monotonic() + 30.0
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def pki(tmp_path):
    ca = CA()
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    cert.parent.mkdir()
    ca.issue(cert, key, serial=1001, mtime=time.time() - 100)
    return ca, cert, key


async def test_https_wss_and_the_sdk_over_them(tmp_path, pki):
    ca, cert, key = pki
    trust = ca.context()
    async with running_node(tmp_path / "data", tls_cert=cert, tls_key=key, verify=trust) as env:
        assert env.node.base_url.startswith("https://")
        # the Web API over HTTPS, verified against the CA (env.webapi asserts result 0)
        assert (await env.webapi("getroom", serial=env.serial))["result"] == 0
        async with httpx.AsyncClient(verify=trust, timeout=30) as http:
            r = await http.post(f"{env.node.base_url}/ClientAPI/getconfig",
                                data={"serial": env.serial})
        assert r.json()["signal"]["url"] == f"wss://127.0.0.1:{env.signal.port}/signal"
        # a client not trusting the CA is refused the handshake, and plain HTTP gets no answer
        async with httpx.AsyncClient(timeout=30) as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(f"{env.node.base_url}/healthz")
            with pytest.raises(httpx.HTTPError):
                await http.get(f"http://127.0.0.1:{env.port}/healthz")

        # the SDK: checkroom/getconfig over HTTPS, then the class over WSS
        teacher, student = Room(), Room()
        teacher.init("tls", secure=True, ssl_context=trust)
        student.init("tls", secure=True, ssl_context=trust)
        heard: asyncio.Future = asyncio.get_running_loop().create_future()
        student.on("room-text-message", lambda ev: heard.done() or heard.set_result(ev.message))
        await teacher.joinroom("127.0.0.1", env.port, "Ms T", "t1",
                               {"serial": env.serial, "password": "teach1"})
        await student.joinroom("127.0.0.1", env.port, "Ann", "s1",
                               {"serial": env.serial, "password": "stud1"})
        await teacher.sendMessage("over TLS")
        assert (await asyncio.wait_for(heard, 30))["message"] == "over TLS"  # WSS only on that port
        await student.leaveroom()
        await teacher.leaveroom()

        # without the CA the SDK says it cannot reach the node (111), not something obscure
        stranger = Room()
        stranger.init("tls", secure=True)
        with pytest.raises(ClientError) as err:
            await stranger.joinroom("127.0.0.1", env.port, "Bob", "s2",
                                    {"serial": env.serial, "password": "stud1"})
        assert err.value.code == 111


async def test_renewed_certificates_reach_both_ports_without_a_restart(tmp_path, pki):
    ca, cert, key = pki
    trust = ca.context()
    async with running_node(tmp_path / "data", tls_cert=cert, tls_key=key, verify=trust,
                            tls_reload_s=0.1) as env:
        http_port, ws_port = env.port, env.signal.port
        assert await served_serial(http_port, trust) == 1001
        assert await served_serial(ws_port, trust) == 1001

        ca.issue(cert, key, serial=2002, mtime=time.time() - 50)  # the operator renews

        async def renewed() -> bool:
            return await served_serial(http_port, trust) == 2002
        await until(renewed, "the renewed certificate on the HTTP port")
        assert await served_serial(ws_port, trust) == 2002, "one context serves both ports"
        assert (await env.webapi("getroom", serial=env.serial))["result"] == 0

        # a broken pair (the key of another certificate) is refused; the last good one serves
        other = tmp_path / "other"
        other.mkdir()
        ca.issue(other / "c.pem", other / "k.pem", serial=3003, mtime=time.time())
        key.write_bytes((other / "k.pem").read_bytes())
        os.utime(key, (time.time() - 10, time.time() - 10))
        tls = env.node.tls
        failures = tls.failures

        async def refused() -> bool:
            return tls.failures > failures
        await until(refused, "the watcher to look at the broken pair")
        assert await served_serial(http_port, trust) == 2002
        assert await served_serial(ws_port, trust) == 2002
        assert (await env.webapi("getroom", serial=env.serial))["result"] == 0


def _serve(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TKROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "tkroom", "serve", "--port", str(free_port()), "--signal-port",
         str(free_port()), "--data", str(tmp_path / "data"), *flags],
        env={**env, "PYTHONPATH": SRC, "TKROOM_EMBEDDED_JANUS": "0"},
        capture_output=True, text=True, timeout=60, check=False)


def test_half_a_pair_or_a_bad_pair_stops_start_up_in_one_line(tmp_path, pki):
    ca, cert, key = pki
    out = _serve(tmp_path, "--tls-cert", str(cert))
    assert out.returncode == 2
    assert out.stderr.strip() == ("tkroom: --tls-cert needs --tls-key too (TKROOM_TLS_CERT and "
                                  "TKROOM_TLS_KEY go together)")

    other = tmp_path / "other"
    other.mkdir()
    ca.issue(other / "c.pem", other / "k.pem", serial=7, mtime=time.time())
    for bad_key, why in ((other / "k.pem", "KEY_VALUES_MISMATCH"),
                         (tmp_path / "missing.pem", "No such file")):
        out = _serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(bad_key))
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"tkroom: --tls-cert {cert} / --tls-key"), lines
        assert why in lines[0], lines


async def test_a_configured_signal_url_wins_over_the_wss_one_the_node_builds(tmp_path, pki):
    """Behind a proxy the public address is what clients must get, TLS on the node or not."""
    ca, cert, key = pki
    trust = ca.context()
    public = "wss://class.example.org/signal"
    async with running_node(tmp_path / "data", signal=False, tls_cert=cert, tls_key=key,
                            verify=trust, signal_urls=[public]) as env:
        async with httpx.AsyncClient(verify=trust, timeout=30) as http:
            r = await http.post(f"{env.node.base_url}/ClientAPI/getconfig",
                                data={"serial": env.serial})
        assert r.json()["signal"] == {"url": public, "urls": [public]}
