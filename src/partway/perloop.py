"""A resource opened lazily, once per event loop.

Async clients and pools belong to the loop that opened them, and tests run several loops in one
process; a new loop therefore gets a resource of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, open_: Callable[[], Awaitable[T]]) -> None:
        self._open = open_
        self._value: T | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening = asyncio.Lock()

    async def get(self) -> T:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._opening, self._value = loop, asyncio.Lock(), None
        if self._value is None:
            async with self._opening:
                if self._value is None:
                    self._value = await self._open()
        return self._value

    def take(self) -> T | None:
        """The open resource, if any, now the caller's to close."""
        value, self._value = self._value, None
        return value
