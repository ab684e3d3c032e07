"""Fair admission (fair_share.py): the slot limit, round-robin turns by tenant, stepping aside,
the hold limit and cancellation, on a real event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from partway import fair_share
from partway.fair_share import Gate


async def request(
    gate: Gate,
    tenant: str,
    served: list[str],
    work: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """One request as the middleware and a handler run it."""
    turn = fair_share.begin(gate)
    try:
        await fair_share.admit(tenant)
        served.append(tenant)
        if work is not None:
            await work()
        await asyncio.sleep(0.001)
    finally:
        fair_share.end(turn)


async def spawn(*coros: Awaitable[None]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    await asyncio.sleep(0)  # every one has reached the gate
    return tasks


def test_one_tenants_crowd_does_not_keep_another_tenant_waiting() -> None:
    async def main() -> list[str]:
        gate = Gate(1)
        served: list[str] = []
        crowd = await spawn(*(request(gate, "crowd", served) for _ in range(20)))
        late = await spawn(request(gate, "late", served))
        await asyncio.gather(*crowd, *late)
        return served

    served = asyncio.run(main())
    # First come first served would put the late tenant 21st; round-robin lets it in second.
    assert served.index("late") == 1
    assert len(served) == 21


def test_turns_go_round_the_tenants_with_requests_waiting() -> None:
    async def main() -> list[str]:
        gate = Gate(1)
        served: list[str] = []
        tasks = await spawn(*(request(gate, t, served) for t in "aaaabbc"))
        await asyncio.gather(*tasks)
        return served

    assert "".join(asyncio.run(main())) == "abcabaa"


def test_never_more_than_the_slots_at_work() -> None:
    async def main() -> int:
        gate, most = Gate(3), 0
        served: list[str] = []

        async def work() -> None:
            nonlocal most
            most = max(most, gate.active)
            await asyncio.sleep(0.002)

        tasks = await spawn(*(request(gate, f"t{n % 4}", served, work) for n in range(30)))
        await asyncio.gather(*tasks)
        assert gate.active == 0 and gate.waiting == 0
        return most

    # Three by turns, and one spare: the fourth tenant's first request found it with nothing
    # at work and no line. Every later request waited in its tenant's line.
    assert asyncio.run(main()) == 4


def test_a_tenant_with_nothing_at_work_takes_a_spare_turn_and_the_spares_are_bounded() -> None:
    async def main() -> tuple[list[str], int, int]:
        gate = Gate(1)
        served: list[str] = []
        crowd_most = most = 0

        async def work() -> None:
            nonlocal most
            most = max(most, gate.turns)
            await asyncio.sleep(0.005)

        crowd = await spawn(*(request(gate, "crowd", served, work) for _ in range(10)))
        await asyncio.sleep(0.02)
        crowd_most = most  # the crowd alone: its line never takes a spare turn
        caller = await spawn(request(gate, "caller", served, work))
        await asyncio.sleep(0)
        # In at once, beside the crowd's request at work, while the crowd still has a line.
        # (Not served[-1]: a crowd request's timer may fire in the same loop step.)
        assert "caller" in served
        assert served.count("crowd") < 10
        others = await spawn(*(request(gate, f"other{n}", served, work) for n in range(3)))
        await asyncio.gather(*crowd, *caller, *others)
        assert gate.active == 0 and gate.waiting == 0 and gate.turns == 0
        return served, crowd_most, most

    served, crowd_most, most = asyncio.run(main())
    assert crowd_most == 1
    assert most == 2  # one spare for one slot, however many idle tenants come
    assert sorted(served) == sorted(["crowd"] * 10 + ["caller", "other0", "other1", "other2"])


def test_waiting_for_bytes_frees_the_slot_and_coming_back_never_waits() -> None:
    async def main() -> tuple[list[str], int]:
        gate = Gate(1)
        served: list[str] = []
        bytes_arrived = asyncio.Event()

        async def slow_body() -> None:
            async with fair_share.stepped_aside():
                await bytes_arrived.wait()

        uploader = await spawn(request(gate, "uploader", served, slow_body))
        others = await spawn(*(request(gate, "other", served) for _ in range(5)))
        await asyncio.gather(*others)  # served while the upload waited for its bytes
        # Margins wide enough for a loaded CI machine: waiting for the slot would take ~0.5 s.
        gate_full = await spawn(request(gate, "other", served, lambda: asyncio.sleep(0.5)))
        await asyncio.sleep(0.01)
        bytes_arrived.set()  # back while the slot is taken: admitted past the limit
        await asyncio.wait_for(asyncio.gather(*uploader), 0.4)
        await asyncio.gather(*gate_full)
        return served, gate.active

    served, active = asyncio.run(main())
    assert served == ["uploader"] + ["other"] * 6
    assert active == 0


def test_a_request_past_the_hold_limit_no_longer_counts() -> None:
    async def main() -> list[str]:
        gate = Gate(1, hold_limit=0.02)
        served: list[str] = []
        long_one = await spawn(request(gate, "copy", served, lambda: asyncio.sleep(1.0)))
        quick = await spawn(request(gate, "other", served))
        await asyncio.wait_for(asyncio.gather(*quick), 0.5)  # not after the 1 s copy
        assert not long_one[0].done()
        await asyncio.gather(*long_one)
        assert gate.active == 0
        return served

    assert asyncio.run(main()) == ["copy", "other"]


def test_a_request_cancelled_in_line_leaves_it() -> None:
    async def main() -> None:
        gate = Gate(1)
        served: list[str] = []
        first = await spawn(request(gate, "a", served, lambda: asyncio.sleep(0.2)))
        gone = await spawn(request(gate, "a", served))  # behind its own tenant's request
        assert gate.waiting == 1
        gone[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone[0]
        assert gate.waiting == 0
        await asyncio.gather(*first)
        assert gate.active == 0 and served == ["a"]

    asyncio.run(main())


def test_handlers_called_without_the_middleware_are_not_gated() -> None:
    async def main() -> None:
        await fair_share.admit("anyone")  # no begin(): tests calling handlers directly
        async with fair_share.stepped_aside():
            pass

    asyncio.run(main())


def test_one_tenants_returning_requests_do_not_keep_another_tenant_out() -> None:
    """Uploads back from their body waits (recording parts) count against their own tenant:
    1,000 uploads finishing their bodies together once kept every other tenant waiting for
    seconds (bench/slow.py), since each came back past the limit and filled the slots."""

    async def main() -> tuple[list[str], bool]:
        gate = Gate(2)
        served: list[str] = []
        bodies_in = asyncio.Event()
        recorded = asyncio.Event()

        async def body_then_record() -> None:
            async with fair_share.stepped_aside():
                await bodies_in.wait()
            await recorded.wait()  # back, counted, at work on its part

        uploads = await spawn(
            *(request(gate, "uploads", served, body_then_record) for _ in range(3))
        )
        bodies_in.set()
        await asyncio.sleep(0.01)  # all three are back at work: past their tenant's share
        more_uploads = await spawn(request(gate, "uploads", served))
        other = await spawn(request(gate, "other", served))
        await asyncio.wait_for(asyncio.gather(*other), 0.5)
        newcomer_waited = not more_uploads[0].done()
        recorded.set()
        await asyncio.gather(*uploads, *more_uploads)
        assert gate.active == 0 and gate.waiting == 0
        return served, newcomer_waited

    served, newcomer_waited = asyncio.run(main())
    assert served == ["uploads"] * 3 + ["other", "uploads"]
    assert newcomer_waited  # its tenant already had more than the slots at work
