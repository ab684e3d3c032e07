"""The Azure rows' store: an Azurite server of the bench's own (tests/azurite, npm), and block
uploads straight into it over SAS URLs (what partway's direct parts do on Azure)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psutil
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from .client import PART
from .measure import ROOT, Server, start

CONTAINER = "bench"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, in Microsoft's documentation).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE = ROOT / "tests" / "azurite" / "node_modules" / ".bin" / "azurite-blob"


def available() -> bool:
    return AZURITE.exists()


@dataclass
class ServicesAzurite:
    """The Azurite of `scripts/services up`, measured through its PID file; not stopped here."""

    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def peak_rss(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        pass


Azurite = Server | ServicesAzurite


def connection_string(server: Azurite) -> str:
    return f"AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={server.url}/{ACCOUNT}"


def services_azurite() -> ServicesAzurite | None:
    """The Azurite of `scripts/services up` (its exports in the environment), if it runs."""
    conn = os.environ.get("PARTWAY_TEST_AZURE_CONNECTION_STRING", "")
    pid_file = Path(os.environ.get("PARTWAY_SERVICES_DIR", "/tmp/partway-services"))
    pid_file /= "azurite.pid"
    endpoint = dict(p.split("=", 1) for p in conn.split(";") if "=" in p).get("BlobEndpoint")
    port = urlsplit(endpoint).port if endpoint else None
    if port is None or not pid_file.exists() or not psutil.pid_exists(int(pid_file.read_text())):
        return None
    return ServicesAzurite(int(pid_file.read_text()), port)


def start_azurite(log: Path) -> Azurite:
    """The bench's Azurite, with its container made: that of `scripts/services up` if it
    runs, else one of the bench's own."""
    if (found := services_azurite()) is not None:
        with BlobServiceClient.from_connection_string(connection_string(found)) as service:
            if not service.get_container_client(CONTAINER).exists():
                service.create_container(CONTAINER)
        return found
    flags = ["--inMemoryPersistence", "--skipApiVersionCheck", "--disableProductStyleUrl"]
    server = start(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", "{port}", *flags], log=log
    )
    with BlobServiceClient.from_connection_string(connection_string(server)) as service:
        service.create_container(CONTAINER)
    return server


def storage_url(prefix: str) -> str:
    return f"azure://{CONTAINER}/{prefix}"


def block_plan(server: Azurite, name: str, size: int, plan: Path) -> None:
    """SAS paths for each block of the blob and for its block list (bench/client.py `azure`)."""
    sas = generate_blob_sas(
        ACCOUNT,
        CONTAINER,
        name,
        account_key=KEY,
        permission=BlobSasPermissions(write=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    base = urlsplit(f"{server.url}/{ACCOUNT}/{CONTAINER}/{name}").path
    ids = [base64.b64encode(f"{n:06d}".encode()).decode() for n in range(max(1, -(-size // PART)))]
    parts = [f"{base}?{sas}&comp=block&blockid={quote(i, safe='')}" for i in ids]
    complete = f"{base}?{sas}&comp=blocklist"
    plan.write_text(json.dumps({"parts": parts, "complete": complete, "ids": ids}))


def read_and_delete(server: Azurite, name: str) -> bytes:
    with BlobServiceClient.from_connection_string(connection_string(server)) as service:
        blob = service.get_blob_client(CONTAINER, name)
        data: bytes = blob.download_blob().readall()
        blob.delete_blob()
    return data


def result_key(result: dict[str, Any]) -> str:
    return str(result["key"])
