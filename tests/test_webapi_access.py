"""Getting into a room: checkroom (passwords, login keys, registered users), entry, throttling."""

from __future__ import annotations

import hashlib
import time

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tkroom import tickets


def check(api, serial, **kw):
    kw.setdefault("nickname", "Ann")
    return api.client("checkroom", serial=serial, **kw)


@pytest.mark.parametrize(("password", "role"), [
    ("teach1", 0), ("assist1", 1), ("stud1", 2), ("live1", 3), ("patrol1", 4)])
def test_role_comes_from_the_password_and_the_ticket_carries_it(api, node, password, role):
    serial = api.room(allowsidelineuser=1, sidelineuserpwd="live1")
    r = check(api, serial, password=password, userid="u-7")
    assert r["result"] == 0 and r["roomrole"] == role and r["thirdid"] == "u-7"
    assert r["room"]["serial"] == serial and "chairmanpwd" not in r["room"]
    ident = tickets.verify(node.node.secret, r["ticket"], time.time())
    assert (ident.serial, ident.role, ident.userid, ident.nickname) == (serial, role, "u-7", "Ann")
    again = check(api, serial, password=password)  # second time from the verify cache
    assert again["roomrole"] == role and again["userid"] != "u-7"


def test_wrong_and_missing_passwords(api):
    serial = api.room(allowsidelineuser=1, sidelineuserpwd="live1")
    assert check(api, serial, password="nothing1")["result"] == 4008
    assert check(api, serial, password="stud1", userrole=0)["result"] == 5200
    assert check(api, serial, password="teach1", userrole=2)["result"] == 5203
    assert check(api, serial, password="teach1", userrole=3)["result"] == 5201
    assert check(api, serial, password="teach1", userrole=1)["result"] == 4008
    assert check(api, serial, password="teach1", userrole=7)["result"] == 5207
    assert check(api, serial)["result"] == 4110
    assert check(api, serial, userrole=0)["result"] == 5204
    assert check(api, serial, password="x")["result"] == 5006
    assert check(api, serial, password="teach1", nickname="")["result"] == 5205
    assert check(api, serial, password="teach1", nickname="n" * 201)["result"] == 5205
    assert check(api, serial, password="teach1", userid="u" * 101)["result"] == 5101
    assert api.client("checkroom", nickname="Ann", password="teach1")["result"] == 5100
    assert check(api, "0000000002", password="teach1")["result"] == 4007


def test_open_room_students_need_no_password(api):
    serial = api.room(passwordrequired=0, confuserpwd=None)
    assert check(api, serial)["roomrole"] == 2
    assert check(api, serial, userrole=2, password="whatever")["roomrole"] == 2
    assert check(api, serial, userrole=3)["result"] == 4008, "no live viewers admitted"
    assert api("roommodify", serial=serial, allowsidelineuser=1, sidelineuserpwd="live1")["result"] == 0
    assert check(api, serial, password="live1")["roomrole"] == 3
    assert api("roommodify", serial=serial, allowsidelineuser=0)["result"] == 0
    assert check(api, serial, password="live1")["result"] == 4008, "live viewers no longer admitted"


def test_deleted_ended_and_frozen_rooms(api, node):
    serial = api.room()
    assert api("roomdelete", serial=serial)["result"] == 0
    assert check(api, serial, password="teach1")["result"] == 3003
    now = int(time.time())
    ended = api.room()
    assert check(api, ended, password="teach1")["result"] == 0

    async def end_it():
        from tkroom.store.models import Room

        async with node.node.sessions() as s:
            (await s.get(Room, ended)).endtime = now - 1
            await s.commit()
        node.node.rooms.clear()

    node.run(end_it())
    assert check(api, ended, password="teach1")["result"] == 3003
    live = api.room()
    from test_webapi_rooms import _set

    node.run(_set(node, api.company["companyid"], frozen=True))
    assert check(api, live, password="teach1")["result"] == 3002
    node.run(_set(node, api.company["companyid"], frozen=False, expires=now - 1))
    assert check(api, live, password="teach1")["result"] == 3001


