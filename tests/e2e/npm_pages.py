"""Test pages built from a locked npm project (tests/uppy, tests/uppy-s3): bundled by its
esbuild, and served from an origin of their own by a real server on loopback.

A page Playwright answers itself counts as public to Chromium, which then refuses its requests
to loopback; a second loopback origin also makes every call to partway cross-origin (CORS)."""

from __future__ import annotations

import contextlib
import functools
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.system import program

CSS = ("@uppy/core/dist/style.min.css", "@uppy/dashboard/dist/style.min.css")


def bundle(project: Path, installed: str, out: Path) -> str:
    """`project`/page.js and its packages as one script. `installed`: a package path under
    node_modules that shows the project is installed (.ci/run does `npm ci` up front)."""
    if not (project / "node_modules" / installed).is_dir():
        npm = program("npm", "npm")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=project, check=True, capture_output=True
        )
    target = out / f"{project.name}-page.js"
    esbuild = str(project / "node_modules/.bin/esbuild")
    command = [esbuild, "page.js", "--bundle", "--format=iife", f"--outfile={target}"]
    subprocess.run(command, cwd=project, check=True, capture_output=True)
    return target.read_text()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access lines on the test's output."""


@contextlib.contextmanager
def uppy_site(project: Path, installed: str, root: Path) -> Iterator[str]:
    """`uppy.html` (the bundled page with Uppy's styles) served from `root`; yields the
    origin."""
    script = bundle(project, installed, root)
    css = "".join((project / "node_modules" / name).read_text() for name in CSS)
    html = f'<!doctype html><style>{css}</style><div id="uppy"></div><script>{script}</script>'
    (root / "uppy.html").write_text(html)
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def wait_until(page: Page, check: Any, what: str, timeout: float = 30.0) -> Any:
    """Poll `check` while Playwright delivers the page's events (a sync Playwright client
    delivers them only inside its own calls, so no time.sleep here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        page.wait_for_timeout(50)
    raise AssertionError(f"timed out waiting for {what}")
