"""Drives and drive groups made by consumers, shared links, and an index for searching entry
names by substring (SQLite: an FTS5 trigram table kept by triggers; PostgreSQL: a pg_trgm GIN
index on lower(name), if the extension can be created).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from partway.metadata.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# entries has no INTEGER PRIMARY KEY, so its rowid is implicit; partway never VACUUMs (which
# may renumber implicit rowids), and searches re-check names against entries anyway.
SQLITE_INDEX = [
    "CREATE VIRTUAL TABLE entry_names USING fts5(name, tokenize='trigram')",
    "INSERT INTO entry_names(rowid, name) SELECT rowid, name FROM entries",
    "CREATE TRIGGER entry_names_insert AFTER INSERT ON entries BEGIN "
    "INSERT INTO entry_names(rowid, name) VALUES (new.rowid, new.name); END",
    "CREATE TRIGGER entry_names_delete AFTER DELETE ON entries BEGIN "
    "DELETE FROM entry_names WHERE rowid = old.rowid; END",
    "CREATE TRIGGER entry_names_rename AFTER UPDATE OF name ON entries BEGIN "
    "UPDATE entry_names SET name = new.name WHERE rowid = old.rowid; END",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS entry_names_insert",
    "DROP TRIGGER IF EXISTS entry_names_delete",
    "DROP TRIGGER IF EXISTS entry_names_rename",
    "DROP TABLE IF EXISTS entry_names",
]
PG_INDEX = "CREATE INDEX ix_entries_name_trgm ON entries USING gin (lower(name) gin_trgm_ops)"


def _tenant_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("app_id", sa.String(255), nullable=False),
        sa.Column("consumer_id", sa.String(255), nullable=False),
    ]


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "drives",
        *_tenant_columns(),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        *_stamps(),
    )
    op.create_index(
        "ix_drives_tenant_created", "drives", ["app_id", "consumer_id", "created_at", "id"]
    )
    op.create_table(
        "drive_groups",
        *_tenant_columns(),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("display_name", sa.String(1024), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_stamps(),
    )
    op.create_index(
        "ix_drive_groups_tenant_created",
        "drive_groups",
        ["app_id", "consumer_id", "created_at", "id"],
    )
    op.create_table(
        "shared_links",
        *_tenant_columns(),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("max_downloads", sa.BigInteger(), nullable=True),
        sa.Column("downloads", sa.BigInteger(), nullable=False, server_default="0"),
        *_stamps(),
    )
    op.create_index(
        "ix_shared_links_tenant_created",
        "shared_links",
        ["app_id", "consumer_id", "created_at", "id"],
    )
    op.create_index("ix_shared_links_target", "shared_links", ["target_id"])
    _create_name_index()


def _create_name_index() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_INDEX:
            op.execute(statement)
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Without
    # it, searches still work, by scanning the consumer's entries.
    try:
        with bind.begin_nested():
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            op.execute(PG_INDEX)
    except sa.exc.DBAPIError:
        pass


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DROP:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_entries_name_trgm")
    op.drop_table("shared_links")
    op.drop_table("drive_groups")
    op.drop_table("drives")
