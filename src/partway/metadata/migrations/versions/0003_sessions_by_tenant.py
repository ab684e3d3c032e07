"""An index for the sessions list: a consumer's sessions by creation time, then id.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_upload_sessions_tenant_created",
        "upload_sessions",
        ["app_id", "consumer_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_upload_sessions_tenant_created", "upload_sessions")
