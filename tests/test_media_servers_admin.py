"""Media servers the operator registers (``tkroom admin server``) carry every enterprise's
classes; an enterprise sees them in getconfig but cannot change them through the Web API."""

from __future__ import annotations

import json

import httpx

from client_node import running_node
from tkroom.media.placement import may_carry
from tkroom.media.servers import from_row
from webapi_nodes import tkroom


async def test_operator_servers_serve_every_enterprise(tmp_path) -> None:
    data = ["--data", str(tmp_path)]
    bad = tkroom("admin", "server", "add", "http://127.0.0.1:8190", "--name", "x", *data)
    assert bad.returncode == 1 and json.loads(bad.stderr)["result"] == 6001
    made = tkroom("admin", "server", "add", "ws://127.0.0.1:8190", "--name", "shared",
                  "--apisecret", "op-s3cret", *data)
    assert made.returncode == 0, made.stderr
    sid = json.loads(made.stdout)["serverid"]
    listed = tkroom("admin", "server", "list", *data)
    assert "op-s3cret" not in listed.stdout
    assert json.loads(listed.stdout) == [{"serverid": sid, "name": "shared",
                                          "url": "ws://127.0.0.1:8190", "maxusers": 500,
                                          "companyid": None, "apisecret": True}]

    async with running_node(tmp_path) as env:
        rows = await env.node.directory.media_servers()
        assert [(r["serverid"], r["companyid"], r["apisecret"]) for r in rows] == \
            [(sid, None, "op-s3cret")]
        server = from_row(rows[0])
        assert server.owner is None and server.secret == "op-s3cret"
        assert may_carry(server, 1) and may_carry(server, 2)
        async with httpx.AsyncClient(base_url=env.node.base_url, timeout=30) as http:
            own = (await http.post("/WebAPI/getserverlist", data={"key": env.key})).json()
            assert own["result"] == 4105, "the enterprise has no server of its own"
            changed = (await http.post("/WebAPI/servermodify", data={
                "key": env.key, "serverid": sid, "maxusers": 1})).json()
            assert changed["result"] == 4108
            cfg = (await http.post("/ClientAPI/getconfig", data={"serial": env.serial})).json()
        assert [s["name"] for s in cfg["mediaservers"]] == ["shared"]
        assert "op-s3cret" not in json.dumps(cfg)

    gone = tkroom("admin", "server", "delete", str(sid), *data)
    assert gone.returncode == 0, gone.stderr
    again = tkroom("admin", "server", "delete", str(sid), *data)
    assert again.returncode == 1 and json.loads(again.stderr)["result"] == 6000
