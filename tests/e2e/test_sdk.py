"""The official apideck-unify SDK, unmodified, against a real `partway serve` process."""

from __future__ import annotations

import base64
import hashlib
import os
import random
from collections.abc import Iterator

import pytest
from apideck_unify import Apideck, models

from partway.client.apideck_sdk import partway_http_client
from tests.conftest import Server

from .helpers import python_sdk


def sha1_digest(data: bytes) -> str:
    return "sha=" + base64.b64encode(hashlib.sha1(data).digest()).decode()


@pytest.fixture
def sdk(server: Server) -> Iterator[Apideck]:
    with python_sdk(server, server.consumer_id) as client:
        yield client


@pytest.fixture
def rewriting_sdk(server: Server) -> Iterator[Apideck]:
    with Apideck(
        api_key=server.key,
        app_id=server.app_id,
        consumer_id=server.consumer_id,
        client=partway_http_client(server.base_url),
        retry_config=None,
    ) as client:
        yield client


def test_shuffled_multipart_upload_with_digests_and_download(sdk: Apideck, server: Server) -> None:
    url = server.base_url
    sessions = sdk.file_storage.upload_sessions
    created = sessions.create(name="random.bin", parent_folder_id="root", size=None, server_url=url)
    assert created.create_upload_session_response is not None
    session_id = created.create_upload_session_response.data.id

    info = sessions.get(id=session_id, server_url=url).get_upload_session_response
    assert info is not None
    part_size = int(info.data.part_size or 0)
    assert part_size == 8 * 1024 * 1024
    assert info.data.parallel_upload_supported is True
    assert info.data.uploaded_byte_range == ""
    assert info.data.expires_at is not None

    payload = os.urandom(3 * part_size + 12_345)
    pieces = [payload[i : i + part_size] for i in range(0, len(payload), part_size)]
    order = list(range(len(pieces)))
    random.Random(7).shuffle(order)
    for number in order:
        res = sessions.upload(
            id=session_id,
            part_number=number,
            request_body=pieces[number],
            digest=sha1_digest(pieces[number]),
            server_url=url,
        )
        assert res.update_upload_session_response is not None
        assert res.update_upload_session_response.data.id == session_id

    info = sessions.get(id=session_id, server_url=url).get_upload_session_response
    assert info is not None
    assert info.data.uploaded_byte_range == f"0-{len(payload) - 1}"

    finished = sessions.finish(id=session_id, digest=sha1_digest(payload), server_url=url)
    assert finished.get_file_response is not None
    file = finished.get_file_response.data
    assert file.name == "random.bin"
    assert file.size == len(payload)
    assert file.type == "file"

    after = sessions.get(id=session_id, server_url=url).get_upload_session_response
    assert after is not None and after.data.success is True

    download = sdk.file_storage.files.download(id=file.id)
    assert download.get_file_download_response is not None
    assert download.get_file_download_response.read() == payload

    meta = sdk.file_storage.files.get(id=file.id).get_file_response
    assert meta is not None and meta.data.size == len(payload)


def test_known_size_flow_through_rewriting_client(rewriting_sdk: Apideck) -> None:
    sessions = rewriting_sdk.file_storage.upload_sessions
    payload = os.urandom(1000)
    created = sessions.create(name="small.txt", parent_folder_id="root", size=len(payload))
    assert created.create_upload_session_response is not None
    session_id = created.create_upload_session_response.data.id
    sessions.upload(id=session_id, part_number=0, request_body=payload)
    finished = sessions.finish(id=session_id)
    assert finished.get_file_response is not None
    file_id = finished.get_file_response.data.id
    got = rewriting_sdk.file_storage.files.download(id=file_id).get_file_download_response
    assert got is not None and got.read() == payload


def test_abort_removes_session_and_bytes(sdk: Apideck, server: Server) -> None:
    sessions = sdk.file_storage.upload_sessions
    url = server.base_url
    created = sessions.create(name="gone.bin", parent_folder_id="root", size=10, server_url=url)
    assert created.create_upload_session_response is not None
    session_id = created.create_upload_session_response.data.id
    sessions.upload(id=session_id, part_number=0, request_body=b"0123456789", server_url=url)
    objects_before = set(os.listdir(server.data_dir / "objects"))
    deleted = sessions.delete(id=session_id)
    assert deleted.delete_upload_session_response is not None
    assert deleted.delete_upload_session_response.data.id == session_id
    with pytest.raises(models.NotFoundResponse):
        sessions.get(id=session_id, server_url=url)
    assert len(set(os.listdir(server.data_dir / "objects"))) == len(objects_before) - 1


def test_typed_errors(sdk: Apideck, server: Server) -> None:
    sessions = sdk.file_storage.upload_sessions
    url = server.base_url
    with pytest.raises(models.BadRequestResponse) as bad:
        sessions.create(name="neg.bin", parent_folder_id="root", size=-5, server_url=url)
    assert bad.value.data.type_name == "RequestValidationError"

    with (
        Apideck(
            api_key="pw_not-a-key",
            app_id=server.app_id,
            consumer_id=server.consumer_id,
            server_url=url,
            retry_config=None,
        ) as stranger,
        pytest.raises(models.UnauthorizedResponse),
    ):
        stranger.file_storage.upload_sessions.get(id="ses_000000000000000000000000", server_url=url)

    with pytest.raises(models.NotFoundResponse) as missing:
        sessions.get(id="ses_000000000000000000000000", server_url=url)
    assert missing.value.data.type_name == "EntityNotFoundError"

    created = sessions.create(name="wrong.bin", parent_folder_id="root", size=100, server_url=url)
    assert created.create_upload_session_response is not None
    session_id = created.create_upload_session_response.data.id
    with pytest.raises(models.UnprocessableResponse) as wrong:
        sessions.upload(id=session_id, part_number=0, request_body=b"short", server_url=url)
    assert wrong.value.data.type_name == "InvalidStateError"
    with pytest.raises(models.UnprocessableResponse) as early:
        sessions.finish(id=session_id, server_url=url)
    assert "0" in str(early.value.data.message)
