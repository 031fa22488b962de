"""Sub-enterprises, users, files, groups, media servers, chat, recordings and getconfig."""

from __future__ import annotations

import json
import time

import httpx

from webapi_nodes import Api


def test_sub_enterprises(api, node):
    r = api("companycreate", companyname="Branch", companydomain=f"br-{api.company['companyid']}",
            account="admin", userpassword="pw123456", username="Admin")
    assert r["result"] == 0 and len(r["authkey"]) == 16 and r["authkey"] != api.key
    child = Api(node, r)
    assert child.room()  # the child's key works on its own
    dup = api("companycreate", companyname="B2", companydomain=r["domain"], account="a", userpassword="p")
    assert dup["result"] == 5206
    assert api("companycreate", companydomain="x1", account="a", userpassword="p")["result"] == 4101
    assert api("companycreate", companyname="B", account="a", userpassword="p")["result"] == 4101
    assert api("companycreate", companyname="B", companydomain="bad domain!", account="a",
               userpassword="p")["result"] == 4101
    assert api("companycreate", companyname="B", companydomain="x2")["result"] == 5000
    assert api("companycreate", companyname="B", companydomain="x3", userpassword="p")["result"] == 5101
    stranger = Api(node, node.enterprise())
    assert stranger("companydelete", companydomain=r["domain"])["result"] == 4108
    assert api("companydelete")["result"] == 4101
    assert api("companydelete", companydomain="nowhere-x")["result"] == 4001
    assert api("companydelete", companydomain=r["domain"])["result"] == 0
    assert child("getroomlist")["result"] == 4109, "a deleted enterprise's key is dead"


def test_users(api):
    assert api("useradd", userpassword="pw")["result"] == 5101
    assert api("useradd", account="a")["result"] == 5000
    assert api("useradd")["result"] == 5000
    assert api("useradd", account="a", userpassword="pw")["result"] == 0
    assert api("useradd", account="a", userpassword="pw")["result"] == 5206
    assert api("userdelete")["result"] == 5101
    assert api("userdelete", account="zzz")["result"] == 4105
    assert api("userdelete", account="a")["result"] == 0


def test_files(api, node):
    serial = api.room()
    assert api("getcompanyfiles")["result"] == 4105
    assert api("uploadfile")["result"] == 4202
    up = api("uploadfile", files={"filedata": ("../../evil name.pdf", b"%PDF-1.4 hello", "application/pdf")},
             serial=serial, isdefault=1)
    assert up["result"] == 0
    fid = up["fileid"]
    files = api("getroomfile", serial=serial)["roomfile"]
    assert [f["fileid"] for f in files] == [fid] and files[0]["type"] == 1
    assert files[0]["filename"] == "evil_name.pdf" and files[0]["size"] == 14
    got = httpx.get(files[0]["downloadpath"])
    assert got.status_code == 200 and got.content == b"%PDF-1.4 hello"
    assert httpx.get(files[0]["downloadpath"][:-4] + "0000").status_code == 404
    client = api.client("getroomfile", serial=serial)
    assert client["result"] == 0 and client["roomfile"][0]["fileid"] == fid
    f2 = api("uploadfile", files={"filedata": ("b.txt", b"B")})["fileid"]
    assert api("getroomfile", serial=serial)["roomfile"][0]["fileid"] == fid
    r = api.http.post("/WebAPI/roombindfile", data={"key": api.key, "serial": serial, "fileidarr[]": [str(f2)]})
    assert r.json()["result"] == 0
    assert {f["fileid"] for f in api("getroomfile", serial=serial)["roomfile"]} == {fid, f2}
    assert api("roombindfile", serial=serial)["result"] == 4202
    assert api("roombindfile", serial=serial, **{"fileidarr[]": "99999999"})["result"] == 4105
    other = Api(node, node.enterprise())
    f3 = other("uploadfile", files={"filedata": ("c.txt", b"C")})["fileid"]
    assert api("roombindfile", serial=serial, **{"fileidarr[]": str(f3)})["result"] == 4108
    assert api("deletefile", **{"fileidarr[]": str(f3)})["result"] == 4108
    assert api("roomdeletefile", serial=serial, **{"fileidarr[0]": str(f2)})["result"] == 0
    assert [f["fileid"] for f in api("getroomfile", serial=serial)["roomfile"]] == [fid]
    assert api("deletefile")["result"] == 4202
    assert api("deletefile", **{"fileidarr[]": str(fid)})["result"] == 0
    assert api("getroomfile", serial=serial)["result"] == 4105
    assert api.client("getroomfile", serial=serial)["roomfile"] == []
    assert httpx.get(files[0]["downloadpath"]).status_code == 404
    assert {f["fileid"] for f in api("getcompanyfiles")["companyfile"]} == {f2}


