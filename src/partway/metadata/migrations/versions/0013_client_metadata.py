"""What a tus client says of its file (issue #19): the session keeps its MIME type (`filetype`)
and its Upload-Metadata pairs across restarts, and the file keeps the MIME type.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload_sessions") as batch:
        batch.add_column(sa.Column("mime_type", sa.String(255), nullable=True))
        batch.add_column(sa.Column("client_metadata", sa.Text(), nullable=True))
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("mime_type", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("mime_type")
    with op.batch_alter_table("upload_sessions") as batch:
        batch.drop_column("client_metadata")
        batch.drop_column("mime_type")
