"""A front's error table: domain error classes → the front's answer, looked up along the MRO so
a subclass answers as its nearest listed base. Each front (Apideck today) builds its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..domain.errors import DomainError


@dataclass(frozen=True)
class Answer:
    """What a front says for one error class: a status, the front's error type and headers."""

    status: int
    type_name: str
    headers: Mapping[str, str] = field(default_factory=dict)


class ErrorTable:
    def __init__(self, entries: Mapping[type[DomainError], Answer], fallback: Answer) -> None:
        self._entries = dict(entries)
        self._fallback = fallback

    def answer(self, exc: DomainError) -> Answer:
        for cls in type(exc).__mro__:
            if cls in self._entries:
                return self._entries[cls]
        return self._fallback

    def covers(self) -> set[type[DomainError]]:
        return set(self._entries)

    def answers(self) -> list[Answer]:
        return [*self._entries.values(), self._fallback]