def test_login_key(api, node):
    serial = api.room()
    r = api("getloginkey", serial=serial, usertype=0, username="Teacher T", userid="t-1", validity=60)
    key = r["loginkey"]
    assert r["result"] == 0 and len(key) == 40 and all(c in "0123456789abcdef" for c in key)
    ok = check(api, serial, loginkey=key, nickname="")
    assert ok["result"] == 0 and ok["roomrole"] == 0 and ok["userid"] == "t-1" and ok["nickname"] == "Teacher T"
    assert check(api, serial, loginkey=key, userrole=2)["result"] == 5301
    assert check(api, serial, loginkey=key[:-1] + ("0" if key[-1] != "0" else "1"))["result"] == 5301
    assert check(api, serial, loginkey="xyz")["result"] == 5301
    other = api.room()
    assert check(api, other, loginkey=key)["result"] == 5301
    ident = node.run(node.node.directory.verify_login_key(serial, key, time.time()))
    assert (ident.role, ident.userid, ident.nickname) == (0, "t-1", "Teacher T")
    from tkroom.errors import CodeError

    for bad, code in (("", 5300), ("g" * 40, 5301)):
        with pytest.raises(CodeError) as e:
            node.run(node.node.directory.verify_login_key(serial, bad, time.time()))
        assert e.value.code == code
    with pytest.raises(CodeError) as e:
        node.run(node.node.directory.verify_login_key(serial, key, time.time() + 120))
    assert e.value.code == 5301, "expired"
    from test_webapi_rooms import _set

    node.run(_set(node, api.company["companyid"], frozen=True))
    with pytest.raises(CodeError) as e:
        node.run(node.node.directory.verify_login_key(serial, key, time.time()))
    assert e.value.code == 3002
    assert check(api, serial, loginkey=key)["result"] == 3002
    node.run(_set(node, api.company["companyid"], frozen=False))
    assert api("roomdelete", serial=serial)["result"] == 0
    with pytest.raises(CodeError) as e:
        node.run(node.node.directory.verify_login_key(serial, key, time.time()))
    assert e.value.code == 3003
    assert check(api, serial, loginkey=key)["result"] == 3003


def test_getloginkey_codes(api):
    serial = api.room()
    assert api("getloginkey", serial=serial, username="A")["result"] == 5207
    assert api("getloginkey", serial=serial, usertype=5, username="A")["result"] == 5207
    assert api("getloginkey", serial=serial, usertype=2)["result"] == 5205
    assert api("getloginkey", usertype=2, username="A")["result"] == 5100
    assert api("getloginkey", serial=serial, usertype=2, username="A", userid="u" * 101)["result"] == 5101
    assert api("getloginkey", serial=serial, usertype=2, username="A", validity=5)["result"] == 4004


def test_registered_users_only(api):
    serial = api.room(registeredonly=1)
    assert api("useradd", account="alice", userpassword="s3cret!", username="Alice")["result"] == 0
    assert check(api, serial, password="stud1")["result"] == 4111
    assert check(api, serial, password="stud1", account="bob", userpassword="s3cret!")["result"] == 4111
    assert check(api, serial, password="stud1", account="alice", userpassword="wrong")["result"] == 4002
    ok = check(api, serial, password="stud1", account="alice", userpassword="s3cret!")
    assert ok["result"] == 0 and ok["userid"] == "alice"
    assert api("userdelete", account="alice")["result"] == 0
    assert check(api, serial, password="stud1", account="alice", userpassword="s3cret!")["result"] == 4111


def _aes_hex(key: str, pw: str) -> str:
    data = pw.encode().ljust(16, b"\0")
    enc = Cipher(algorithms.AES(key.encode()), modes.ECB()).encryptor()
    return (enc.update(data) + enc.finalize()).hex()


def test_entry_link(api, node):
    serial = api.room()
    key, domain = api.key, api.company["domain"]

    def entry(usertype=0, ts=None, pw="teach1", **kw):
        ts = int(time.time()) if ts is None else ts
        auth = hashlib.md5(f"{key}{ts}{kw.get('serial', serial)}{usertype}".encode()).hexdigest()
        params = dict(domain=domain, serial=serial, username="Tom", usertype=usertype, ts=ts, auth=auth,
                      userpassword=_aes_hex(key, pw) if pw else None)
        params.update(kw)
        return api("entry", key=None, **params)

    r = entry()
    assert r["result"] == 0 and r["roomrole"] == 0 and r["enterurl"].startswith(f"/room/{serial}?ticket=")
    assert tickets.verify(node.node.secret, r["ticket"], time.time()).role == 0
    assert entry(usertype=2, pw="stud1")["roomrole"] == 2
    assert entry(ts=int(time.time()) - 3600)["result"] == 4109
    assert entry(auth="0" * 32)["result"] == 4109
    assert entry(domain="")["result"] == 4101
    assert entry(domain="no-such-domain")["result"] == 4001
    assert entry(serial="")["result"] == 5100
    assert entry(serial="0000000003")["result"] == 4007
    assert entry(usertype=9)["result"] == 5207
    assert entry(username="")["result"] == 5205
    assert entry(pw="wrong12")["result"] == 5200
    assert entry(usertype=2, pw="wrong12")["result"] == 5203
    assert entry(pw=None)["result"] == 5204
    assert entry(usertype=2, pw=None)["result"] == 4110
    assert entry(userpassword="abc")["result"] == 5006
    live = api.room(allowsidelineuser=1, sidelineuserpwd="live1")
    assert entry(usertype=3, pw="wrong12", serial=live)["result"] == 5007
    from webapi_nodes import Api

    other = Api(node, node.enterprise())
    foreign = other.room()
    assert entry(serial=foreign)["result"] == 4102


