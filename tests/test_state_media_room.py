"""The class's media room in the shared state: claimed once, moved by compare-and-set,
released by exactly one caller once the room has no member (memory and Redis alike)."""

from __future__ import annotations

import asyncio

from test_state_contract import member, state  # noqa: F401 - the backend fixture
from tkroom.rooms.transitions import JoinPolicy


async def test_the_first_claim_wins_and_everyone_gets_it(state):  # noqa: F811
    claims = [state.claim_media_room("r", {"server": f"j{i}", "room": f"room-{i}"})
              for i in range(12)]
    out = await asyncio.gather(*claims)
    winners = [rec for rec, won in out if won]
    assert len(winners) == 1
    assert all(rec == winners[0] for rec, _ in out)
    assert winners[0]["epoch"] == 1
    assert await state.media_room("r") == winners[0]
    assert await state.media_room("other") is None


async def test_a_move_is_decided_once(state):  # noqa: F811
    first, _ = await state.claim_media_room("r", {"server": "j1", "room": "a"})
    moves = [state.claim_media_room("r", {"server": f"j{i}", "room": f"b{i}"},
                                    replaces=first["epoch"]) for i in range(2, 10)]
    out = await asyncio.gather(*moves)
    assert [won for _, won in out].count(True) == 1
    moved = next(rec for rec, won in out if won)
    assert moved["epoch"] == 2 and moved["server"] != "j1"
    assert all(rec == moved for rec, _ in out)
    # a node that still believes in epoch 1 cannot move it back
    rec, won = await state.claim_media_room("r", {"server": "j1", "room": "c"}, replaces=1)
    assert not won and rec == moved


async def test_released_once_and_only_when_nobody_is_left(state):  # noqa: F811
    await state.add_member("r", member("t", 0), JoinPolicy())
    await state.add_member("r", member("s"), JoinPolicy())
    rec, _ = await state.claim_media_room("r", {"server": "j1", "room": "a"})
    assert await state.release_media_room("r") is None  # two members left
    await state.remove_member("r", "t", "", False)
    assert await state.release_media_room("r") is None  # one member left
    assert await state.media_room("r") == rec
    await state.remove_member("r", "s", "", False)
    out = await asyncio.gather(*[state.release_media_room("r") for _ in range(6)])
    assert [o for o in out if o is not None] == [rec]
    assert await state.media_room("r") is None
    # a move of a released record writes nothing; the next claim starts afresh
    assert await state.claim_media_room("r", {"server": "j2", "room": "b"}, replaces=1) == \
        (None, False)
    rec2, won = await state.claim_media_room("r", {"server": "j2", "room": "b"})
    assert won and rec2 == {"server": "j2", "room": "b", "epoch": 1}
