"""The room-wide stream limits as one claim per published stream, shared by every node.

A class on several nodes counts its streams in one place: each publication first claims its
stream id in the room state (``RoomState.claim_stream``), which admits it only while the room
carries fewer than ``maxvideo`` streams with video (negative: no limit) and fewer than
``maxaudio`` with audio (0: no limit). ``claim`` is the reference semantics: the memory backend
calls it, the Redis backend mirrors it in one Lua script. Each claim names the node that
brokers the stream, so the claims of a node found dead go with its sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

VIDEO_FULL = "video"    # the room carries ``maxvideo`` streams with video already
AUDIO_FULL = "audio"    # the room carries ``maxaudio`` streams with audio already
TAKEN = "taken"         # the stream id is claimed already (published, perhaps on another node)

Refusal = str


@dataclass(frozen=True, slots=True)
class StreamClaim:
    """One admitted stream: whose, brokered by which node, carrying what."""

    userid: str
    node: str
    has_video: bool
    has_audio: bool


def claim(claims: dict[str, StreamClaim], stream_id: str, new: StreamClaim,
          maxvideo: int, maxaudio: int, *, take_over: bool = True) -> Refusal | None:
    """Record ``new`` under ``stream_id`` when the limits allow it (None), else say why not
    (nothing changes). The same user's claim of the stream through another node is taken over
    (``take_over``): a user has one session in a class, so that claim is the stale one of a
    session that moved to ``new.node`` (its node killed: the claim would otherwise refuse the
    stream, 2601, until that node is swept as dead). A node putting back its own claims
    (``take_over=False``) never takes one from the node its member moved to."""
    held = claims.get(stream_id)
    if held is not None and not (take_over and held.userid == new.userid
                                 and held.node != new.node):
        return TAKEN
    others = [c for sid, c in claims.items() if sid != stream_id]
    if new.has_video and maxvideo >= 0 and sum(c.has_video for c in others) >= maxvideo:
        return VIDEO_FULL
    if new.has_audio and maxaudio > 0 and sum(c.has_audio for c in others) >= maxaudio:
        return AUDIO_FULL
    claims[stream_id] = new
    return None


def release(claims: dict[str, StreamClaim], stream_id: str, node: str) -> bool:
    """Forget the claim when ``node`` holds it (a node never releases another's claim: one
    taken for dead may have lost it, and the stream id be claimed anew elsewhere)."""
    held = claims.get(stream_id)
    if held is None or held.node != node:
        return False
    del claims[stream_id]
    return True
