"""The S3 rows' store: a moto server of the bench's own, and uploads straight into it."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from .client import PART
from .measure import Server, start

BUCKET = "bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
os.environ.update(CREDENTIALS)


def start_moto(log: Path) -> Server:
    moto = Path(sys.executable).parent / "moto_server"
    server = start([str(moto), "-H", "127.0.0.1", "-p", "{port}"], log=log)
    client(server.url).create_bucket(Bucket=BUCKET)
    return server


def client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def storage_url(endpoint: str, prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}?endpoint_url={endpoint}"


def presigned_plan(endpoint: str, key: str, size: int, plan: Path) -> None:
    """Start a multipart upload; write the presigned paths of its parts and of its completion."""
    s3 = client(endpoint)
    upload_id: str = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    where = {"Bucket": BUCKET, "Key": key, "UploadId": upload_id}

    def path(operation: str, **params: Any) -> str:
        url = s3.generate_presigned_url(operation, Params={**where, **params}, ExpiresIn=3600)
        split = urlsplit(url)
        return f"{split.path}?{split.query}"

    parts = [path("upload_part", PartNumber=n + 1) for n in range(max(1, -(-size // PART)))]
    plan.write_text(json.dumps({"parts": parts, "complete": path("complete_multipart_upload")}))


def hash_and_delete(endpoint: str, key: str) -> str:
    """The stored object's SHA-256; then it is deleted."""
    s3 = client(endpoint)
    digest = hashlib.sha256()
    for block in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(8 * 1024 * 1024):
        digest.update(block)
    s3.delete_object(Bucket=BUCKET, Key=key)
    return digest.hexdigest()
