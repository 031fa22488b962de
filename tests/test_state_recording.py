"""The class's recording lease in the shared state: one record per class, claimed once, taken
over by another node only when the holder's lease lapsed, ended by exactly one caller (memory
and Redis alike)."""

from __future__ import annotations

import asyncio

from test_state_contract import state  # noqa: F401 - the backend fixture

NOW = 1_764_500_000_000
TTL = 5000


async def test_the_first_claim_makes_the_recording_and_everyone_gets_it(state):  # noqa: F811
    out = await asyncio.gather(*[state.claim_recording("r", f"n{i}", NOW + i, TTL, f"id{i}")
                                 for i in range(10)])
    takers = [rec for rec, taken in out if taken]
    assert len(takers) == 1
    first = takers[0]
    assert first["segment"] == 1 and first["started_ms"] <= NOW + 9
    assert first["lease_until"] == first["started_ms"] + TTL and first["previous"] == ""
    assert all(rec == first for rec, _ in out)
    assert await state.recording("r") == first
    assert await state.recording("other") is None


async def test_a_lapsed_lease_is_taken_over_once_into_the_next_segment(state):  # noqa: F811
    rec, _ = await state.claim_recording("r", "a", NOW, TTL, "rec1")
    # live: nobody else takes it, the holder renews it
    same, taken = await state.claim_recording("r", "b", NOW + TTL - 1, TTL, "other")
    assert not taken and same == rec
    assert await state.renew_recording("r", "a", "rec1", NOW + 1000, TTL)
    assert not await state.renew_recording("r", "b", "rec1", NOW + 1000, TTL)
    assert not await state.renew_recording("r", "a", "other", NOW + 1000, TTL)
    assert (await state.recording("r"))["lease_until"] == NOW + 1000 + TTL
    # lapsed: of many nodes claiming at once, one takes it, with the same id and start
    late = NOW + 1000 + TTL + 1
    out = await asyncio.gather(*[state.claim_recording("r", f"n{i}", late, TTL, f"x{i}")
                                 for i in range(8)])
    takers = [r for r, taken in out if taken]
    assert len(takers) == 1
    new = takers[0]
    assert new["id"] == "rec1" and new["started_ms"] == NOW and new["segment"] == 2
    assert new["holder"] != "a" and new["lease_until"] == late + TTL and new["previous"] == "a"
    assert all(r == new for r, _ in out)
    # the old holder has lost it: it can no longer renew
    assert not await state.renew_recording("r", "a", "rec1", late, TTL)
    assert await state.renew_recording("r", new["holder"], "rec1", late, TTL)


async def test_a_holder_late_to_renew_keeps_its_lease(state):  # noqa: F811
    rec, _ = await state.claim_recording("r", "a", NOW, TTL, "rec1")
    again, taken = await state.claim_recording("r", "a", NOW + 3 * TTL, TTL, "other")
    assert not taken and again == rec
    assert await state.renew_recording("r", "a", "rec1", NOW + 3 * TTL, TTL)


async def test_ended_once(state):  # noqa: F811
    rec, _ = await state.claim_recording("r", "a", NOW, TTL, "rec1")
    assert await state.end_recording("r", "other") is None
    out = await asyncio.gather(*[state.end_recording("r", "rec1") for _ in range(6)])
    assert [o for o in out if o is not None] == [rec]
    assert await state.recording("r") is None
    # the next claim starts a new recording
    new, taken = await state.claim_recording("r", "b", NOW + 10, TTL, "rec2")
    assert taken and new["id"] == "rec2" and new["segment"] == 1


async def test_a_claim_to_take_over_makes_no_recording(state):  # noqa: F811
    assert await state.claim_recording("r", "b", NOW, TTL, "") == (None, False)
    assert await state.recording("r") is None
