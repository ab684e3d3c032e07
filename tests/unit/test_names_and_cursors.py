from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from partway.domain.errors import InvalidInput, RangeNotSatisfiable
from partway.domain.files import resolve_range
from partway.domain.names import check_name
from partway.domain.paging import After, after_cursor, cursor_after, cursor_offset, offset_cursor
from partway.http.params import select_fields


@pytest.mark.parametrize("name", ["report.pdf", "ünïcødé ✓.txt", "a b", ".hidden", "..."])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", " ", ".", "..", "a/b", "../x", "a\\b", "tab\t", "x" * 256, "\ud800"]
)
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name)


def test_names_are_kept_in_nfc() -> None:
    assert check_name("cafe\u0301.txt") == "caf\u00e9.txt"
    assert check_name("\u212b") == "\u00c5"  # ANGSTROM SIGN is a spelling of Å
    assert check_name("ﬁ") == "ﬁ"  # a compatibility ligature is left as is (NFC, not NFKC)
    assert check_name("e\u0301" * 127) == "\u00e9" * 127  # 254 bytes once composed


@pytest.mark.parametrize(
    "char", ["\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2067", "\u200f", "\u0085", "\x7f"]
)
def test_invisible_and_control_characters_are_named(char: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_name(f"a{char}b")
    assert f"U+{ord(char):04X}" in caught.value.message


def test_cursor_round_trip_and_junk() -> None:
    assert cursor_offset(offset_cursor(40)) == 40
    assert cursor_offset(None) == 0
    forged = [base64.urlsafe_b64encode(f"o:{n}".encode()).decode() for n in ["+1", "²", "9" * 20]]
    for junk in ["x", "!!", "é", "bzotMQ", *forged]:  # "bzotMQ" is "o:-1"
        with pytest.raises(InvalidInput):
            cursor_offset(junk)


def test_position_cursor_round_trip_and_junk() -> None:
    after = After(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "ses_0123abcd")
    assert cursor_after(after_cursor(after)) == after
    assert cursor_after(None) is None
    for junk in ["x", "!!", offset_cursor(3)]:
        with pytest.raises(InvalidInput):
            cursor_after(junk)
    naive = After(datetime(2026, 1, 2), "ses_1")
    no_id = After(datetime(2026, 1, 2, tzinfo=UTC), "")
    for bad in [naive, no_id]:
        with pytest.raises(InvalidInput):
            cursor_after(after_cursor(bad))
    with pytest.raises(InvalidInput):
        cursor_offset(after_cursor(after))  # each listing reads only its own kind


def test_ranges() -> None:
    assert resolve_range(None, 10) == (0, 10)
    assert resolve_range((2, 4), 10) == (2, 5)
    assert resolve_range((2, None), 10) == (2, 10)
    assert resolve_range((None, 3), 10) == (7, 10)
    assert resolve_range((5, 100), 10) == (5, 10)
    for bad in [(10, None), (None, 0)]:
        with pytest.raises(RangeNotSatisfiable):
            resolve_range(bad, 10)


def test_select_fields_with_dot_notation() -> None:
    data = {"id": "1", "a": {"b": 1, "c": 2}, "list": [{"x": 1, "y": 2}]}
    assert select_fields(data, "id,a.b,list.y") == {"id": "1", "a": {"b": 1}, "list": [{"y": 2}]}
    assert select_fields(data, None) == data
    assert select_fields([data], "id") == [{"id": "1"}]
