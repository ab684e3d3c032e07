"""CRC32C of each received range and of each file (issue #22): the file's is combined from its
ranges' at finish, so checking it never reads the file.

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload_ranges") as batch:
        batch.add_column(sa.Column("crc32c", sa.String(8), nullable=True))
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("crc32c", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("crc32c")
    with op.batch_alter_table("upload_ranges") as batch:
        batch.drop_column("crc32c")
