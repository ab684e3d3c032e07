from __future__ import annotations

import time

import pytest

from partway.domain.errors import InvalidInput
from partway.http.json_input import MAX_DEPTH, load


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def refusal(raw: bytes | str) -> str:
    with pytest.raises(InvalidInput) as caught:
        load(raw, "request body")
    return caught.value.message


def test_depth_limit_is_exact() -> None:
    assert load(nested(MAX_DEPTH), "body") is not None
    assert "nested more than 64 levels" in refusal(nested(MAX_DEPTH + 1))
    wide = "[" + ",".join([nested(MAX_DEPTH - 1)] * 1000) + "]"
    assert len(load(wide, "body")) == 1000  # type: ignore[arg-type]


def test_brackets_inside_strings_do_not_nest() -> None:
    text = '{"a": "' + "[{" * 500 + '\\"[[[", "b": ["]]]"]}'
    assert load(text, "body") == {"a": "[{" * 500 + '"[[[', "b": ["]]]"]}


def test_deep_input_is_refused_quickly() -> None:
    started = time.perf_counter()
    for raw in (nested(100_000), "[" * 1_000_000, '{"a":' * 300_000):
        assert "nested" in refusal(raw)
    assert time.perf_counter() - started < 2


def test_lone_surrogates_are_refused_with_their_place() -> None:
    assert "body: a lone UTF-16 surrogate" in refusal('"\\ud800"')
    assert "name: a lone" in refusal('{"name": "a\\udfffb"}')
    assert "pass_through.0.service_id" in refusal('{"pass_through": [{"service_id": "\\uD800"}]}')
    assert "a key in pass_through.0" in refusal('{"pass_through": [{"\\udc00": 1}]}')
    assert "not UTF-8" in refusal(b'"\xed\xa0\x80"')  # U+D800 written as UTF-8 bytes


def test_whole_pairs_and_plain_text_pass() -> None:
    assert load('{"n": "\\ud83d\\ude00 \\\\ud800"}', "body") == {"n": "😀 \\ud800"}
    assert load("\ufeff{}".encode(), "body") == {}
    assert load('{"n": "ü"}'.encode(), "body") == {"n": "ü"}
    assert "not valid JSON" in refusal(b"{nope")
