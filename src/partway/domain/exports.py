"""Formats a file can be exported to: its own bytes, under its own media type. partway converts
nothing it cannot convert faithfully (no well-kept converter is a dependency), so that is the
one format offered."""

from __future__ import annotations

import mimetypes

from .errors import InvalidInput
from .models import Entry

DEFAULT_TYPE = "application/octet-stream"


def media_type_of(entry: Entry) -> str:
    """The type the uploader gave the file (tus `filetype`), else the one its name suggests."""
    return entry.mime_type or mimetypes.guess_type(entry.name)[0] or DEFAULT_TYPE


def export_formats(entry: Entry) -> list[str]:
    return [media_type_of(entry)]


def check_format(entry: Entry, wanted: str | None) -> str:
    """The offered format `wanted` names, as a media type or a file extension (`pdf`)."""
    offered = export_formats(entry)
    if wanted:
        text = wanted.strip().lower()
        for media in offered:
            extensions = [*mimetypes.guess_all_extensions(media), media.rpartition("/")[2]]
            if text == media or text.lstrip(".") in (e.lstrip(".") for e in extensions):
                return media
    raise InvalidInput(
        f"format {wanted!r} is not offered for this file; offered: {', '.join(offered)}",
        {"offered": offered},
    )
