"""Parsing of query parameters, headers and JSON bodies into plain values (400 on anything odd)."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ..domain.errors import InvalidInput
from ..domain.paging import DEFAULT_PAGE
from ..wire import MAX_PAGE
from . import json_input
from .pump import pace_for, paced

M = TypeVar("M", bound=BaseModel)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}
_RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
# str.isdigit() takes '²', which int() refuses; int() and \d take '١' (ARABIC-INDIC DIGIT ONE);
# int() refuses more than 4,300 digits. Numbers from clients are ASCII digits, no more than fit
# the signed 64-bit columns they end up in.
_MAX_DIGITS = 18
_WHOLE = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}")
_PAST_ANY_END = 10**_MAX_DIGITS


def flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidInput(f"query parameter {name} must be true or false")


def page_limit(request: Request) -> int:
    """`limit` of a listing; its range is the domain's to check."""
    raw = request.query_params.get("limit", str(DEFAULT_PAGE))
    return whole_number(raw, f"limit must be a whole number between 1 and {MAX_PAGE}")


def part_number(request: Request) -> int:
    """`0`, `3`, `3.0` (the SDK sends floats); 2.5, negatives and junk are refused."""
    raw = request.query_params.get("part_number")
    if raw is None:
        raise InvalidInput("query parameter part_number is required")
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"part_number {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise InvalidInput(f"part_number {raw!r} must be a whole number ≥ 0")
    return int(value)


def whole_number(raw: str, problem: str) -> int:
    """A whole number ≥ 0 in ASCII digits, at most 18 of them; else `InvalidInput(problem)`."""
    text = raw.strip()
    if not _WHOLE.fullmatch(text):
        raise InvalidInput(problem)
    return int(text)


def content_length(request: Request) -> int | None:
    values = request.headers.getlist("content-length")
    if not values:
        return None
    if len(set(values)) != 1:
        raise InvalidInput("Content-Length header is malformed")
    return whole_number(values[0], "Content-Length header is malformed")


def byte_range(request: Request) -> tuple[int | None, int | None] | None:
    """A single `bytes=` range; anything else is ignored and the whole file is sent (RFC 9110).

    Also ignored: a Range sent twice (which one a proxy saw is anyone's guess), and any Range
    with If-Range: partway issues no ETag or Last-Modified, so no If-Range can match, and a
    client splicing a range onto bytes it holds must get the whole file (RFC 9110 §13.1.5)."""
    headers = request.headers.getlist("range")
    if len(headers) != 1 or "if-range" in request.headers:
        return None
    match = _RANGE.match(headers[0].strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first = _position(match.group(1))
    last = _position(match.group(2))
    if first is not None and last is not None and last < first:
        return None
    return first, last


def _position(digits: str) -> int | None:
    """A byte position of a range; one too long to read is past the end of any file."""
    if not digits:
        return None
    return int(digits) if len(digits) <= _MAX_DIGITS else _PAST_ANY_END


def validation_detail(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


def parse_model(model: type[M], raw: bytes | str, what: str = "request body") -> M:
    data = json_input.load(raw, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = validation_detail(exc)
        first = problems[0]
        raise InvalidInput(
            f"{what} is invalid: {first['field']}: {first['problem']}", {"errors": problems}
        ) from None


def body_stream(request: Request) -> AsyncIterator[bytes]:
    """The request body through ASGI under the same deadlines as a part body taken from the
    socket: a trickled body of any route must not hold its connection (pump.paced)."""
    return paced(request.stream(), pace_for(request.app.state.services.settings))


async def json_body(request: Request, model: type[M], limit: int = 1024 * 1024) -> M:
    length = content_length(request)
    if length is not None and length > limit:
        raise InvalidInput(f"request body is larger than {limit} bytes")
    body = b""
    async for chunk in body_stream(request):
        body += chunk
        if len(body) > limit:
            raise InvalidInput(f"request body is larger than {limit} bytes")
    return parse_model(model, body or b"{}")


def select_fields(data: object, spec: str | None) -> object:
    """Apply the `fields` allow-list (comma-separated, dot notation for nested keys)."""
    if not spec:
        return data
    paths = [p.strip().split(".") for p in spec.split(",") if p.strip()]
    return _pick(data, paths) if paths else data


def _pick(data: object, paths: list[list[str]]) -> object:
    if isinstance(data, list):
        return [_pick(item, paths) for item in data]
    if not isinstance(data, dict):
        return data
    picked: dict[str, object] = {}
    for key, value in data.items():
        below = [p[1:] for p in paths if p[0] == key]
        if not below:
            continue
        picked[key] = value if any(not p for p in below) else _pick(value, below)
    return picked
