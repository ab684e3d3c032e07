"""Tables of consumer-made drives, drive groups and shared links (issue #18).

Declared on the same MetaData as schema.py (which imports this module at its end), so the
migrations test compares them too.
"""

from __future__ import annotations

import sqlalchemy as sa

from .schema import UTCDateTime, metadata

drives = sa.Table(
    "drives",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("consumer_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # A consumer's drives in the order they were made: one index range per page.
    sa.Index("ix_drives_tenant_created", "app_id", "consumer_id", "created_at", "id"),
)

drive_groups = sa.Table(
    "drive_groups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("consumer_id", sa.String(255), nullable=False),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("display_name", sa.String(1024), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_drive_groups_tenant_created", "app_id", "consumer_id", "created_at", "id"),
)

shared_links = sa.Table(
    "shared_links",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("consumer_id", sa.String(255), nullable=False),
    sa.Column("target_id", sa.String(64), nullable=False),
    sa.Column("scope", sa.String(16), nullable=True),
    # The link's token is HMAC(server secret, id:salt): the row alone makes no working link.
    sa.Column("salt", sa.String(64), nullable=False),
    # scrypt of the password, with its own salt ("scrypt$<salt hex>$<hash hex>").
    sa.Column("password_hash", sa.String(255), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("max_downloads", sa.BigInteger(), nullable=True),
    sa.Column("downloads", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_shared_links_tenant_created", "app_id", "consumer_id", "created_at", "id"),
    # filter[shared] and the cleanup when a file or folder is deleted look links up by target.
    sa.Index("ix_shared_links_target", "target_id"),
)


# The search index of migration 0006: on SQLite an FTS5 table and the shadow tables FTS5 keeps
# for it, on PostgreSQL a pg_trgm expression index. Made by raw SQL, not declared above, they
# are left out of schema comparisons.
FTS_TABLE = "entry_names"
TRIGRAM_INDEX = "ix_entries_name_trgm"


def declared(name: str | None, type_: str, parent_names: object) -> bool:
    """For alembic's include_name: False for the search index's own objects."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FTS_TABLE)
    return not (type_ == "index" and name == TRIGRAM_INDEX)


# Folder copies in progress (migration 0007), on the same MetaData.
from . import copy_table as copy_table  # noqa: E402
