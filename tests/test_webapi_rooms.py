"""Room management through a real node: every code of roomcreate/roommodify/... provoked."""

from __future__ import annotations

import time

import pytest

NOW = int(time.time())
BASE = dict(roomname="Math", roomtype=3, starttime=NOW, endtime=NOW + 3600, passwordrequired=1,
            chairmanpwd="teach1", assistantpwd="assist1", patrolpwd="patrol1", confuserpwd="stud1")


def create(api, **over):
    params = dict(BASE)
    for k, v in over.items():
        if v is None:
            params.pop(k, None)
        else:
            params[k] = v
    return api("roomcreate", **params)


def test_roomcreate_answers_a_serial_and_getroom_shows_settings(api):
    r = create(api, maxusers=30, videotype=3, videoframerate=25, thirdroomid="ext-1", singlelogin=1)
    assert r["result"] == 0 and r["serial"].isdigit() and len(r["serial"]) == 10
    room = api("getroom", serial=r["serial"])["room"]
    assert room["roomname"] == "Math" and room["maxusers"] == 30 and room["videotype"] == 3
    assert room["videowidth"] == 1280 and room["thirdroomid"] == "ext-1" and room["singlelogin"] == 1
    assert room["evictseconds"] == 180, "an evicted user stays out 3 minutes by default"
    assert not any("pwd" in k for k in room), "no password (or hash) is ever shown"


@pytest.mark.parametrize(("over", "code"), [
    (dict(roomname=None), 4003), (dict(roomname="  "), 4003), (dict(roomname="x" * 201), 4003),
    (dict(roomtype=None), 4011), (dict(roomtype=5), 4011),
    (dict(starttime=None), 5004), (dict(endtime=None), 5004),
    (dict(starttime="2024-01-01"), 4004), (dict(endtime="soon"), 4004),
    (dict(endtime=NOW - 10), 4005), (dict(starttime=NOW + 7200), 4005),
    (dict(passwordrequired=None), 5001), (dict(passwordrequired=2), 5001),
    (dict(chairmanpwd=None), 5002), (dict(chairmanpwd="ab"), 4006), (dict(chairmanpwd="with space"), 4006),
    (dict(assistantpwd=None), 5018), (dict(assistantpwd="a" * 17), 4010),
    (dict(patrolpwd=None), 5019), (dict(patrolpwd="p"), 4010),
    (dict(confuserpwd=None), 5003), (dict(confuserpwd="s"), 4009),
    (dict(allowsidelineuser=1), 5005), (dict(allowsidelineuser=1, sidelineuserpwd="x"), 4010),
    (dict(assistantpwd="teach1"), 5102), (dict(allowsidelineuser=1, sidelineuserpwd="stud1"), 5102),
    (dict(maxusers="many"), 5008), (dict(maxusers=10001), 5009), (dict(maxusers=-1), 5009),
    (dict(maxsidelineusers="x"), 5010), (dict(maxsidelineusers=100001), 5011),
    (dict(maxvideo="1.5"), 5012), (dict(maxvideo=0), 5013), (dict(maxvideo=33), 5013),
    (dict(maxaudio="a"), 5014), (dict(maxaudio=65), 5015),
    (dict(videotype=5), 5016), (dict(videotype="hd"), 5016), (dict(videoframerate=24), 5016),
    (dict(roomlayout="grid"), 5017), (dict(singlelogin=2), 5017),
    (dict(evictseconds="soon"), 5017), (dict(evictseconds=-1), 5017), (dict(evictseconds=86401), 5017),
])
def test_roomcreate_codes(api, over, code):
    r = create(api, **over)
    assert r["result"] == code, r
    assert "msg" in r


def test_student_password_optional_without_passwordrequired(api):
    assert create(api, passwordrequired=0, confuserpwd=None)["result"] == 0


