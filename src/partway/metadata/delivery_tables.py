"""Tables of webhook delivery (issue #21): a cursor per endpoint over the outbox, one row
per (endpoint, event) to deliver, and the apps' subscriptions. Configured endpoints' URLs and
secrets are settings, never rows; a subscription's secret is stored sealed."""

from __future__ import annotations

import sqlalchemy as sa

from .schema import UTCDateTime, metadata

# How far each endpoint's deliveries have been made from the outbox (the last outbox id taken).
webhook_cursors = sa.Table(
    "webhook_cursors",
    metadata,
    sa.Column("endpoint", sa.String(64), primary_key=True),
    sa.Column("last_outbox_id", sa.BigInteger(), nullable=False),
)

# States: pending (to try, or being tried while claimed_until is ahead), delivered, dead.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("outbox_id", sa.BigInteger(), nullable=False),
    sa.Column("entity_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_until", UTCDateTime(), nullable=True),
    # After this no more tries: the delivery becomes a dead letter.
    sa.Column("deadline", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    # In order per entity: a delivery waits while an earlier one of its entity is pending.
    sa.Index("ix_webhook_deliveries_entity", "endpoint", "entity_id", "id"),
)

# An app's own endpoints (`partway webhooks subscribe`): the URL, the kinds wanted (a JSON list,
# empty for all) and the signing secret sealed with the data dir's key (webhooks/sealing.py),
# never in plaintext. Their cursors and deliveries are named by the subscription's id.
webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(255), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("events", sa.Text(), nullable=False),
    sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_webhook_subscriptions_app", "app_id"),
)
