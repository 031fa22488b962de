"""The Python SDK tells its publication attempts apart (no sockets: no media is sent).

Seen through TURN on a loaded machine: the server's notice that the first attempt timed out
(132) started a second publish loop beside the SDK's own retry, the two loops each published,
the later one tearing down the stream the earlier had just announced; every such teardown
sent a 131 about an attempt the SDK had itself abandoned, which started yet another
republish. Each notice now names its publication, and one loop per stream runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tkroom.client.media import LocalStream, MediaClient
from tkroom.errors import CodeError

NO_MEDIA = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"  # nothing to connect


def notice(code: int, publication: str) -> dict[str, Any]:
    return {"kind": "error", "code": code, "msg": "", "userId": "alice", "type": "video",
            "deviceId": "default", "publicationId": publication}


class Server:
    """Answers the SDK's publish requests the way the media service does (without media):
    each attempt gets a new publication id; ``refuse_after``: later publishes get 4108."""

    def __init__(self, refuse_after: int = 1) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse_after = refuse_after
        self.asked = asyncio.Event()

    async def request(self, ev: str, data: dict[str, Any]) -> Any:
        self.calls.append((ev, {k: v for k, v in data.items() if k != "jsep"}))
        self.asked.set()
        if ev == "publish":
            n = sum(e == "publish" for e, _ in self.calls)
            if n > self.refuse_after:
                raise CodeError(4108, "not now")
            return {"streamId": "alice:video:default", "publicationId": f"pub-{n}",
                    "jsep": {"type": "answer", "sdp": NO_MEDIA}}
        if ev == "unpublish":
            return {}
        raise AssertionError(ev)


async def test_a_notice_about_a_withdrawn_attempt_leaves_the_current_one_alone() -> None:
    server = Server()
    client = MediaClient(server.request, "alice", retry_delay=0.01)
    ls = LocalStream("video", "default", [], stream_id="alice:video:default")
    ls.publication_id = "pub-2"  # the attempt that is up now
    client.local[ls.key] = ls
    await client.dispatch("notice", notice(131, "pub-1"))  # the one we closed ourselves
    await asyncio.sleep(0.1)
    assert ls.task is None and server.calls == []
    # about the current attempt: that one is published again
    await client.dispatch("notice", notice(131, "pub-2"))
    assert ls.task is not None
    await client.close()


async def test_the_servers_timeout_of_the_first_attempt_starts_no_second_loop() -> None:
    """The server's 132 about the attempt the first ``publishVideo`` call still waits on ends
    that wait at once; the call's own loop retries, nothing else publishes."""
    server = Server(refuse_after=1)
    client = MediaClient(server.request, "alice", publish_timeout=60, retry_delay=0.01)
    call = asyncio.create_task(client._publish("video", "default", []))
    await asyncio.wait_for(server.asked.wait(), 30)
    await client.dispatch("notice", notice(132, "pub-1"))
    with pytest.raises(CodeError) as e:
        await asyncio.wait_for(call, 30)  # not the 60 s publish timeout
    assert e.value.extra["reason"] == 4108  # the retry's refusal ends the call
    await asyncio.sleep(0.1)  # a second loop would publish again
    assert server.calls == [
        ("publish", {"type": "video", "deviceId": "default"}),
        ("unpublish", {"streamId": "alice:video:default", "publicationId": "pub-1"}),
        ("publish", {"type": "video", "deviceId": "default"})]
    await client.close()


async def test_a_late_failure_of_an_abandoned_attempt_is_not_the_streams_error() -> None:
    """Janus hangs up a connection the SDK closed to publish again; its 131 may come while the
    next attempt has no id yet: the application is not told the stream failed."""
    server = Server()
    client = MediaClient(server.request, "alice", retry_delay=0.01)
    ls = LocalStream("video", "default", [], stream_id="alice:video:default")
    ls.publication_id = "pub-1"
    client.local[ls.key] = ls
    ls.abandon()                      # publishing again: the next attempt is in progress
    await client.dispatch("notice", notice(131, "pub-1"))
    await asyncio.sleep(0.05)
    assert client.notices == [] and ls.task is None and server.calls == []
    ls.publication_id = "pub-2"
    await client.dispatch("notice", notice(131, "pub-2"))   # the current one did fail
    assert [n["code"] for n in client.notices] == [131] and ls.task is not None
    await client.close()
