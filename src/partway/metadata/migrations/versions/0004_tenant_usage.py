"""Usage counters per consumer (open sessions, reserved and stored bytes), counted from the rows
once here and kept up to date by every write after, so admission stops summing rows.

Run it with the old servers stopped: one still running would move sessions without moving
the counters.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What the counters stand for, summed from the rows as admission used to sum them.
BACKFILL = """
INSERT INTO tenant_usage (app_id, consumer_id, open_sessions, reserved_bytes, stored_bytes)
SELECT app_id, consumer_id, SUM(open_sessions), SUM(reserved_bytes), SUM(stored_bytes)
FROM (
    SELECT s.app_id, s.consumer_id, 1 AS open_sessions,
           COALESCE(s.size, (SELECT COALESCE(SUM(p.size), 0) FROM upload_parts p
                             WHERE p.session_id = s.id)) AS reserved_bytes,
           0 AS stored_bytes
    FROM upload_sessions s
    WHERE s.state IN ('open', 'finishing')
    UNION ALL
    SELECT e.app_id, e.consumer_id, 0, 0, COALESCE(e.size, 0)
    FROM entries e
    WHERE e.kind = 'file'
) AS counted
GROUP BY app_id, consumer_id
"""


def upgrade() -> None:
    op.create_table(
        "tenant_usage",
        sa.Column("app_id", sa.String(255), primary_key=True),
        sa.Column("consumer_id", sa.String(255), primary_key=True),
        sa.Column("open_sessions", sa.Integer(), nullable=False),
        sa.Column("reserved_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("tenant_usage")
