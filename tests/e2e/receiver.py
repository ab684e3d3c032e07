"""A webhook and hook receiver for the e2e tests, run as its own process:
`python receiver.py DIR PORT`. Every request is appended to DIR/requests.jsonl (path, headers,
body); DIR/behaviour.json, read on each request, says per path what to answer:
{"/path": {"status": 500, "body": {...}, "delay": 2.0}}; the default is 204, empty. An answer
may depend on a field of a hook's event: {"when": {"field": "name", "pattern": "\\.exe$"},
"then": {...}, "else": {...}}."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOCK = threading.Lock()


def serve(directory: Path, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, and each answer sent at once: with Nagle's algorithm on, the answer
        # waited for the client's delayed ACK (~40 ms), which capped the receiver at ~120
        # requests a second, below what partway delivers.
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-body (a SIGKILL test): no request
                self.close_connection = True
                return
            try:
                behaviour = json.loads((directory / "behaviour.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                behaviour = {}
            answer = behaviour.get(self.path, {})
            if "when" in answer:  # {"when": {"field": f, "pattern": p}, "then": {…}, "else": {…}}
                event = json.loads(body or b"{}").get("event", {})
                matched = re.search(
                    answer["when"]["pattern"], str(event.get(answer["when"]["field"]))
                )
                answer = answer["then"] if matched else answer.get("else", {})
            with LOCK, (directory / "requests.jsonl").open("a") as log:
                record = {
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode(),
                    "status": answer.get("status", 204),
                    "at": time.time(),
                }
                log.write(json.dumps(record) + "\n")
            time.sleep(float(answer.get("delay", 0)))
            payload = json.dumps(answer["body"]).encode() if "body" in answer else b""
            try:
                self.send_response(int(answer.get("status", 204)))
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up (its timeout) or was killed: what the tests do

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
