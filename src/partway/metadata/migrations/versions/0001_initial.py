"""Initial schema: API keys, upload sessions and parts, entries.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from partway.metadata.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(255), nullable=False),
        sa.Column("consumer_id", sa.String(255), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("drive_id", sa.String(64), nullable=False),
        sa.Column("folder_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("storage_key", sa.String(128), nullable=False),
        sa.Column("file_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
    )
    op.create_index("ix_upload_sessions_expires_at", "upload_sessions", ["expires_at"])
    op.create_index(
        "ux_upload_sessions_idempotency",
        "upload_sessions",
        ["app_id", "consumer_id", "idempotency_key"],
        unique=True,
    )
    op.create_index(
        "ux_upload_sessions_open_name",
        "upload_sessions",
        ["app_id", "consumer_id", "drive_id", "folder_id", "name"],
        unique=True,
        sqlite_where=sa.text("state IN ('open', 'finishing')"),
        postgresql_where=sa.text("state IN ('open', 'finishing')"),
    )
    op.create_table(
        "upload_parts",
        sa.Column(
            "session_id",
            sa.String(64),
            sa.ForeignKey("upload_sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(255), nullable=False),
        sa.Column("consumer_id", sa.String(255), nullable=False),
        sa.Column("drive_id", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("service_id", sa.String(64), nullable=True),
        sa.Column("storage_key", sa.String(128), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sha1", sa.String(40), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "app_id", "consumer_id", "drive_id", "parent_id", "name", name="uq_entries_name"
        ),
    )
    op.create_table(
        "quotas",
        sa.Column("app_id", sa.String(255), primary_key=True),
        sa.Column("consumer_id", sa.String(255), primary_key=True),
        sa.Column("max_bytes", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quotas")
    op.drop_table("entries")
    op.drop_table("upload_parts")
    op.drop_index("ux_upload_sessions_open_name", "upload_sessions")
    op.drop_index("ux_upload_sessions_idempotency", "upload_sessions")
    op.drop_index("ix_upload_sessions_expires_at", "upload_sessions")
    op.drop_table("upload_sessions")
    op.drop_table("api_keys")
