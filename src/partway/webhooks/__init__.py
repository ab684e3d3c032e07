"""Delivering events over HTTP: Standard Webhooks signatures, the webhook worker, hook calls."""
