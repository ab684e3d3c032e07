"""The one fast client every row uses, so no row is limited by its client.

Hand-written HTTP/1.1 over keep-alive sockets; part bodies go straight from the page cache to the
socket with sendfile(2), so the client spends almost no CPU per byte. P streams are P threads, each
with its own connection. Prints one JSON object: seconds, client CPU seconds, what it uploaded.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import mmap
import os
import resource
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from partway.domain.crc import CRC32C, crc32c_of
from partway.wire import crc32c_digest_header

PART = 8 * 1024 * 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    def ok(self) -> Response:
        if self.status >= 300:
            raise RuntimeError(f"HTTP {self.status}: {self.body[:300]!r}")
        return self


class Connection:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.base_headers = {"Host": f"{self.host}:{self.port}", **headers}
        self._connect()

    def _connect(self) -> None:
        self.sock = socket.create_connection((self.host, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        file: tuple[int, int, int] | None = None,
    ) -> Response:
        if self._closed_by_server():
            self.sock.close()
            self._connect()
        length = file[2] if file else len(body)
        all_headers = {**self.base_headers, **(headers or {}), "Content-Length": str(length)}
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in all_headers.items()
        )
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        if file is not None:
            fd, offset, count = file
            while count:
                sent = os.sendfile(self.sock.fileno(), fd, offset, count)
                offset += sent
                count -= sent
        response = self._response()
        if response.headers.get("connection", "").lower() == "close":
            # Some servers (moto's) answer each request on a connection of its own.
            self.sock.close()
            self._connect()
        return response

    def _closed_by_server(self) -> bool:
        """Whether the server closed this connection while it was idle (its keep-alive timeout:
        a 2 GiB upload's finish comes on the connection that made the session, idle meanwhile)."""
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:  # reset
            return True

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _response(self) -> Response:
        status = int(self._line().split()[1])
        headers: dict[str, str] = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int(self._line().split(b";")[0], 16):
                body += self._exactly(size)
                self._line()
            self._line()
        else:
            body = self._exactly(int(headers.get("content-length", "0")))
        return Response(status, headers, body)


def parallel(
    count: int,
    streams: int,
    url: str,
    headers: dict[str, str],
    work: Callable[[Connection, int], None],
) -> None:
    local = threading.local()

    def run(number: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = Connection(url, headers)
        work(local.conn, number)

    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(run, range(count)))


class PartDigests:
    """Each part's SHA-1 or CRC32C header, hashed from a read-only mapping of the source file
    (no copy); the CRCs are kept, by offset, for the whole file's."""

    def __init__(self, fd: int, size: int, crc: bool = False) -> None:
        self._view = memoryview(mmap.mmap(fd, size, prot=mmap.PROT_READ)) if size else None
        self._crc = crc
        self.crcs: dict[int, tuple[int, int]] = {}

    def header(self, offset: int, length: int) -> str:
        view = self._view[offset : offset + length] if self._view is not None else b""
        if not self._crc:
            return "sha=" + base64.b64encode(hashlib.sha1(view).digest()).decode()
        value = crc32c_of(view)
        self.crcs[offset] = (value, length)
        return crc32c_digest_header(value)

    def whole_crc(self) -> str:
        """The file's CRC32C combined from the parts' (no read)."""
        return crc32c_digest_header(CRC32C.combine_all(v for _, v in sorted(self.crcs.items())))


def whole_sha1(fd: int, size: int) -> str:
    digest = hashlib.sha1()
    block = bytearray(1024 * 1024)
    for offset in range(0, size, len(block)):
        got = os.preadv(fd, [block], offset)
        digest.update(memoryview(block)[:got])
    return "sha=" + base64.b64encode(digest.digest()).decode()


def upload_partway(args: argparse.Namespace, fd: int, size: int) -> dict[str, Any]:
    headers = {
        "Authorization": f"Bearer {args.key}",
        "x-apideck-app-id": "bench",
        "x-apideck-consumer-id": "bench",
    }
    conn = Connection(args.url, headers)
    body = json.dumps({"name": args.name, "parent_folder_id": "root", "size": size}).encode()
    created = conn.request(
        "POST", "/file-storage/upload-sessions", {"Content-Type": "application/json"}, body
    ).ok()
    sid = created.json()["data"]["id"]
    part_size = (
        conn.request("GET", f"/file-storage/upload-sessions/{sid}").ok().json()["data"]["part_size"]
    )
    count = max(1, -(-size // part_size))
    digests = PartDigests(fd, size, args.crc) if args.digests or args.crc else None

    def put(c: Connection, number: int) -> None:
        offset = number * part_size
        length = min(part_size, size - offset)
        extra = {"Content-Type": "application/octet-stream"}
        if digests is not None:
            extra["digest"] = digests.header(offset, length)
        path = f"/file-storage/upload-sessions/{sid}?part_number={number}"
        c.request("PUT", path, extra, file=(fd, offset, length)).ok()

    whole: dict[str, str] = {}
    hashing = threading.Thread(target=lambda: whole.update(digest=whole_sha1(fd, size)))
    sha_whole = args.whole_digest and not args.crc
    if sha_whole:
        hashing.start()  # alongside the parts, as partway's uploader does
    parallel(count, args.parallel, args.url, headers, put)
    if sha_whole:
        hashing.join()
    elif args.whole_digest and digests is not None:
        whole["digest"] = digests.whole_crc()
    began = time.perf_counter()
    finished = conn.request(
        "POST", f"/file-storage/upload-sessions/{sid}/finish", whole or None
    ).ok()
    return {"file_id": finished.json()["data"]["id"], "finish_seconds": time.perf_counter() - began}


def upload_direct(args: argparse.Namespace, fd: int, size: int) -> dict[str, Any]:
    """partway's direct parts: create, ask for the parts' signed URLs, PUT each straight into
    the store, then the direct finish (partway checks the store's parts and assembles)."""
    headers = {
        "Authorization": f"Bearer {args.key}",
        "x-apideck-app-id": "bench",
        "x-apideck-consumer-id": "bench",
    }
    conn = Connection(args.url, headers)
    body = json.dumps({"name": args.name, "parent_folder_id": "root", "size": size}).encode()
    create_headers = {"Content-Type": "application/json", "x-partway-upload-mode": "direct"}
    created = conn.request("POST", "/file-storage/upload-sessions", create_headers, body).ok()
    sid = created.json()["data"]["id"]
    direct = f"/file-storage/upload-sessions/{sid}/direct"
    parts: list[dict[str, Any]] = conn.request("GET", direct).ok().json()["data"]["parts"]
    store = urlsplit(parts[0]["url"])

    def put(c: Connection, number: int) -> None:
        part = parts[number]
        where = urlsplit(part["url"])
        file = (fd, part["offset"], part["size"])
        c.request("PUT", f"{where.path}?{where.query}", part["headers"], file=file).ok()

    parallel(len(parts), args.parallel, f"{store.scheme}://{store.netloc}", {}, put)
    began = time.perf_counter()
    finished = conn.request("POST", direct + "/finish").ok()
    return {"file_id": finished.json()["data"]["id"], "finish_seconds": time.perf_counter() - began}


def upload_sink(args: argparse.Namespace, fd: int, size: int) -> dict[str, Any]:
    upload = os.urandom(8).hex()
    digests = PartDigests(fd, size) if args.digests else None

    def put(c: Connection, number: int) -> None:
        offset = number * PART
        length = min(PART, size - offset)
        extra = {} if digests is None else {"digest": digests.header(offset, length)}
        path = f"/sink?upload={upload}&offset={offset}"
        c.request("PUT", path, extra, file=(fd, offset, length)).ok()

    parallel(max(1, -(-size // PART)), args.parallel, args.url, {}, put)
    return {"upload": upload}


def upload_tus(args: argparse.Namespace, fd: int, size: int) -> dict[str, Any]:
    """tus v1: POST with Upload-Length, then a PATCH per 8 MiB. With --key (partway's
    /uploads), the Apideck credentials go along, as a tus client's `headers` option sends them."""
    headers = {"Tus-Resumable": "1.0.0"}
    if args.key:
        headers |= {
            "Authorization": f"Bearer {args.key}",
            "x-apideck-app-id": "bench",
            "x-apideck-consumer-id": "bench",
        }
    conn = Connection(args.url, headers)
    meta = "filename " + base64.b64encode(args.name.encode()).decode()
    created = conn.request(
        "POST", args.tus_path, {"Upload-Length": str(size), "Upload-Metadata": meta}
    ).ok()
    location = urlsplit(created.headers["location"]).path
    offset = 0
    while offset < size:
        length = min(PART, size - offset)
        res = conn.request(
            "PATCH",
            location,
            {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            file=(fd, offset, length),
        ).ok()
        offset = int(res.headers["upload-offset"])
    return {"location": location.rstrip("/").rsplit("/", 1)[-1]}


def upload_s3(args: argparse.Namespace, fd: int, size: int) -> dict[str, Any]:
    """Parts straight to an S3 server over presigned UploadPart URLs, then the presigned
    CompleteMultipartUpload (both listed in --key's file), so the time covers what partway's does.
    """
    with open(args.key) as f:
        plan: dict[str, Any] = json.load(f)
    paths: list[str] = plan["parts"]
    part: int = plan["part_size"]
    etags: dict[int, str] = {}

    def put(c: Connection, number: int) -> None:
        offset = number * part
        res = c.request("PUT", paths[number], file=(fd, offset, min(part, size - offset))).ok()
        etags[number] = res.headers["etag"]

    parallel(len(paths), args.parallel, args.url, {}, put)
    listed = "".join(
        f"<Part><PartNumber>{n + 1}</PartNumber><ETag>{etags[n]}</ETag></Part>"
        for n in range(len(paths))
    )
    body = f"<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>".encode()
    Connection(args.url, {}).request("POST", plan["complete"], body=body).ok()
    return {}


def upload_azure(args: argparse.Namespace, fd: int, size: int) -> dict[str, Any]:
    """Blocks straight to an Azure server over SAS Put Block URLs, then Put Block List (all
    listed in --key's file, made by bench/azure.py)."""
    with open(args.key) as f:
        plan: dict[str, Any] = json.load(f)
    paths: list[str] = plan["parts"]

    def put(c: Connection, number: int) -> None:
        offset = number * PART
        c.request("PUT", paths[number], file=(fd, offset, min(PART, size - offset))).ok()

    parallel(len(paths), args.parallel, args.url, {}, put)
    listed = "".join(f"<Latest>{i}</Latest>" for i in plan["ids"])
    body = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{listed}</BlockList>'.encode()
    Connection(args.url, {}).request("PUT", plan["complete"], body=body).ok()
    return {}


def main() -> None:
    parser = argparse.ArgumentParser()
    protocols = ["partway", "partway-direct", "sink", "tus", "s3", "azure"]
    parser.add_argument("protocol", choices=protocols)
    parser.add_argument("--url", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--name", default="bench.bin")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--digests", action="store_true")
    parser.add_argument(
        "--whole-digest", action="store_true", help="whole-file SHA-1 at finish (partway)"
    )
    parser.add_argument(
        "--crc", action="store_true", help="CRC32C part digests (the whole file's combined)"
    )
    parser.add_argument("--key", default="")
    parser.add_argument("--tus-path", default="/files/", help="tus: the creation URL's path")
    args = parser.parse_args()
    fd = os.open(args.file, os.O_RDONLY)
    size = os.fstat(fd).st_size
    upload = {
        "partway": upload_partway,
        "partway-direct": upload_direct,
        "sink": upload_sink,
        "tus": upload_tus,
        "s3": upload_s3,
        "azure": upload_azure,
    }[args.protocol]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    extra = upload(args, fd, size)
    seconds = time.perf_counter() - t0
    print(
        json.dumps({"seconds": seconds, "client_cpu": cpu_seconds() - cpu0, "bytes": size, **extra})
    )


if __name__ == "__main__":
    main()
