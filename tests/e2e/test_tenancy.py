"""Authentication and tenant scoping over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Server, create_key

from .helpers import SESSIONS, assert_error, create_session, upload_whole


@pytest.fixture(scope="module")
def other_app_key(server: Server) -> str:
    return create_key(server.data_dir, "app-2")


def test_missing_or_wrong_key_is_401(server: Server) -> None:
    headers = server.headers()
    del headers["Authorization"]
    assert_error(
        httpx.get(server.base_url + SESSIONS + "/x", headers=headers), 401, "UnauthorizedError"
    )
    headers["Authorization"] = "Bearer pw_wrong"
    assert_error(
        httpx.get(server.base_url + SESSIONS + "/x", headers=headers), 401, "UnauthorizedError"
    )


def test_missing_tenancy_headers_are_400(server: Server) -> None:
    for header in ("x-apideck-consumer-id", "x-apideck-app-id"):
        headers = server.headers()
        del headers[header]
        res = httpx.post(server.base_url + SESSIONS, headers=headers, json={})
        body = assert_error(res, 400, "RequestHeadersValidationError")
        assert header in body["message"]


def test_key_of_another_app_is_401(server: Server, other_app_key: str) -> None:
    headers = server.headers(Authorization=f"Bearer {other_app_key}")
    assert_error(httpx.get(server.base_url + "/file-storage/drives", headers=headers), 401)


def test_unknown_service_id_is_400(server: Server) -> None:
    headers = server.headers(**{"x-apideck-service-id": "dropbox"})
    body = assert_error(httpx.get(server.base_url + "/file-storage/drives", headers=headers), 400)
    assert "dropbox" in body["message"]


def test_other_consumer_and_other_app_see_nothing(server: Server, other_app_key: str) -> None:
    with server.client() as owner:
        session_id = create_session(owner, "mine.bin", 3)
        file_id = upload_whole(owner, "mine-file.bin", b"secret")
    other_consumer = server.headers(consumer="consumer-2")
    other_app = {
        "Authorization": f"Bearer {other_app_key}",
        "x-apideck-app-id": "app-2",
        "x-apideck-consumer-id": server.consumer_id,
    }
    for headers in (other_consumer, other_app):
        with httpx.Client(base_url=server.base_url, headers=headers) as c:
            assert_error(c.get(f"{SESSIONS}/{session_id}"), 404)
            assert_error(c.put(f"{SESSIONS}/{session_id}?part_number=0", content=b"abc"), 404)
            assert_error(c.post(f"{SESSIONS}/{session_id}/finish"), 404)
            assert_error(c.delete(f"{SESSIONS}/{session_id}"), 404)
            assert_error(c.get(f"/file-storage/files/{file_id}"), 404)
            assert_error(c.get(f"/file-storage/files/{file_id}/download"), 404)
            assert_error(c.delete(f"/file-storage/files/{file_id}"), 404)
            listed = c.get("/file-storage/files").json()["data"]
            assert all(item["id"] != file_id for item in listed)
            # The same name is free in another tenant's root.
            assert create_session(c, "mine.bin", 3)
    with server.client() as owner:
        assert owner.get(f"/file-storage/files/{file_id}/download").content == b"secret"
