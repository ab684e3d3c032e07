"""The server's signing secret: a file next to the data, never in the metadata store, so a
database leak reveals no working shared link or signed URL. Servers sharing one metadata store
must share this file too."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .domain.signing import SECRET_BYTES

FILE_NAME = "signing.key"


def load_or_create(data_dir: Path, name: str = FILE_NAME, size: int = SECRET_BYTES) -> bytes:
    """The key in `data_dir / name`, made of `size` random bytes (mode 0600) if there is none."""
    path = data_dir / name
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under a temporary name, then linked into place: two servers starting at
        # once agree on whichever link came first, and neither reads a half-written file.
        temporary = data_dir / f".{name}.{os.getpid()}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, os.urandom(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        temporary.unlink()
    secret = path.read_bytes()
    if len(secret) < size:
        raise SystemExit(f"{path} is shorter than {size} bytes; remove it to make anew")
    return secret