def test_room_file_limit_4106(tmp_path):
    from webapi_nodes import NodeThread, node_settings

    n = NodeThread(node_settings(tmp_path, room_file_limit=2))
    try:
        api = Api(n, n.enterprise())
        serial = api.room()
        ids = [api("uploadfile", files={"filedata": (f"{i}.txt", b"x")})["fileid"] for i in range(3)]
        assert api("roombindfile", serial=serial, fileidarr=",".join(map(str, ids[:2])))["result"] == 0
        assert api("roombindfile", serial=serial, fileidarr=str(ids[2]))["result"] == 4106
        assert api("uploadfile", files={"filedata": ("x.txt", b"x")}, serial=serial)["result"] == 4106
    finally:
        n.stop()


def test_groups(api, node):
    serial = api.room()
    assert api("getgrouplist", serial=serial)["result"] == 4105
    assert api.client("getgrouplist", serial=serial)["grouplist"] == []
    assert api("groupcreate", serial=serial)["result"] == 4201
    gid = api("groupcreate", serial=serial, groupname="Team A")["groupid"]
    assert [g["groupname"] for g in api("getgrouplist", serial=serial)["grouplist"]] == ["Team A"]
    # The ClientAPI lists them without the enterprise key: the teacher's page picks from it.
    assert api.client("getgrouplist", serial=serial)["grouplist"] == [{"groupid": gid, "groupname": "Team A"}]
    assert api.client("getgrouplist", serial="99999999")["result"] == 4007
    assert node.run(node.node.directory.group_exists(serial, gid)) is True
    assert node.run(node.node.directory.group_exists(serial, "999999")) is False
    assert api("groupdelete", serial=serial)["result"] == 4200
    assert api("groupdelete", serial=serial, groupid="999999")["result"] == 4105
    assert api("groupdelete", serial=serial, groupid=gid)["result"] == 0
    assert node.run(node.node.directory.group_exists(serial, gid)) is False


def test_media_servers_and_getconfig(api, node):
    assert api("getserverlist")["result"] == 4105
    assert api("serveradd", ip="300.1.1.1")["result"] == 6001
    assert api("serveradd")["result"] == 6001
    assert api("serveradd", ip="10.0.0.1", maxusers=0)["result"] == 6002
    assert api("serveradd", ip="10.0.0.1", maxusers="lots")["result"] == 6002
    assert api("serveradd", ip="10.0.0.1", maxsidelineusers=-1)["result"] == 6003
    assert api("serveradd", ip="10.0.0.1", url="http://x")["result"] == 6001
    assert api("serveradd", ip="10.0.0.1", apisecret="x" * 201)["result"] == 6001
    sid = api("serveradd", ip="10.0.0.1", name="cn", maxusers=500, maxsidelineusers=2000,
              url="ws://127.0.0.1:8188", apisecret="janus-s3cret")["serverid"]
    assert api("servermodify", serverid=sid, maxusers=600)["result"] == 0
    assert api("servermodify", serverid=sid, ip="nope")["result"] == 6001
    assert api("servermodify", serverid=987654)["result"] == 6000
    assert api("servermodify")["result"] == 6000
    other = Api(node, node.enterprise())
    assert other("serverdelete", serverid=sid)["result"] == 4108
    lst = api("getserverlist")["serverlist"]
    assert lst == [{"serverid": sid, "name": "cn", "ip": "10.0.0.1", "url": "ws://127.0.0.1:8188",
                    "maxusers": 600, "maxsidelineusers": 2000, "apisecret": True}]
    # the node reads the secret and the owner; nobody reads the secret back through the API
    theirs = other("serveradd", ip="10.0.0.2", url="ws://127.0.0.1:8189")["serverid"]
    rows = {r["serverid"]: r for r in node.run(node.node.directory.media_servers())}
    assert (rows[sid]["apisecret"], rows[theirs]["apisecret"]) == ("janus-s3cret", "")
    assert rows[sid]["companyid"] != rows[theirs]["companyid"], "each enterprise owns its own"
    assert other("serverdelete", serverid=theirs)["result"] == 0
    serial = api.room()
    cfg = api.client("getconfig", serial=serial)
    assert "janus-s3cret" not in json.dumps(cfg)
    port = node.node.settings.effective_signal_port
    assert cfg["result"] == 0 and cfg["signal"]["url"] == f"ws://127.0.0.1:{port}/signal"
    assert cfg["mediaservers"] == [{"serverid": sid, "name": "cn", "ip": "10.0.0.1",
                                    "maxusers": 600, "maxsidelineusers": 2000}], "no Janus API URL"
    assert cfg["courseserverport"] == port
    assert api.client("getconfig")["result"] == 5100
    assert api.client("getconfig", serial="0000000004")["result"] == 4007
    assert api("serverdelete", serverid=sid)["result"] == 0
    assert api("serverdelete", serverid=sid)["result"] == 6000


