"""tuspy (the tus project's Python client, from PyPI), unmodified, against a real `partway
serve`: a chunked upload with its sha1 `Upload-Checksum`, the asyncio uploader, and an upload
stopped half-way and resumed from tuspy's URL store by a new client, after a server restart.
The stored bytes are read back through the Apideck API."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from tusclient.client import TusClient
from tusclient.storage.filestorage import FileStorage

from tests.conftest import Server, launch, start_server, stop_server
from tests.e2e.helpers import MIB
from tests.e2e.tus_helpers import stored


def tus_client(server: Server) -> TusClient:
    return TusClient(server.base_url + "/uploads", headers=server.headers())


def test_chunked_upload_with_checksums(server: Server) -> None:
    payload = os.urandom(3 * MIB + 17)
    uploader = tus_client(server).uploader(
        file_stream=io.BytesIO(payload),
        chunk_size=MIB,
        metadata={"filename": "tuspy.bin"},
        upload_checksum=True,  # sha1 Upload-Checksum on every PATCH: a wrong one would 460
    )
    uploader.upload()
    assert uploader.offset == len(payload)
    with server.client() as client:
        assert stored(client, "tuspy.bin") == payload


def test_async_uploader(server: Server) -> None:
    payload = os.urandom(2 * MIB + 1)
    uploader = tus_client(server).async_uploader(
        file_stream=io.BytesIO(payload), chunk_size=512 * 1024, metadata={"filename": "async.bin"}
    )
    asyncio.run(uploader.upload())
    assert uploader.offset == len(payload)
    with server.client() as client:
        assert stored(client, "async.bin") == payload


def test_resume_from_the_url_store_after_a_server_restart(tmp_path: Path) -> None:
    payload = os.urandom(4 * MIB + 99)
    source = tmp_path / "resumed.bin"
    source.write_bytes(payload)
    urls = FileStorage(str(tmp_path / "urls.json"))
    srv = start_server(tmp_path / "srv")
    try:
        first = tus_client(srv).uploader(
            file_path=str(source),
            chunk_size=MIB,
            metadata={"filename": "resumed.bin"},
            store_url=True,
            url_storage=urls,
        )
        first.upload(stop_at=2 * MIB)
        assert first.offset == 2 * MIB
        stop_server(srv)

        port = int(srv.base_url.rsplit(":", 1)[1])  # the stored URL names it
        srv.process = launch(srv.data_dir, port, srv.log)
        second = tus_client(srv).uploader(
            file_path=str(source), chunk_size=MIB, store_url=True, url_storage=urls
        )
        assert (second.url, second.offset) == (first.url, 2 * MIB)  # found, asked with HEAD
        second.upload()
        assert second.offset == len(payload)
        with srv.client() as client:
            assert stored(client, "resumed.bin") == payload
            res = client.get("/file-storage/upload-sessions")
            assert res.status_code == 200, res.text
            assert [s["id"] for s in res.json()["data"]] == []  # one session, finished
    finally:
        urls.close()
        stop_server(srv)
