"""The iceServers a node hands out (pure: no TURN server needed; coturn's acceptance of the
credentials is tested against a real coturn in tests/media/test_turn.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from tkroom.iceservers import TurnOffer, turn_credential, turn_secret_from


def test_the_credential_is_the_turn_rest_api_one() -> None:
    name, cred = turn_credential("s3cret", "ann", 1_000.4, 600)
    assert name == "1600:ann"
    assert base64.b64decode(cred) == hmac.new(b"s3cret", b"1600:ann", hashlib.sha1).digest()
    # a colon would move the expiry coturn reads; a huge id is cut, never refused
    assert turn_credential("s", "a:b", 0, 1)[0] == "1:a_b"
    assert turn_credential("s", "x" * 500, 0, 1)[0] == "1:" + "x" * 100


def test_urls_udp_tcp_then_tls_at_the_host_the_client_reached() -> None:
    plain = TurnOffer("s", 60, port=3478)
    assert plain.urls_for("class.example.org") == [
        "turn:class.example.org:3478?transport=udp", "turn:class.example.org:3478?transport=tcp"]
    tls = TurnOffer("s", 60, host="turn.example.org", port=3479, tls_port=443)
    assert tls.urls_for("ignored.example.org")[-1] == "turns:turn.example.org:443?transport=tcp"
    assert TurnOffer("s", 60).urls_for("2001:db8::1")[0] == "turn:[2001:db8::1]:3478?transport=udp"
    external = TurnOffer("s", 60, urls=("turns:t.example.org:443?transport=tcp",))
    [entry] = external.ice_servers("ann", "x", 0)
    assert entry["urls"] == ["turns:t.example.org:443?transport=tcp"]
    assert entry["username"] == "60:ann" and entry["credentialType"] == "password"


def test_every_node_of_a_cluster_derives_the_same_turn_secret() -> None:
    assert turn_secret_from(b"\x01" * 32) == turn_secret_from(b"\x01" * 32)
    assert turn_secret_from(b"\x01" * 32) != turn_secret_from(b"\x02" * 32)
