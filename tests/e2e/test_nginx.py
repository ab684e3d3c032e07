"""Debian's nginx in front of partway with the documented snippet: uploads stream through, over
plain HTTP and over TLS (nginx terminating it with a certificate of the test's own)."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from partway.client import Credentials, UploadOptions, upload_async
from tests.conftest import Server, free_port, wait_for_log_event
from tests.system import program

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "deploy" / "nginx" / "partway-location.conf"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nginx")


def self_signed(prefix: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files: the CA a TLS client must be told."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partway test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = prefix / "cert.pem", prefix / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def nginx(server: Server, prefix: Path) -> Iterator[str]:
    """nginx's plain-HTTP URL; its TLS listener is at the port in prefix/"tls_port"."""
    binary = program("nginx", "nginx-light", "/usr/sbin/nginx")
    port, tls_port = free_port(), free_port()
    cert, key = self_signed(prefix)
    (prefix / "tls_port").write_text(str(tls_port))
    upstream = server.base_url.removeprefix("http://")
    temp = "".join(
        f"{kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"""
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
    {temp}
    upstream partway {{ server {upstream}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        include {SNIPPET};
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        include {SNIPPET};
    }}
}}
"""
    )
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def downloaded_sha256(
    base: str, file_id: str, headers: dict[str, str], verify: ssl.SSLContext | bool = True
) -> str:
    url = f"{base}/file-storage/files/{file_id}/download"
    with httpx.stream("GET", url, headers=headers, verify=verify) as res:
        assert res.status_code == 200
        digest = hashlib.sha256()
        for chunk in res.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def test_upload_through_nginx(server: Server, nginx: str, prefix: Path, tmp_path: Path) -> None:
    payload = os.urandom(40 * MIB + 123)
    source = tmp_path / "via-nginx.bin"
    source.write_bytes(payload)
    creds = Credentials(server.key, server.app_id, "nginx-consumer")
    file = asyncio.run(
        upload_async(
            source,
            server=nginx,
            credentials=creds,
            options=UploadOptions(parallel=4),
            state_dir=tmp_path / "state",
        )
    )
    assert downloaded_sha256(nginx, file["id"], creds.headers()) == sha256(payload)

    # nginx's $request_id reaches partway, comes back as Request-Id, and is in partway's log.
    res = httpx.get(f"{nginx}/file-storage/drives", headers=creds.headers())
    request_id = res.headers["request-id"]
    assert len(request_id) == 32
    wait_for_log_event(server, lambda e: e.get("request_id") == request_id)
    # With request buffering on, nginx would have spooled each 8 MiB part to disk and said so.
    assert "buffered to a temporary file" not in (prefix / "error.log").read_text()


def test_partway_upload_over_tls(server: Server, nginx: str, prefix: Path, tmp_path: Path) -> None:
    """The uploader over https:// (httpx's blocking client): a trusted certificate uploads with
    correct bytes; an untrusted one is refused at once with exit 3 and a line saying why."""
    tls = f"https://127.0.0.1:{(prefix / 'tls_port').read_text()}"
    payload = os.urandom(20 * MIB + 7)
    source = tmp_path / "over-tls.bin"
    source.write_bytes(payload)
    env = {
        **os.environ,
        "PARTWAY_API_KEY": server.key,
        "PARTWAY_APP_ID": server.app_id,
        "PARTWAY_CONSUMER_ID": "tls-consumer",
    }
    env.pop("SSL_CERT_FILE", None)
    command = [sys.executable, "-m", "partway", "upload", str(source), "--server", tls]
    command += ["--json", "--state-dir", str(tmp_path / "state")]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3, refused.stderr
    assert "certificate" in refused.stderr.lower(), refused.stderr

    trusted = {**env, "SSL_CERT_FILE": str(prefix / "cert.pem")}
    done = subprocess.run(command, env=trusted, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    file = json.loads(done.stdout.splitlines()[-1])["file"]
    headers = Credentials(server.key, server.app_id, "tls-consumer").headers()
    trust = ssl.create_default_context(cafile=prefix / "cert.pem")
    assert downloaded_sha256(tls, file["id"], headers, trust) == sha256(payload)