def test_resolution_above_enterprise_limit_is_5020(api, node):
    async def limit():
        from tkroom.store.models import Company

        async with node.node.sessions() as s:
            c = await s.get(Company, api.company["companyid"])
            c.max_videotype = 3
            await s.commit()

    node.run(limit())
    assert create(api, videotype=4)["result"] == 5020
    assert create(api, videotype=3)["result"] == 0


def test_key_codes(api, node):
    assert api("getroomlist", key="nope")["result"] == 4109
    assert api("getroomlist", key="")["result"] == 4109
    frozen = node.enterprise()
    node.run(_set(node, frozen["companyid"], frozen=True))
    assert api("getroomlist", key=frozen["authkey"])["result"] == 3002
    old = node.enterprise()
    node.run(_set(node, old["companyid"], expires=NOW - 86400))
    assert api("getroomlist", key=old["authkey"])["result"] == 3001


async def _set(node, companyid, **values):
    from tkroom.store.models import Company

    async with node.node.sessions() as s:
        c = await s.get(Company, companyid)
        for k, v in values.items():
            setattr(c, k, v)
        await s.commit()
    node.node.rooms.clear()  # a change behind the API's back, as by ``tkroom admin`` elsewhere


def test_quota_4103(node):
    from webapi_nodes import Api

    a = Api(node, node.enterprise(max_rooms=2))
    assert create(a)["result"] == 0
    assert create(a)["result"] == 0
    assert create(a)["result"] == 4103
    serial = a("getroomlist")["room"][0]["serial"]
    assert a("roomdelete", serial=serial)["result"] == 0
    assert create(a)["result"] == 0, "a deleted room frees its place"


def test_modify_delete_and_ownership(api, node):
    serial = create(api)["serial"]
    assert api("roommodify", serial=serial, roomname="Physics", maxvideo=12)["result"] == 0
    room = api("getroom", serial=serial)["room"]
    assert room["roomname"] == "Physics" and room["maxvideo"] == 12 and room["roomtype"] == 3
    assert api("roommodify", serial=serial, endtime=NOW - 5)["result"] == 4005
    assert api("roommodify", serial=serial, assistantpwd="teach1")["result"] == 5102
    assert api("roommodify", serial=serial, roomname="")["result"] == 4003
    assert api("roommodify")["result"] == 5100
    assert api("roommodify", serial="0000000001")["result"] == 4007
    from webapi_nodes import Api

    other = Api(node, node.enterprise())
    assert other("roommodify", serial=serial, roomname="Mine")["result"] == 4108
    assert other("roomdelete", serial=serial)["result"] == 4108
    assert other("getroom", serial=serial)["result"] == 4108
    assert api("getroom", serial=serial)["room"]["roomname"] == "Physics"
    assert api("roomdelete", serial=serial)["result"] == 0
    assert api("getroom", serial=serial)["result"] == 4007
    assert api("roomdelete", serial=serial)["result"] == 4007


def test_password_change_takes_effect(api):
    serial = create(api)["serial"]
    assert api.client("checkroom", serial=serial, password="teach1", nickname="T")["roomrole"] == 0
    assert api("roommodify", serial=serial, chairmanpwd="teach2")["result"] == 0
    assert api.client("checkroom", serial=serial, password="teach1", nickname="T")["result"] == 4008
    assert api.client("checkroom", serial=serial, password="teach2", nickname="T")["roomrole"] == 0


def test_lists_by_timetype_and_time(api):
    assert api("getroomlist")["result"] == 4105
    cur = create(api)["serial"]
    fut = create(api, starttime=NOW + 86400, endtime=NOW + 90000)["serial"]
    serials = lambda r: {x["serial"] for x in r["room"]}  # noqa: E731
    assert serials(api("getroomlist")) == {cur, fut}
    assert serials(api("getroomlist", timetype=1)) == {cur}
    assert serials(api("getroomlist", timetype=2)) == {fut}
    assert api("getroomlist", timetype=3)["result"] == 4105
    assert api("getroomlist", timetype=9)["result"] == 4004
    assert serials(api("getroombytime", starttime=NOW + 80000, endtime=NOW + 86500)) == {fut}
    assert api("getroombytime", starttime=NOW)["result"] == 5004
    assert api("getroombytime", starttime="x", endtime=NOW)["result"] == 4004
    assert api("getroombytime", starttime=NOW, endtime=NOW - 1)["result"] == 4005
    assert api("getroombytime", starttime=1, endtime=2)["result"] == 4105


