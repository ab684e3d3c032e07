"""The metadata + storage combinations every contract test runs against, on real servers.

PostgreSQL and the S3 server (Ceph RGW, or moto) come from `scripts/services up`; .ci/run starts
them and exports their addresses, and a developer's plain `pytest` starts them the same way on
demand.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg
import pytest

from tests.system import postgres_bin

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "partway-test"

# The keys of the S3 user scripts/rgw makes (moto takes any); real ones never come near the tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "partway-test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "partway-test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@functools.cache
def external() -> tuple[str, str]:
    """(PostgreSQL URL, S3 endpoint), starting the throwaway services if nobody did."""
    pg = os.environ.get("PARTWAY_TEST_POSTGRES_URL")
    s3 = os.environ.get("PARTWAY_TEST_S3_ENDPOINT")
    if not (pg and s3):
        postgres_bin()  # skips with the reason when PostgreSQL is not installed
        out = subprocess.run(
            [ROOT / "scripts" / "services", "up"], check=True, capture_output=True, text=True
        ).stdout
        exported = dict(
            line.removeprefix("export ").split("=", 1)
            for line in out.splitlines()
            if line.startswith("export ")
        )
        pg = exported["PARTWAY_TEST_POSTGRES_URL"]
        s3 = exported["PARTWAY_TEST_S3_ENDPOINT"]
        os.environ.update(PARTWAY_TEST_POSTGRES_URL=pg, PARTWAY_TEST_S3_ENDPOINT=s3)
    if not _bucket_exists(s3):
        s3_client(s3).create_bucket(Bucket=BUCKET)
    return pg, s3


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def _bucket_exists(endpoint: str) -> bool:
    names = [b["Name"] for b in s3_client(endpoint).list_buckets().get("Buckets", [])]
    return BUCKET in names


def azure_connection_string() -> str:
    """Azurite's connection string, from `scripts/services up` (started here if nobody did);
    skips where Azurite cannot run (no npm), unless CI requires every backend."""
    conn = os.environ.get("PARTWAY_TEST_AZURE_CONNECTION_STRING")
    if not conn:
        external()  # runs `scripts/services up` when the other services are not up either
        out = subprocess.run(
            [ROOT / "scripts" / "services", "up"], check=True, capture_output=True, text=True
        ).stdout
        for line in out.splitlines():
            if line.startswith("export PARTWAY_TEST_AZURE_CONNECTION_STRING="):
                conn = line.split("=", 1)[1].strip("'")
    if not conn:
        if os.environ.get("PARTWAY_TEST_REQUIRE_ALL"):
            raise RuntimeError("Azurite is not running (scripts/services up starts it)")
        pytest.skip("Azurite is not available (npm missing)")
    # The servers under test read their Azure credentials from here, like the AWS ones above.
    os.environ["PARTWAY_TEST_AZURE_CONNECTION_STRING"] = conn
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = conn
    return conn


def new_azure_url() -> tuple[str, dict[str, str]]:
    """An Azure storage URL under a prefix of its own in the test container, and the
    environment holding its credentials."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    conn = azure_connection_string()
    with (
        BlobServiceClient.from_connection_string(conn) as service,
        contextlib.suppress(ResourceExistsError),
    ):
        service.create_container(BUCKET)
    return f"azure://{BUCKET}/{secrets.token_hex(6)}", {"AZURE_STORAGE_CONNECTION_STRING": conn}


def new_database() -> str:
    """A fresh, empty PostgreSQL database; its URL."""
    pg, _ = external()
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    pg, _ = external()
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_s3_url() -> str:
    """An S3 storage URL under a prefix of its own in the test bucket."""
    _, endpoint = external()
    return f"s3://{BUCKET}/{secrets.token_hex(6)}?endpoint_url={endpoint}"


@functools.cache
def moto_endpoint() -> str:
    """A moto S3 server of this test run's own (a real HTTP server, stopped at exit), for what
    the S3 of record cannot show: RGW 16.2 keeps no full-object checksums."""
    import atexit
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = ROOT / ".venv" / "bin" / "moto_server"
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        with contextlib.suppress(Exception):
            s3_client(endpoint).create_bucket(Bucket=BUCKET)
            return endpoint
        time.sleep(0.05)
    raise RuntimeError(f"moto_server did not answer on {endpoint}")


def new_moto_url(options: str = "") -> str:
    """An S3 storage URL under a prefix of its own in the moto server's bucket."""
    return f"s3://{BUCKET}/{secrets.token_hex(6)}?endpoint_url={moto_endpoint()}{options}"


def s3_keys(url: str) -> set[str]:
    """Keys holding bytes under the URL's prefix: objects and unfinished multipart uploads."""
    _, endpoint = external()
    prefix = url.split("?", 1)[0].removeprefix(f"s3://{BUCKET}/") + "/"
    client = s3_client(endpoint)
    found = {
        o["Key"].removeprefix(prefix)
        for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    }
    uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
    return found | {u["Key"].removeprefix(prefix) for u in uploads}


def azure_keys(url: str) -> set[str]:
    """Blobs under the URL's prefix, unfinished ones (the empty blob naming a handle) included."""
    from azure.storage.blob import BlobServiceClient

    prefix = url.removeprefix(f"azure://{BUCKET}/") + "/"
    with BlobServiceClient.from_connection_string(azure_connection_string()) as service:
        blobs = service.get_container_client(BUCKET).list_blobs(name_starts_with=prefix)
        return {b.name.removeprefix(prefix) for b in blobs}


@dataclass(frozen=True)
class Backend:
    """One metadata store + one storage backend, as `Settings` overrides."""

    name: str
    service_id: str
    data_dir: Path
    database_url: str | None
    storage_url: str

    def settings_overrides(self) -> dict[str, object]:
        values: dict[str, object] = {
            "data_dir": self.data_dir,
            "storage": {self.service_id: self.storage_url},
            "default_service": self.service_id,
        }
        if self.database_url:
            values["database_url"] = self.database_url
        return values

    def env(self) -> dict[str, str]:
        """The same, as environment variables for a `partway serve` process."""
        values = {
            "PARTWAY_DATA_DIR": str(self.data_dir),
            "PARTWAY_STORAGE": json.dumps({self.service_id: self.storage_url}),
            "PARTWAY_DEFAULT_SERVICE": self.service_id,
        }
        if self.database_url:
            values["PARTWAY_DATABASE_URL"] = self.database_url
        return values

    def stored_keys(self) -> set[str]:
        if self.storage_url.startswith("s3://"):
            return s3_keys(self.storage_url)
        if self.storage_url.startswith("azure://"):
            return azure_keys(self.storage_url)
        return set(os.listdir(Path(self.storage_url) / "objects"))

    def dispose(self) -> None:
        if self.database_url:
            drop_database(self.database_url)


def make_backend(name: str, tmp: Path) -> Backend:
    data_dir = tmp / "data"
    if name == "local+sqlite":
        return Backend(name, "local", data_dir, None, str(data_dir))
    if name == "s3+postgres":
        return Backend(name, "s3", data_dir, new_database(), new_s3_url())
    if name == "azure+postgres":
        return Backend(name, "azure", data_dir, new_database(), new_azure_url()[0])
    raise ValueError(name)


BACKENDS = ["local+sqlite", "s3+postgres", "azure+postgres"]
