"""The table of folder copies being built (migration 0007). Declared on schema.py's MetaData
(catalog.py imports this module), so the migrations test compares it too."""

from __future__ import annotations

import sqlalchemy as sa

from .schema import UTCDateTime, metadata

folder_copies = sa.Table(
    "folder_copies",
    metadata,
    # Also the hidden drive id of the copy's rows until it is published.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("consumer_id", sa.String(255), nullable=False),
    # Counted in the consumer's stored bytes from the start; uncounted if the copy is dropped.
    sa.Column("reserved_bytes", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    # The reaper looks for copies whose heartbeat stopped.
    sa.Index("ix_folder_copies_heartbeat", "heartbeat_at"),
)
