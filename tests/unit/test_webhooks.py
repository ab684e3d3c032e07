"""Webhook rules without a server: signatures the reference verifier accepts, backoff bounds,
the Apideck event shape, endpoint settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from partway.config import Settings
from partway.domain.events import OutboxRecord
from partway.domain.models import Tenant
from partway.domain.webhooks import Backoff, Delivery, event_body
from partway.webhooks.signing import signed_headers
from tests.e2e.webhook_receiver import SECRET


def test_signatures_pass_the_reference_verifier_and_fail_when_tampered() -> None:
    body = json.dumps({"payload": {"a": 1}}).encode()
    headers = signed_headers(SECRET, "msg_1", body)
    assert Webhook(SECRET).verify(body, headers) == {"payload": {"a": 1}}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    low = Backoff(timedelta(seconds=5), timedelta(hours=1), jitter=lambda: 0.0)
    high = Backoff(timedelta(seconds=5), timedelta(hours=1), jitter=lambda: 0.999999)
    assert low.delay(1) == timedelta(seconds=2.5)
    assert high.delay(3) <= timedelta(seconds=20)
    assert low.delay(3) == timedelta(seconds=10)
    assert high.delay(40) <= timedelta(hours=1)


def test_deliveries_are_retried_for_at_least_a_day_by_default() -> None:
    assert Settings().webhook_retry_window_seconds >= 24 * 3600


def test_event_body_is_apideck_shaped() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = OutboxRecord(7, "file.created", "file_1", Tenant("app", "c1"), at, {"size": 3})
    body = event_body(Delivery(1, "main", 2, at, record), "local")
    assert body == {
        "payload": {
            "event_type": "file-storage.file.created",
            "unified_api": "file-storage",
            "service_id": "local",
            "consumer_id": "c1",
            "entity_id": "file_1",
            "entity_type": "file",
            "execution_attempt": 2,
            "occurred_at": "2026-01-02T03:04:05Z",
        }
    }


@pytest.mark.parametrize(
    "endpoint",
    [
        {"url": "ftp://x", "secret": SECRET},
        {"url": "http://x", "secret": "plain"},
        {"url": "http://x", "secret": "whsec_c2hvcnQ="},
    ],
)
def test_bad_endpoints_stop_startup(endpoint: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings(webhooks={"main": endpoint})


def test_secrets_are_masked_in_the_shown_settings() -> None:
    shown = Settings(webhooks={"main": {"url": "http://x", "secret": SECRET}}).masked()
    assert shown["webhooks"]["main"]["secret"] == "***"
