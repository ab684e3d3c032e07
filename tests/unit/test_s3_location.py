"""Parsing S3 storage URLs from the configuration."""

from __future__ import annotations

import pytest

from partway.storage.s3 import S3Location


def test_bucket_prefix_endpoint_and_credentials() -> None:
    where = S3Location.parse(
        "s3://AKIA:se%2Fcret@my-bucket/uploads/partway?endpoint_url=http://127.0.0.1:9000"
        "&region=eu-west-1"
    )
    assert (where.bucket, where.prefix) == ("my-bucket", "uploads/partway/")
    assert (where.endpoint_url, where.region) == ("http://127.0.0.1:9000", "eu-west-1")
    assert (where.access_key, where.secret_key) == ("AKIA", "se/cret")
    assert where.addressing_style == "path"  # custom endpoints rarely do virtual hosts


def test_plain_bucket_uses_the_aws_defaults() -> None:
    where = S3Location.parse("s3://bucket")
    assert (where.prefix, where.endpoint_url, where.access_key) == ("", None, None)
    assert where.addressing_style == "auto"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3:///prefix", "looks like"),
        ("http://bucket/prefix", "looks like"),
        ("s3://bucket?endpoint=http://x", "unknown S3 storage option"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S3Location.parse(url)
