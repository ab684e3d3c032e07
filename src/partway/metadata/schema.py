"""Tables of the metadata store. Migrations under migrations/ must produce exactly this."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("key_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

sessions = sa.Table(
    "upload_sessions",
    metadata,
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
    sa.Column("storage_handle", sa.String(1024), nullable=False, server_default=""),
    # What the client said of the file (tus `filetype`, Upload-Metadata as a JSON object).
    sa.Column("mime_type", sa.String(255), nullable=True),
    sa.Column("client_metadata", sa.Text(), nullable=True),
    sa.Column("direct", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("ix_upload_sessions_expires_at", "expires_at"),
    # A page of a consumer's sessions, oldest first, starts at its cursor: no sort of them all.
    sa.Index("ix_upload_sessions_tenant_created", "app_id", "consumer_id", "created_at", "id"),
    # A retried create (its first answer lost) finds the session it already made.
    sa.Index(
        "ux_upload_sessions_idempotency",
        "app_id",
        "consumer_id",
        "idempotency_key",
        unique=True,
    ),
    # An open upload reserves its name in the folder, so a clash is refused before bytes arrive.
    sa.Index(
        "ux_upload_sessions_open_name",
        "app_id",
        "consumer_id",
        "drive_id",
        "folder_id",
        "name",
        unique=True,
        sqlite_where=sa.text("state IN ('open', 'finishing')"),
        postgresql_where=sa.text("state IN ('open', 'finishing')"),
    ),
)

# The byte ranges a session received, keyed by where each starts (Apideck part n starts at
# n × part_size; a later front may append anywhere).
ranges = sa.Table(
    "upload_ranges",
    metadata,
    sa.Column(
        "session_id",
        sa.String(64),
        sa.ForeignKey("upload_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("start", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha1", sa.String(40), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("tag", sa.String(255), nullable=True),
    sa.Column("crc32c", sa.String(8), nullable=True),
)

# What a client of a direct session said a part would hold when it asked for its URL (hex MD5
# and CRC32C): finish checks the store's account of the part against it.
direct_claims = sa.Table(
    "direct_claims",
    metadata,
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

entries = sa.Table(
    "entries",
    metadata,
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
    sa.Column("crc32c", sa.String(8), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=True),  # None: guessed from the name
    sa.UniqueConstraint(
        "app_id", "consumer_id", "drive_id", "parent_id", "name", name="uq_entries_name"
    ),
)

quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("app_id", sa.String(255), primary_key=True),
    sa.Column("consumer_id", sa.String(255), primary_key=True),
    sa.Column("max_bytes", sa.BigInteger(), nullable=False),
)

# What admission checks, per consumer, kept by the same transactions that open and close
# sessions and add and remove files: a create reads one row, whatever the consumer holds
# (counting its open sessions took 2.9 ms at 0 and 12.3 ms at 20,000).
tenant_usage = sa.Table(
    "tenant_usage",
    metadata,
    sa.Column("app_id", sa.String(255), primary_key=True),
    sa.Column("consumer_id", sa.String(255), primary_key=True),
    # Sessions open or finishing.
    sa.Column("open_sessions", sa.Integer(), nullable=False),
    # Their declared sizes, or what they hold when the size is unknown.
    sa.Column("reserved_bytes", sa.BigInteger(), nullable=False),
    # Sizes of the consumer's files.
    sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
)

# Events that must not be lost, each written by the transaction that made the change it tells
# of; delivery (webhooks) reads them in id order.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: the rowid, increasing
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("consumer_id", sa.String(255), nullable=False),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
)


# Drives, drive groups and shared links live in a module of their own, on this MetaData.
from . import catalog as catalog  # noqa: E402
from . import delivery_tables as delivery_tables  # noqa: E402
