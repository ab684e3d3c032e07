"""Direct sessions chosen at create (issue #20): a flag per session, and the checksums a client
said each direct part would hold, which finish checks against the store's account.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE ADD COLUMN, not batch mode: SQLite would copy the table, and dropping
    # the old copy deletes every upload_ranges row through its ON DELETE CASCADE.
    op.add_column(
        "upload_sessions",
        sa.Column("direct", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "direct_claims",
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("upload_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("start", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("md5", sa.String(32), nullable=True),
        sa.Column("crc32c", sa.String(8), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("direct_claims")
    # DROP COLUMN in place (SQLite 3.35+), for the same reason as the upgrade's ADD COLUMN.
    op.execute("ALTER TABLE upload_sessions DROP COLUMN direct")
