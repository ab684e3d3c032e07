"""The CORS rule a store needs for browsers to PUT direct parts into it (`partway storage cors`).

A direct part goes from the page straight to the store, so the store, not partway, must allow
the page's origin: PUT, any request header (the signed URL is the credential; a claimed MD5
travels as Content-MD5), and the ETag header exposed (Uppy's S3 plugin reads each part's).
partway sets the rule itself because it already holds the store's address and keys, and knows
what its URLs need; an operator's hand-written rule was the step most likely to go wrong.

partway keeps one rule next to the store's other rules, and each run replaces it: name every
origin in one run. On S3 it is the bucket's rule with ID `partway-direct`; on Azure, where rules
have no ID and apply to the whole account's Blob service (every container), the rule of exactly
its shape (PUT, any header, ETag exposed, an hour's preflight cache).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

RULE_ID = "partway-direct"
MAX_AGE_SECONDS = 3600


@dataclass(frozen=True)
class CorsResult:
    """What was set: the store's description and how many rules it now has."""

    where: str
    rules: int


def check_origins(origins: Sequence[str]) -> list[str]:
    """Origins as browsers send them (`scheme://host[:port]`, no path), or ValueError."""
    if not origins:
        raise ValueError("name at least one origin (--origin https://app.example)")
    checked = []
    for origin in origins:
        parsed = urlparse(origin)
        plain = parsed.scheme in ("http", "https") and parsed.netloc and not parsed.path.strip("/")
        if origin != "*" and not (plain and not parsed.query):
            raise ValueError(f"an origin looks like https://app.example[:port], not {origin!r}")
        checked.append(origin.rstrip("/"))
    return checked


async def allow_direct_puts(url: str, origins: Sequence[str], env: Mapping[str, str]) -> CorsResult:
    """Set the rule on the store of a storage URL (S3 bucket or Azure account); ValueError for a
    store that needs none (local disk: partway serves the part URLs itself)."""
    scheme = urlparse(url).scheme
    if scheme == "s3":
        return await _s3(url, check_origins(origins))
    if scheme == "azure":
        return await _azure(url, check_origins(origins), env)
    raise ValueError(
        "only S3 and Azure stores take direct parts from browsers; on local disk "
        "partway serves the part URLs itself (PARTWAY_CORS_ORIGINS)"
    )


async def _s3(url: str, origins: list[str]) -> CorsResult:
    from aiobotocore.session import get_session
    from botocore.exceptions import ClientError

    from .s3 import S3Location

    where = S3Location.parse(url)
    rule = {
        "ID": RULE_ID,
        "AllowedOrigins": origins,
        "AllowedMethods": ["PUT"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": MAX_AGE_SECONDS,
    }
    async with get_session().create_client(
        "s3",
        endpoint_url=where.endpoint_url,
        region_name=where.region,
        aws_access_key_id=where.access_key,
        aws_secret_access_key=where.secret_key,
    ) as s3:
        try:
            current = (await s3.get_bucket_cors(Bucket=where.bucket))["CORSRules"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
                raise
            current = []
        rules = [r for r in current if r.get("ID") != RULE_ID] + [rule]
        await s3.put_bucket_cors(
            Bucket=where.bucket,
            CORSConfiguration={"CORSRules": rules},  # type: ignore[typeddict-item]
        )
    return CorsResult(f"bucket {where.bucket}", len(rules))


async def _azure(url: str, origins: list[str], env: Mapping[str, str]) -> CorsResult:
    from azure.storage.blob import CorsRule
    from azure.storage.blob.aio import BlobServiceClient

    from .azure import AzureLocation

    where = AzureLocation.parse(url, env)
    credential = {"account_name": where.account_name, "account_key": where.account_key}
    ours = CorsRule(
        allowed_origins=origins,
        allowed_methods=["PUT"],
        allowed_headers=["*"],
        exposed_headers=["etag"],
        max_age_in_seconds=MAX_AGE_SECONDS,
    )
    async with BlobServiceClient(where.account_url, credential=credential) as service:
        current = (await service.get_service_properties()).get("cors") or []
        rules = [r for r in current if not _partways(r)] + [ours]
        await service.set_service_properties(cors=rules)
    return CorsResult(f"account {where.account_name} (every container)", len(rules))


def _partways(rule: Any) -> bool:
    """Whether an Azure rule is the one this module sets (rules come back with their lists
    joined by commas)."""
    shape = (rule.allowed_methods, rule.allowed_headers, rule.exposed_headers)
    return shape == ("PUT", "*", "etag") and rule.max_age_in_seconds == MAX_AGE_SECONDS
