"""What the tus and draft e2e tests share: the protocol's headers, Upload-Metadata encoding, an
append, and the finished file read back through the Apideck API."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx

from tests.conftest import Server
from tests.e2e.helpers import download

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}


def tus_client(server: Server) -> Iterator[httpx.Client]:
    """A client with the Apideck headers and Tus-Resumable (for a fixture to yield from)."""
    with server.client() as c:
        c.headers.update(TUS)
        yield c


def create(client: httpx.Client, name: str, **headers: str) -> str:
    """A tus upload of file `name`; its absolute URL."""
    res = client.post("/uploads", headers={"Upload-Metadata": metadata(filename=name), **headers})
    assert res.status_code == 201, res.text
    location: str = res.headers["location"]
    assert location.startswith(str(client.base_url).rstrip("/") + "/uploads/ses_")
    return location


def metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def append(
    client: httpx.Client, url: str, offset: int, body: bytes, **headers: str
) -> httpx.Response:
    return client.patch(
        url, content=body, headers={**OCTETS, "Upload-Offset": str(offset), **headers}
    )


def file_named(client: httpx.Client, name: str) -> dict[str, Any]:
    """The one file called `name` in the root folder (a client with the Apideck headers)."""
    res = client.get("/file-storage/files", params={"filter[folder_id]": "root", "limit": 200})
    assert res.status_code == 200, res.text
    found = [f for f in res.json()["data"] if f["name"] == name]
    assert len(found) == 1, res.json()["data"]
    entry: dict[str, Any] = found[0]
    return entry


def stored(client: httpx.Client, name: str) -> bytes:
    """The bytes of the one file called `name` in the root folder."""
    res = download(client, str(file_named(client, name)["id"]))
    assert res.status_code == 200, res.text
    return res.content
