"""Local resume records: which session an interrupted upload of a file belongs to."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import NamedTuple

EDGE = 1024 * 1024


class FileIdentity(NamedTuple):
    """Enough to tell a file from an edited one without reading it whole."""

    path: str
    size: int
    mtime_ns: int
    edges_sha256: str

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        resolved = path.resolve()
        with resolved.open("rb") as f:
            stat = os.fstat(f.fileno())
            digest = hashlib.sha256(f.read(EDGE))
            if stat.st_size > EDGE:
                f.seek(max(EDGE, stat.st_size - EDGE))
                digest.update(f.read(EDGE))
        return cls(str(resolved), stat.st_size, stat.st_mtime_ns, digest.hexdigest())


class UploadRecord(NamedTuple):
    server: str
    app_id: str
    consumer_id: str
    folder_id: str
    name: str
    identity: FileIdentity
    # Saved before the create call, so a create whose answer a crash swallowed is found again.
    idempotency_key: str
    session_id: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, object]) -> UploadRecord:
        identity = data.pop("identity")
        assert isinstance(identity, dict)
        return cls(identity=FileIdentity(**identity), **data)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        return {**self._asdict(), "identity": self.identity._asdict()}


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "partway" / "uploads"


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key(server: str, app_id: str, consumer_id: str, folder_id: str, path: Path) -> str:
        text = "\0".join([server.rstrip("/"), app_id, consumer_id, folder_id, str(path.resolve())])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def load(self, key: str) -> UploadRecord | None:
        try:
            data = json.loads((self.directory / f"{key}.json").read_text())
            return UploadRecord.from_json(data)
        except (FileNotFoundError, ValueError, TypeError, KeyError, AssertionError):
            return None

    def save(self, key: str, record: UploadRecord) -> None:
        """Write a temporary file, fsync and rename it: a crash leaves old or new, never half.
        The directory is fsynced too, so the rename outlives a power loss: the record of a
        create must last at least as long as the server's session (which it fsyncs)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{key}.json"
        temp = target.with_suffix(".tmp")
        with temp.open("w") as f:
            json.dump(record.to_json(), f)
            f.flush()
            os.fsync(f.fileno())
        temp.replace(target)
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def delete(self, key: str) -> None:
        (self.directory / f"{key}.json").unlink(missing_ok=True)
