"""Upload metadata (issue #21): string pairs a session carries (tus Upload-Metadata, or what a
pre-create hook set) and its file keeps, as JSON; NULL when there are none.

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("upload_sessions", "entries"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("user_metadata", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ("entries", "upload_sessions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("user_metadata")