def test_wrong_passwords_are_slowed_down(tmp_path):
    from webapi_nodes import Api, NodeThread, node_settings

    n = NodeThread(node_settings(tmp_path, throttle_base_s=0.2, throttle_max_s=0.8))
    try:
        api = Api(n, n.enterprise())
        serial = api.room()
        times = []
        for _ in range(4):
            t0 = time.monotonic()
            assert check(api, serial, password="guess123")["result"] == 4008
            times.append(time.monotonic() - t0)
        # waits before answers 2..4: 0.2, 0.4, 0.8 s (plus the hash work of each guess)
        assert times[1] >= 0.2 and times[2] >= 0.4 and times[3] >= 0.8, times
        throttle = n.node.api.throttle
        assert throttle.delay("127.0.0.1", f"room:{serial}") == 0.8, "capped"
        other = api.room()
        assert throttle.delay("127.0.0.1", f"room:{other}") == 0.0, "another room is not slowed down"
        assert check(api, serial, password="teach1")["result"] == 0
        assert throttle.delay("127.0.0.1", f"room:{serial}") == 0.8, "a right password does not reset it"
    finally:
        n.stop()


def test_secrets_are_hashed_and_never_logged(api, node, caplog):
    import logging

    from webapi_nodes import wait_for

    caplog.set_level(logging.DEBUG)
    serial = api.room()
    path = api.http.get(f"/WebAPI/getloginkey/key/{api.key}/serial/{serial}/usertype/2/username/Z").json()
    lk = path["loginkey"]
    assert check(api, serial, loginkey=lk)["result"] == 0
    assert check(api, serial, password="wrongpw9")["result"] == 4008
    assert api("companycreate", companyname="Dup", companydomain=api.company["domain"], account="a",
               userpassword="adminpw7")["result"] == 5206
    # secrets in query strings, in path-style parameters and in download paths
    ticket = api.http.post("/ClientAPI/checkroom", params={"serial": serial, "password": "teach1",
                                                           "nickname": "T"}).json()["ticket"]
    assert api.http.post(f"/ClientAPI/checkroom/serial/{serial}/password/stud%2F1x/nickname/S").json()["result"] != 0
    assert api.http.post("/ClientAPI/delroomfile", params={"ticket": ticket, "serial": serial,
                                                           "fileid": "77"}).json()["result"] != 0
    up = api.http.post("/ClientAPI/uploadfile", data={"ticket": ticket, "serial": serial},
                       files={"filedata": ("notes.txt", b"hello")}).json()
    assert up["result"] == 0, up
    listed = api("getroomfile", serial=serial)
    url = next(f for f in listed["roomfile"] if f["fileid"] == up["fileid"])["downloadpath"]
    token = url.rstrip("/").split("/")[-1]
    assert api.http.get(url).content == b"hello"
    api.http.get(f"/room/{serial}", params={"ticket": ticket})  # no page on this bare node: 404
    # an access line is written once the answer is sent: wait for the last ones
    expected = {("GET", f"/WebAPI/getloginkey/key/***/serial/{serial}/usertype/2/username/***", 200),
                ("POST", f"/ClientAPI/checkroom/serial/{serial}/password/***/nickname/***", 200),
                ("GET", "/download/file/" + str(up["fileid"]) + "/***", 200),
                ("GET", f"/room/{serial}", 404)}
    wait_for(lambda: expected <= {(r.method, r.path.split("?")[0], r.status)
                                  for r in list(caplog.records) if r.name == "tkroom.access"},
             what="the access lines")
    # the node's log (the test's own HTTP client logs the URLs it calls)
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(r.getMessage() + repr(vars(r)) for r in records)
    for secret in (api.key, lk, "teach1", "stud1", "stud%2F1x", "wrongpw9", "adminpw7", ticket, token):
        assert secret not in text
    access = [r for r in records if r.name == "tkroom.access"]
    assert any(r.path == f"/ClientAPI/checkroom?serial={serial}&password=***&nickname=***" for r in access)
    assert all(r.client.startswith("127.0.0.1:") and r.duration_ms >= 0 for r in access)

    async def stored():
        from tkroom.store.models import Room

        async with node.node.sessions() as s:
            return await s.get(Room, serial)

    room = node.run(stored())
    assert room.chairmanpwd.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and "teach1" not in room.chairmanpwd
    assert room.confuserpwd.startswith("$argon2id$") and room.confuserpwd.count("$") == 5


