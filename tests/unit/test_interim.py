"""Interim responses' bytes (http/interim.py)."""

from __future__ import annotations

import pytest

from partway.http.interim import interim_head


def test_interim_head_is_a_status_line_and_fields() -> None:
    head = interim_head(104, "Upload Resumption Supported", {"Location": "http://h/uploads/x"})
    assert (
        head == b"HTTP/1.1 104 Upload Resumption Supported\r\nLocation: http://h/uploads/x\r\n\r\n"
    )


def test_a_line_break_in_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match="Location"):
        interim_head(104, "Upload Resumption Supported", {"Location": "x\r\nSet-Cookie: a=b"})
