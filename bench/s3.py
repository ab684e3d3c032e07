"""The S3 rows' store: a Ceph RGW cluster of the bench's own (scripts/rgw) where Ceph is
installed, else a moto server (PARTWAY_BENCH_S3=moto forces it); and uploads straight into it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import psutil

from .client import PART
from .measure import Server, free_port, start

BUCKET = "bench"
# The keys scripts/rgw gives its S3 user; moto takes any.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "partway-test", "AWS_SECRET_ACCESS_KEY": "partway-test"}
os.environ.update(CREDENTIALS)
ROOT = Path(__file__).resolve().parent.parent


def store_kind() -> str:
    default = "rgw" if shutil.which("radosgw") else "moto"
    return os.environ.get("PARTWAY_BENCH_S3", default)


@dataclass
class RgwStore:
    """A Ceph cluster measured as one server: CPU and peak RSS are the sums over the OSD
    (which holds the bytes, in memory) and RGW (which speaks S3)."""

    dir: Path
    port: int
    # False for the cluster of `scripts/services up`, which the bench uses but does not stop.
    owned: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _procs(self) -> list[psutil.Process]:
        pids = [self.dir / "run" / f"{name}.pid" for name in ("osd.0", "client.rgw.gw")]
        return [psutil.Process(int(p.read_text())) for p in pids if p.exists()]

    def cpu(self) -> float:
        return sum(float(t.user + t.system) for t in (p.cpu_times() for p in self._procs()))

    def peak_rss(self) -> int:
        total = 0
        for proc in self._procs():
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        return total

    def collect_garbage(self) -> None:
        """Free the memstore of deleted objects now: RGW hands a deleted multipart object's
        pieces to its garbage collector, which waits hours by default, so a run of several
        hundred MiB uploads would otherwise fill the OSD's memory cap."""
        subprocess.run(
            [
                *("radosgw-admin", "-c", str(self.dir / "ceph.conf"), "-n", "client.admin"),
                *("gc", "process", "--include-all"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # A full OSD blocks the collector too: fail the run rather than hang it.
            timeout=120,
        )

    def stop(self) -> None:
        """Idempotent: every row on this store stops it once its round is over."""
        if self.owned and self.dir.exists():
            subprocess.run([ROOT / "scripts" / "rgw", "down", str(self.dir)], check=True)
            shutil.rmtree(self.dir, ignore_errors=True)


Store = Server | RgwStore


def services_rgw() -> RgwStore | None:
    """The RGW of `scripts/services up` (its exports in the environment, as bench/run evals
    them), if that is what runs: measured through the PID files in its directory."""
    endpoint = os.environ.get("PARTWAY_TEST_S3_ENDPOINT")
    if os.environ.get("PARTWAY_TEST_S3_KIND") != "rgw" or not endpoint:
        return None
    ceph = Path(os.environ.get("PARTWAY_SERVICES_DIR", "/tmp/partway-services")) / "ceph"
    port = urlsplit(endpoint).port
    if port is None or not (ceph / "run" / "client.rgw.gw.pid").exists():
        return None
    # Another session's cluster may sit in the default directory: take this one only if its
    # RGW is the endpoint's (scripts/rgw writes the port into its ceph.conf).
    if f"endpoint=127.0.0.1:{port}" not in (ceph / "ceph.conf").read_text():
        return None
    return RgwStore(ceph, port, owned=False)


def start_store(work: Path, log: Path) -> Server | RgwStore:
    """The bench's S3 server, with its bucket made: the RGW of `scripts/services up` if one
    runs, else a cluster of the bench's own (or moto)."""
    if store_kind() == "moto":
        return start_moto(log)
    store = services_rgw()
    if store is None:
        store = RgwStore(work / "ceph", free_port())
        subprocess.run(
            [ROOT / "scripts" / "rgw", "up", str(store.dir), str(store.port)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    s3 = client(store.url)
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
    # RGW makes its data pools on the first writes (a multipart one among them), which
    # otherwise land in the first measured run.
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="warm-up")["UploadId"]
    where = {"Bucket": BUCKET, "Key": "warm-up", "UploadId": upload_id}
    etag = s3.upload_part(**where, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(
        **where, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    s3.delete_object(Bucket=BUCKET, Key="warm-up")
    return store


def start_moto(log: Path) -> Server:
    moto = Path(sys.executable).parent / "moto_server"
    server = start([str(moto), "-H", "127.0.0.1", "-p", "{port}"], log=log)
    client(server.url).create_bucket(Bucket=BUCKET)
    return server


def client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def storage_url(endpoint: str, prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}?endpoint_url={endpoint}"


def presigned_plan(endpoint: str, key: str, size: int, plan: Path, part: int = PART) -> None:
    """Start a multipart upload; write its part size and the presigned paths of its parts and
    of its completion."""
    s3 = client(endpoint)
    upload_id: str = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    where = {"Bucket": BUCKET, "Key": key, "UploadId": upload_id}

    def path(operation: str, **params: Any) -> str:
        url = s3.generate_presigned_url(operation, Params={**where, **params}, ExpiresIn=3600)
        split = urlsplit(url)
        return f"{split.path}?{split.query}"

    parts = [path("upload_part", PartNumber=n + 1) for n in range(max(1, -(-size // part)))]
    complete = path("complete_multipart_upload")
    plan.write_text(json.dumps({"part_size": part, "parts": parts, "complete": complete}))


def hash_and_delete(endpoint: str, key: str) -> str:
    """The stored object's SHA-256; then it is deleted."""
    s3 = client(endpoint)
    digest = hashlib.sha256()
    for block in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(8 * 1024 * 1024):
        digest.update(block)
    s3.delete_object(Bucket=BUCKET, Key=key)
    return digest.hexdigest()