def test_query_string_and_path_segments(api):
    params = {**BASE, "key": api.key, "roomname": "Path room"}
    path = "/".join(f"{k}/{v}" for k, v in params.items()).replace(" ", "%20")
    r = api.http.get(f"/WebAPI/roomcreate/{path}").json()
    assert r["result"] == 0
    assert api.http.get("/WebAPI/getroom", params={"key": api.key, "serial": r["serial"]}).json()["room"][
        "roomname"] == "Path room"


def test_unknown_method_is_json_not_500(api):
    r = api.http.post("/WebAPI/nosuchmethod", data={"key": api.key})
    assert r.status_code == 404 and r.json()["result"] == 4105


def test_quota_holds_under_concurrent_creates(node):
    import asyncio
    from collections import Counter

    import httpx

    from webapi_nodes import Api

    a = Api(node, node.enterprise(max_rooms=3))

    async def main() -> Counter[int]:
        async with httpx.AsyncClient(base_url=node.url, timeout=60) as c:
            async def one(i: int) -> int:
                data = {**BASE, "key": a.key, "chairmanpwd": f"teach{i}", "assistantpwd": f"assist{i}",
                        "patrolpwd": f"patrol{i}", "confuserpwd": f"stud{i}"}
                return (await c.post("/WebAPI/roomcreate", data=data)).json()["result"]

            return Counter(await asyncio.gather(*(one(i) for i in range(8))))

    assert asyncio.run(main()) == Counter({0: 3, 4103: 5})
    assert len(a("getroomlist")["room"]) == 3


@pytest.fixture
def read_before_commit(node):
    """Every Web API commit is preceded by a read of ``serials`` through the node's directory
    (as a publish or a join reading the room concurrently); the cache lives long enough that
    only an invalidation can drop what that read cached."""
    n = node.node
    real, ttl, serials = n.api.sessions, n.rooms.ttl_s, []

    def sessions():
        s = real()
        commit = s.commit

        async def read_then_commit():
            for serial in serials:
                await n.directory.room(serial)
            await commit()

        s.commit = read_then_commit
        return s

    n.api.sessions, n.rooms.ttl_s = sessions, 600
    yield serials
    n.api.sessions, n.rooms.ttl_s = real, ttl


def test_a_change_is_seen_by_the_planes_despite_a_read_before_its_commit(api, node,
                                                                        read_before_commit):
    """roommodify/roomdelete drop the cached room again after committing: a read between the
    handler and the commit must not serve the old room (e.g. its maxvideo) afterwards."""
    serial = create(api, maxvideo=6)["serial"]
    room = lambda: node.run(node.node.directory.room(serial))  # noqa: E731
    assert room().maxvideo == 6                                 # cached
    read_before_commit.append(serial)
    assert api("roommodify", serial=serial, maxvideo=2)["result"] == 0
    assert room().maxvideo == 2
    assert api.client("checkroom", serial=serial, password="teach1", nickname="T")["result"] == 0
    assert api("roomdelete", serial=serial)["result"] == 0
    assert room().deleted
    assert api.client("checkroom", serial=serial, password="teach1", nickname="T")["result"] == 3003


def test_a_row_read_before_an_invalidation_is_not_cached_after_it():
    from types import SimpleNamespace

    from tkroom.store.roomcache import RoomCache

    cache = RoomCache(600)
    row, company = SimpleNamespace(serial="1"), SimpleNamespace()
    mark = cache.mark()
    cache.invalidate("1")               # a change committed while the row was being read
    cache.put(row, company, mark)
    assert cache.get("1") is None
    cache.put(row, company, cache.mark())
    assert cache.get("1") is not None
