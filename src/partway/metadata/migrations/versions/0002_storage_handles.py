"""Object-store bookkeeping: the unfinished object's handle per session, a receipt per part.

S3 needs both: the multipart upload id to add parts to, and each part's ETag to complete it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table in every way; Alembic copies it when it must.
    with op.batch_alter_table("upload_sessions") as batch:
        batch.add_column(
            sa.Column("storage_handle", sa.String(1024), nullable=False, server_default="")
        )
    with op.batch_alter_table("upload_parts") as batch:
        batch.add_column(sa.Column("tag", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload_parts") as batch:
        batch.drop_column("tag")
    with op.batch_alter_table("upload_sessions") as batch:
        batch.drop_column("storage_handle")
