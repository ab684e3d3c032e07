"""Settings, parsed once into one frozen object (env vars `PARTWAY_*`, then flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARTWAY_", frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("partway-data")
    database_url: str | None = Field(None, description="default: SQLite file in data_dir")
    storage: dict[str, str] = Field(
        default_factory=dict, description="service id → storage URL; default: local → data_dir"
    )
    default_service: str = "local"
    default_part_size: int = Field(8 * MIB, ge=1)
    max_part_size: int = Field(100 * MIB, ge=1)
    max_parts: int = Field(10_000, ge=1)
    max_file_size: int | None = Field(None, ge=0)
    max_small_upload: int = Field(100 * MIB, ge=0)
    session_ttl_seconds: float = Field(7 * 24 * 3600, gt=0)
    finished_retention_seconds: float = Field(24 * 3600, gt=0)
    fsync: bool = True
    default_quota_bytes: int | None = Field(None, ge=0)
    max_open_sessions: int | None = Field(1000, ge=1)
    reap_interval_seconds: float = Field(60.0, gt=0)
    orphan_grace_seconds: float = Field(300.0, ge=0)
    lock_timeout_seconds: float = Field(120.0, gt=0)
    auto_migrate: bool = True
    log_level: str = "info"

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'partway.db'}"

    def storage_urls(self) -> dict[str, str]:
        return self.storage or {self.default_service: str(self.data_dir)}


def load_settings(**overrides: Any) -> Settings:
    """Env first, then explicit overrides (flags); None means 'not given'."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)
