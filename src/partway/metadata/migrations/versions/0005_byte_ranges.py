"""Parts become byte ranges, and an outbox for durable events.

Parts become byte ranges: `upload_parts` (keyed by Apideck part number) is replaced by
`upload_ranges` (keyed by the byte a range starts at, number × part_size), so fronts other than
Apideck's can write at any offset. Open sessions stay resumable: their parts are their ranges.

The outbox table holds events that must not be lost (file created or deleted, session created,
aborted or expired), each written in the transaction of its change.

Run it with the old servers stopped: one still running would write to the dropped table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from partway.metadata.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TO_RANGES = """
INSERT INTO upload_ranges (session_id, start, size, sha1, sha256, recorded_at, tag)
SELECT p.session_id, p.number * s.part_size, p.size, p.sha1, p.sha256, p.recorded_at, p.tag
FROM upload_parts p JOIN upload_sessions s ON s.id = p.session_id
"""

# Every range of a session the old code wrote sits on its part grid, so this is exact.
TO_PARTS = """
INSERT INTO upload_parts (session_id, number, size, sha1, sha256, recorded_at, tag)
SELECT r.session_id, r.start / s.part_size, r.size, r.sha1, r.sha256, r.recorded_at, r.tag
FROM upload_ranges r JOIN upload_sessions s ON s.id = r.session_id
"""


def _session_id() -> sa.Column[str]:
    return sa.Column(
        "session_id",
        sa.String(64),
        sa.ForeignKey("upload_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    )


def _fields() -> list[sa.Column[object]]:
    return [
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("tag", sa.String(255), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "upload_ranges",
        _session_id(),
        sa.Column("start", sa.BigInteger(), primary_key=True, autoincrement=False),
        *_fields(),
    )
    op.execute(TO_RANGES)
    op.drop_table("upload_parts")
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("app_id", sa.String(255), nullable=False),
        sa.Column("consumer_id", sa.String(255), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.create_table(
        "upload_parts",
        _session_id(),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        *_fields(),
    )
    op.execute(TO_PARTS)
    op.drop_table("upload_ranges")
