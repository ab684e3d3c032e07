"""Fair admission: at most `slots` requests do their work at once, and waiting ones are let in
round-robin by tenant, so one tenant's crowd cannot starve another tenant's calls.

Every request's handler runs on the one event loop. Under overload, the loop's queue of ready
callbacks is what a request waits in, first come first served: 1,000 uploads of one tenant
made another tenant's GET wait for seconds (bench/slow.py). Here a request is admitted once it
is authenticated (http/context.caller); one that cannot be yet waits parked, off the loop's
queue, in its tenant's line. An admitted request holds its slot until its response starts, or
for HOLD_LIMIT at most. While it waits for body bytes or a remote store it steps aside and
gives the slot up; it comes back without waiting, so a slow client holds no slot, and a request
already admitted never waits behind new ones (nor deadlocks on a lock it holds). Coming back, it
counts against its own tenant only: a tenant with `slots` requests at work gets no new turn,
but the other tenants' turns are not taken by it.

A tenant with nothing at work and nothing waiting (a person clicking, a probe) does not queue
behind the crowds at all while fewer than `slots` such requests are in beyond the slots: it
takes a spare turn at once. With one slot (SQLite) another tenant's call otherwise waited for
the crowd's request in that slot to finish: under 1,000 slow uploads, up to 63 ms of its time.
A crowd under load has requests waiting in its line, so it takes no spare turn then, and the
spares are bounded, so many tenants at once (or a client inventing consumer ids) cannot lift
the limit by more than `slots`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextvars import ContextVar
from dataclasses import dataclass

# A request counts against the slots for at most this long at a time: a long one (a folder
# copy, say) runs on, uncounted, rather than keep every other tenant out.
HOLD_LIMIT = 0.25


class Gate:
    """The slots and the lines. The next turn goes to the waiting tenant let in least recently
    (round-robin among the tenants with requests waiting)."""

    def __init__(self, slots: int, hold_limit: float = HOLD_LIMIT) -> None:
        self.slots = slots
        self.hold_limit = hold_limit
        self.active = 0  # requests counted in: by a turn, or back from stepping aside
        # Of those, the ones let in by a turn: at most `slots`, and up to `slots` more by
        # spare turns (the module's docstring).
        self.turns = 0
        self._lines: dict[Hashable, deque[asyncio.Future[None]]] = {}
        self._waiting = 0
        # Of the tenants with requests in or waiting: how many are in, and when each was last
        # let in (a sequence number).
        self._in: dict[Hashable, int] = {}
        self._let_in: dict[Hashable, int] = {}
        self._sequence = itertools.count()

    @property
    def waiting(self) -> int:
        return self._waiting

    async def enter(self, tenant: Hashable) -> None:
        if (not self._lines and self._may_turn(tenant)) or self._may_spare(tenant):
            self._count_in(tenant, turn=True)
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lines.setdefault(tenant, deque()).append(turn)
        self._waiting += 1
        self._pass_on()  # the tenants waiting may all be at their share: then it is ours
        try:
            await turn  # _pass_on counted us in before it set the result
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave(tenant, turn=True)  # admitted and cancelled at once: pass it on
            else:
                self._forget(tenant, turn)
            raise

    def leave(self, tenant: Hashable, turn: bool) -> None:
        self.active -= 1
        self.turns -= turn
        left = self._in[tenant] - 1
        if left:
            self._in[tenant] = left
        else:
            del self._in[tenant]
            if tenant not in self._lines:
                del self._let_in[tenant]
        self._pass_on()

    def rejoin(self, tenant: Hashable) -> None:
        """A request that stepped aside is back: counted in at once, past the limit if need
        be (see the module's docstring)."""
        self._count_in(tenant, turn=False)

    def _may_turn(self, tenant: Hashable) -> bool:
        return self.turns < self.slots and self._in.get(tenant, 0) < self.slots

    def _may_spare(self, tenant: Hashable) -> bool:
        """A spare turn: for a tenant with nothing at work and no line."""
        idle = tenant not in self._in and tenant not in self._lines
        return idle and self.turns < 2 * self.slots

    def _count_in(self, tenant: Hashable, turn: bool) -> None:
        self.active += 1
        self.turns += turn
        self._in[tenant] = self._in.get(tenant, 0) + 1
        if turn or tenant not in self._let_in:
            self._let_in[tenant] = next(self._sequence)

    def _pass_on(self) -> None:
        while self.turns < self.slots:
            # Tenants never let in come first, in the order their lines formed.
            eligible = [t for t in self._lines if self._may_turn(t)]
            if not eligible:
                return
            tenant = min(eligible, key=lambda t: self._let_in.get(t, -1))
            line = self._lines[tenant]
            turn = line.popleft()
            self._waiting -= 1
            if not line:
                del self._lines[tenant]
            self._count_in(tenant, turn=True)
            turn.set_result(None)

    def _forget(self, tenant: Hashable, turn: asyncio.Future[None]) -> None:
        line = self._lines.get(tenant)
        if line is None or turn not in line:
            return
        line.remove(turn)
        self._waiting -= 1
        if not line:
            del self._lines[tenant]
            if tenant not in self._in:
                self._let_in.pop(tenant, None)


@dataclass
class _Pass:
    """A request's standing at the gate, shared by the handler and the middleware."""

    gate: Gate
    tenant: Hashable = None
    admitted: bool = False  # let in once; stays so
    counted: bool = False  # counted in at the gate now
    by_turn: bool = False  # ... by a turn (not back from stepping aside)
    waited: float = 0.0  # seconds in line, for the request log
    _expiry: asyncio.TimerHandle | None = None

    def hold(self, by_turn: bool) -> None:
        """Counted in (the gate has counted it); for at most the gate's hold limit."""
        self.counted = True
        self.by_turn = by_turn
        self._expiry = asyncio.get_running_loop().call_later(self.gate.hold_limit, self.release)

    def release(self) -> None:
        if not self.counted:
            return
        self.counted = False
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self.gate.leave(self.tenant, self.by_turn)


_current: ContextVar[_Pass | None] = ContextVar("partway_fair_share", default=None)


def begin(gate: Gate) -> _Pass:
    """A request starts (middleware side); `end` must follow."""
    held = _Pass(gate)
    _current.set(held)
    return held


def end(held: _Pass) -> None:
    """The response has started, or the request is over: its slot goes to the next in line."""
    held.release()


async def admit(tenant: Hashable) -> None:
    """Wait for this request's turn (handler side, once the tenant is known). A no-op outside
    the middleware (tests calling handlers) and for a request admitted already."""
    held = _current.get()
    if held is None or held.admitted:
        return
    began = time.perf_counter()
    await held.gate.enter(tenant)
    held.tenant = tenant
    held.admitted = True
    held.hold(by_turn=True)
    held.waited += time.perf_counter() - began


@contextlib.asynccontextmanager
async def stepped_aside() -> AsyncIterator[None]:
    """Around a wait for a client's bytes or a remote store: the slot is free meanwhile."""
    held = _current.get()
    if held is None or not held.counted:
        yield
        return
    held.release()
    try:
        yield
    finally:
        held.gate.rejoin(held.tenant)
        held.hold(by_turn=False)