def _scrypt_room(node, serial, **plain):
    """Store role passwords as an earlier version did: scrypt hashes written straight into the row."""
    from tkroom.passwords import scrypt_hash
    from tkroom.store.models import Room

    async def write():
        async with node.node.sessions() as s:
            room = await s.get(Room, serial)
            for column, pw in plain.items():
                setattr(room, column, scrypt_hash(pw))
            await s.commit()
        node.node.rooms.clear()

    node.run(write())


def _row(node, model, ident):
    async def read():
        async with node.node.sessions() as s:
            return await s.get(model, ident)

    return node.run(read())


def test_old_scrypt_hashes_are_upgraded_on_login(api, node):
    from tkroom.store.models import Room

    serial = api.room()
    _scrypt_room(node, serial, chairmanpwd="teach1", confuserpwd="stud1")
    old = _row(node, Room, serial)
    assert old.chairmanpwd.startswith("scrypt$") and old.confuserpwd.startswith("scrypt$")
    assert check(api, serial, password="wrong12")["result"] == 4008
    assert _row(node, Room, serial).chairmanpwd == old.chairmanpwd, "a wrong password upgrades nothing"
    assert check(api, serial, password="teach1")["roomrole"] == 0
    room = _row(node, Room, serial)
    assert room.chairmanpwd.startswith("$argon2id$"), "rehashed at the login"
    assert room.confuserpwd == old.confuserpwd, "the student password was not given yet"
    node.node.rooms.clear()  # as another node would, read the room afresh
    checker = node.node.api.checker
    runs = checker.runs
    assert check(api, serial, password="teach1")["roomrole"] == 0
    assert checker.runs == runs, "the new hash was remembered as verified: no extra run"
    checker._ok.clear()  # a restarted node: the new hash itself must verify
    checker._memo.clear()
    assert check(api, serial, password="teach1")["roomrole"] == 0
    assert check(api, serial, password="teach2")["result"] == 4008
    assert check(api, serial, password="stud1", userrole=0)["result"] == 5200
    assert check(api, serial, password="stud1")["roomrole"] == 2
    assert _row(node, Room, serial).confuserpwd.startswith("$argon2id$")
    assert _row(node, Room, serial).chairmanpwd == room.chairmanpwd, "upgraded once"


def test_weaker_argon2_hashes_and_enterprise_users_are_upgraded(tmp_path):
    from sqlalchemy import select

    from tkroom.passwords import HashParams, hash_password, scrypt_hash
    from tkroom.store.models import EnterpriseUser, Room
    from webapi_nodes import Api, NodeThread, node_settings

    n = NodeThread(node_settings(tmp_path, password_time_cost=3))
    try:
        api = Api(n, n.enterprise())
        serial = api.room(registeredonly=1)
        assert _row(n, Room, serial).confuserpwd.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
        weak = hash_password("stud1", HashParams(time_cost=1, memory_kib=1024))
        assert api("useradd", account="alice", userpassword="s3cret!", username="Alice")["result"] == 0

        async def write():
            async with n.node.sessions() as s:
                (await s.get(Room, serial)).confuserpwd = weak
                user = (await s.execute(select(EnterpriseUser))).scalar_one()
                user.pwhash = scrypt_hash("s3cret!")
                await s.commit()
                return user.id

        uid = n.run(write())
        n.node.rooms.clear()
        ok = check(api, serial, password="stud1", account="alice", userpassword="s3cret!")
        assert ok["result"] == 0 and ok["roomrole"] == 2
        assert _row(n, Room, serial).confuserpwd.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
        assert _row(n, EnterpriseUser, uid).pwhash.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
        n.node.api.checker._ok.clear()
        n.node.api.checker._memo.clear()
        assert check(api, serial, password="stud1", account="alice", userpassword="s3cret!")["result"] == 0
        assert check(api, serial, password="stud1", account="alice", userpassword="s3cret?")["result"] == 4002
    finally:
        n.stop()
