"""Folder copies in progress: each one's hidden rows, counted bytes and heartbeat, so a copy
whose process died can be found and dropped.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from partway.metadata.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "folder_copies",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(255), nullable=False),
        sa.Column("consumer_id", sa.String(255), nullable=False),
        sa.Column("reserved_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_folder_copies_heartbeat", "folder_copies", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_table("folder_copies")
