from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..backends import BACKENDS, Backend, make_backend
from .helpers import ENGINES, Clock


@pytest.fixture(autouse=True)
def dispose_engines() -> Iterator[None]:
    yield
    while ENGINES:
        ENGINES.pop().dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each test using this runs once per metadata + storage combination."""
    chosen = make_backend(request.param, tmp_path)
    yield chosen
    chosen.dispose()
