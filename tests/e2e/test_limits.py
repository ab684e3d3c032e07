"""Quotas (402 with a string detail), open-session limits and the maximum file size."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from apideck_unify import models

from tests.conftest import Server, start_server, stop_server

from .helpers import (
    MIB,
    SESSIONS,
    assert_error,
    create_session,
    put_part,
    python_sdk,
    upload_whole,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("limits"),
        {
            "PARTWAY_DEFAULT_QUOTA_BYTES": str(10 * MIB),
            "PARTWAY_MAX_OPEN_SESSIONS": "3",
            "PARTWAY_MAX_FILE_SIZE": str(50 * MIB),
            "PARTWAY_DEFAULT_PART_SIZE": str(MIB),
        },
    )
    yield srv
    stop_server(srv)


def test_quota_at_create_is_402_with_string_detail(server: Server) -> None:
    with server.client("quota-a") as c:
        upload_whole(c, "six.bin", b"x" * (6 * MIB))
        res = c.post(SESSIONS, json={"name": "five", "parent_folder_id": "root", "size": 5 * MIB})
        body = assert_error(res, 402, "RequestLimitError")
        assert isinstance(body["detail"], str) and "quota" in body["message"]
        assert create_session(c, "four", 4 * MIB)
    with (
        python_sdk(server, "quota-a") as sdk,
        pytest.raises(models.PaymentRequiredResponse),
    ):
        sdk.file_storage.upload_sessions.create(
            name="more", parent_folder_id="root", size=MIB, server_url=server.base_url
        )


def test_quota_per_part_for_unknown_sizes(server: Server) -> None:
    with server.client("quota-b") as c:
        session_id = create_session(c, "stream", None)
        for n in range(10):
            assert put_part(c, session_id, n, b"y" * MIB).status_code == 200
        assert_error(put_part(c, session_id, 10, b"y" * MIB), 402, "RequestLimitError")
        # Re-sending a part it already holds does not count twice.
        assert put_part(c, session_id, 3, b"z" * MIB).status_code == 200


def test_quota_override_by_cli(server: Server) -> None:
    def quota(*args: str) -> str:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "partway",
                "quota",
                *args,
                "--app-id",
                server.app_id,
                "--consumer-id",
                "quota-c",
                "--data-dir",
                str(server.data_dir),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    with server.client("quota-c") as c:
        body = {"name": "big", "parent_folder_id": "root", "size": 20 * MIB}
        assert_error(c.post(SESSIONS, json=body), 402)
        assert "quota 31457280 bytes" in quota("set", "--bytes", str(30 * MIB))
        assert c.post(SESSIONS, json=body).status_code == 201
        assert "used 20971520 bytes" in quota("show")
        quota("set", "--default")
        assert_error(c.post(SESSIONS, json={**body, "name": "big2"}), 402)


def test_open_session_limit(server: Server) -> None:
    with server.client("many") as c:
        ids = [create_session(c, f"s{n}", 1) for n in range(3)]
        body = assert_error(
            c.post(SESSIONS, json={"name": "s3", "parent_folder_id": "root", "size": 1}), 402
        )
        assert "open upload sessions" in body["message"]
        assert c.delete(f"{SESSIONS}/{ids[0]}").status_code == 200
        assert create_session(c, "s3", 1)


def test_max_file_size(server: Server) -> None:
    with server.client("huge") as c:
        res = c.post(SESSIONS, json={"name": "h", "parent_folder_id": "root", "size": 50 * MIB + 1})
        body = assert_error(res, 400, "RequestValidationError")
        assert "maximum file size" in body["message"]


def test_limits_are_per_consumer(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, headers=server.headers("fresh")) as c:
        assert create_session(c, "nine", 9 * MIB)
