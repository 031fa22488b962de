"""``python -m bench.media.relay``: what a Python developer would otherwise build — an
aiortc-only relay in one process. It receives one stream and forwards it to every subscriber
through aiortc's ``MediaRelay`` (which decodes once and re-encodes per subscriber).

It speaks JSON lines on stdin/stdout with the benchmark: ``{"op": "publish", "sdp"}`` →
``{"sdp": answer}``; ``{"op": "subscribe"}`` → ``{"id", "sdp": offer}``; ``{"op": "answer",
"id", "sdp"}`` → ``{}``; ``{"op": "quit"}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole, MediaRelay


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    relay = MediaRelay()
    source: asyncio.Future = loop.create_future()
    pcs: dict[str, RTCPeerConnection] = {}
    sink = MediaBlackhole()

    def reply(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    while True:
        line = await reader.readline()
        if not line:
            break
        req = json.loads(line)
        op = req["op"]
        if op == "publish":
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pcs["pub"] = pc

            @pc.on("track")
            def on_track(track, pc=pc) -> None:
                if not source.done():
                    source.set_result(track)
                    sink.addTrack(relay.subscribe(track))
                    asyncio.ensure_future(sink.start())

            await pc.setRemoteDescription(RTCSessionDescription(req["sdp"], "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            reply({"sdp": pc.localDescription.sdp})
        elif op == "subscribe":
            track = await source
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            sid = f"s{len(pcs)}"
            pcs[sid] = pc
            pc.addTransceiver(relay.subscribe(track), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            reply({"id": sid, "sdp": pc.localDescription.sdp})
        elif op == "answer":
            await pcs[req["id"]].setRemoteDescription(RTCSessionDescription(req["sdp"], "answer"))
            reply({})
        elif op == "quit":
            break
    for pc in pcs.values():
        await pc.close()


if __name__ == "__main__":
    asyncio.run(main())
