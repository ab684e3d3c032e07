"""The Apideck front's error table answers every domain error, cut bodies included."""

from __future__ import annotations

from partway.domain import errors as e
from partway.domain.hooks import HookUnavailable
from partway.http.errors import APIDECK
from partway.http.pump import BodyTimeout


def every_domain_error() -> set[type[e.DomainError]]:
    found: set[type[e.DomainError]] = set()
    todo: list[type[e.DomainError]] = [e.DomainError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += cls.__subclasses__()
    return found


def test_every_domain_error_has_an_answer_short_of_500() -> None:
    # BodyCut itself is abstract (its subclasses are raised); every concrete class is answered.
    for cls in every_domain_error() - {e.DomainError, e.BodyCut}:
        assert APIDECK.answer(cls.__new__(cls)).status < 500 or cls in (
            e.Busy,
            e.StorageUnavailable,
            e.InsufficientStorage,
            HookUnavailable,  # a fail-closed hook that did not answer (issue #21)
        ), cls


def test_cut_bodies_are_answered_by_the_table() -> None:
    timed_out = APIDECK.answer(BodyTimeout("slow", "too slow"))
    assert (timed_out.status, timed_out.type_name) == (408, "RequestTimeoutError")
    assert timed_out.headers == {"Connection": "close"}
    gone = APIDECK.answer(e.ClientGone("left"))
    assert (gone.status, gone.type_name) == (400, "RequestValidationError")
    assert APIDECK.answer(e.TooManySessions("x")).status == 402  # through its base class
    assert APIDECK.answer(e.Busy("x")).headers == {"Retry-After": "1"}