def test_chat_and_class_state(api, node):
    serial = api.room()
    d = node.node.directory
    now = time.time()
    node.run(d.save_chat(serial, {"fromID": "u1", "nickname": "Ann", "toID": "__all", "message": "hi", "ts": now * 1000}))
    node.run(d.save_chat(serial, {"fromID": "u1", "nickname": "Ann", "toID": "u2", "message": "psst", "ts": now * 1000}))
    pub = api("getroomchat", serial=serial)["chatlist"]
    assert [(m["fromid"], m["message"]) for m in pub] == [("u1", "hi")]
    priv = api("getroomchat", serial=serial, chattype=2)["chatlist"]
    assert [(m["toid"], m["message"]) for m in priv] == [("u2", "psst")]
    assert api("getroomchat", serial=serial, chattype=1)["result"] == 4004
    assert api("getroomchat", serial=serial, starttime=int(now) + 100)["result"] == 4105
    assert api("getroomchat", serial=serial, starttime=5, endtime=4)["result"] == 4005
    node.run(d.class_state(serial, 0, now))
    node.run(d.class_state(serial, 1, now + 1))
    assert node.run(d.class_events(serial)) == [(0, now), (1, now + 1)]


def test_recordings(api, node, tmp_path):
    serial = api.room()
    assert api("getrecordlist", serial=serial)["result"] == 4105
    f = tmp_path / "rec.mp4"
    f.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    rid = node.run(node.node.directory.add_record(serial=serial, path=str(f), starttime=int(time.time()),
                                                  duration_ms=4200, size=12, title="Lesson", kind="mixed"))
    recs = api("getrecordlist", serial=serial)["recordlist"]
    assert [(r["recordid"], r["duration_ms"], r["recordtitle"]) for r in recs] == [(rid, 4200, "Lesson")]
    assert httpx.get(recs[0]["playpath"]).content == f.read_bytes()
    assert api("getrecordlist", serial=serial, starttime="yesterday")["result"] == 4004
    other = Api(node, node.enterprise())
    assert other("getrecordlist", serial=serial)["result"] == 4108


def test_companyattribute(api):
    assert api("companyattribute", roomstartcallbackurl="ftp://x")["result"] == 6001
    r = api("companyattribute", roomstartcallbackurl="http://127.0.0.1:9/start", companyname="New name")
    assert r["result"] == 0 and r["roomstartcallbackurl"] == "http://127.0.0.1:9/start"
    assert r["companyname"] == "New name" and r["roomendcallbackurl"] == ""


def test_directory_room_info(api, node):
    serial = api.room(maxusers=25, singlelogin=1, keepstate=1, bigroomthreshold=50, thirdroomid="t-9",
                      evictseconds=600)
    info = node.run(node.node.directory.room(serial))
    assert (info.serial, info.companyid, info.maxusers, info.singlelogin, info.keepstate) == (
        serial, api.company["companyid"], 25, True, True)
    assert info.bigroomthreshold == 50 and info.public()["thirdroomid"] == "t-9" and not info.deleted
    assert info.evictseconds == 600
    assert "chairmanpwd" not in info.public()
    assert api("roomdelete", serial=serial)["result"] == 0
    assert node.run(node.node.directory.room(serial)).deleted is True
    assert node.run(node.node.directory.room("0000000009")) is None
