"""The start-up check of the uvicorn internals partway's HTTP protocol relies on."""

from __future__ import annotations

import importlib.metadata

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from partway import serve
from partway.config import Settings
from partway.http import server
from partway.http.fast_path import fast_path_problem
from partway.http.pump import BodyPump
from partway.http.server import Edge, EdgeLimits
from partway.metrics import Metrics


def edge() -> Edge:
    return Edge(EdgeLimits(), BodyPump(1), Metrics())


def test_the_installed_uvicorn_passes() -> None:
    assert fast_path_problem() is None
    assert issubclass(serve.http_protocol(Settings(), edge()), server.EdgeProtocol)


def test_a_uvicorn_outside_the_tested_range_means_the_stock_protocol(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.99.0")
    assert "outside the tested range" in (fast_path_problem() or "")
    assert serve.http_protocol(Settings(), edge()) == "auto"


def test_a_missing_hook_means_the_stock_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(HttpToolsProtocol, "on_body")
    assert "on_body" in (fast_path_problem() or "")
    assert serve.http_protocol(Settings(), edge()) == "auto"


def test_stock_can_be_asked_for() -> None:
    assert serve.http_protocol(Settings(http_protocol="stock"), edge()) == "auto"
