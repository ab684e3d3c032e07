"""Settings, parsed once into one frozen object.

Precedence, highest first: command-line flags, `PARTWAY_*` environment variables, the TOML file
given with `--config`, defaults. Unknown keys and invalid values stop startup with a message.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .domain.subscriptions import PREFIX as SUBSCRIPTION_PREFIX
from .endpoints import HookEndpoint, HookKind, WebhookEndpoint
from .env_names import CLIENT_VARIABLES, TOOLING_VARIABLES, other_names
from .webhooks.addresses import UrlPolicy

MIB = 1024 * 1024
Scheme = Literal["http", "https"]
_HTTPS_ONLY: list[Scheme] = ["https"]
_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("partway_file_values", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """Values read from the TOML file (lowest priority above defaults)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get() or {})


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
    # Services whose sessions are direct (parts PUT straight into the store) unless a create
    # asks otherwise; each must store on a backend that takes direct parts.
    direct_services: list[str] = Field(default_factory=list)
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
    # A part upload that sends no byte for this long is answered 408 (its part is not recorded).
    body_timeout_seconds: float = Field(60.0, gt=0)
    # ... and so is one slower than this many bytes a second over any window of this many
    # seconds (0: no minimum). A 1 Mbit/s client sends ~125,000 bytes a second.
    body_min_rate: float = Field(1024.0, ge=0)
    body_rate_window_seconds: float = Field(30.0, gt=0)
    # Authenticated requests doing their work at once (waiting for body bytes holds no
    # slot); the rest wait in line, taken round-robin by tenant (fair_share.py). SQLite: 1,
    # as the turn is CPU on this host and one local commit (N = 1,000 slow uploads, another
    # tenant's API p99 interleaved: 1 slot 79-104 ms, 2 131-178, 4 149-229; same MB/s).
    # PostgreSQL: 4, as a turn also waits on its SQL round trips.
    max_active_requests: int | None = Field(
        None, ge=1, le=10_000, description="default: SQLite 1, else 4"
    )
    # Threads that move request bodies already arrived (waiting for bytes holds none), threads
    # for fdatasync and file reads and writes, and threads for SQL off the event loop: every
    # PostgreSQL query (which may wait on a row lock), SQLite's larger reads. With these defaults
    # a SQLite server ran 1,000 slow uploads on 11 threads; with 16 body and 16 disk threads it
    # ran 40, no faster and at more CPU per GiB (bench/slow.py, interleaved A/B).
    body_threads: int = Field(4, ge=1, le=256)
    disk_threads: int = Field(2, ge=1, le=256)
    sql_threads: int | None = Field(None, ge=1, le=256, description="default: SQLite 2, else 24")
    # Connections: the request head must arrive within header_timeout_seconds (from the
    # connection's start, or its first byte), an idle keep-alive connection is closed after
    # keepalive_timeout_seconds (busy_keepalive_timeout_seconds from half of max_connections
    # open until under a quarter), and at max_connections a new one takes the place of the
    # longest-idle one, or is refused (503) if none is idle.
    header_timeout_seconds: float = Field(20.0, gt=0)
    keepalive_timeout_seconds: float = Field(5.0, gt=0)
    busy_keepalive_timeout_seconds: float = Field(1.0, gt=0)
    max_connections: int | None = Field(None, ge=1, description="default: from the file limit")
    # Sockets listening on the API port (SO_REUSEPORT): a busy event loop accepts one new
    # connection per socket per turn (http/listeners.py).
    listen_sockets: int = Field(16, ge=1, le=256)
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    max_header_count: int = Field(100, ge=10)
    # auto: partway's own HTTP protocol (limits, socket bodies) when the installed uvicorn is
    # one it was tested with, else uvicorn's stock protocol; stock: always uvicorn's.
    http_protocol: Literal["auto", "stock"] = "auto"
    auto_migrate: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "text"] = "auto"
    metrics_port: int | None = Field(None, ge=1, le=65535, description="serve /metrics there")
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    cors_origins: list[str] = Field(default_factory=list)
    # Webhooks (issue #21): endpoint name → URL, whsec_ secret, event and app filters.
    webhooks: dict[str, WebhookEndpoint] = Field(default_factory=dict)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_concurrency: int = Field(8, ge=1, le=256)
    # Failed deliveries are retried with exponential backoff (with jitter) for this long, then
    # dead-lettered; the default covers a receiver down for a whole day.
    webhook_retry_window_seconds: float = Field(25 * 3600, gt=0)
    webhook_backoff_base_seconds: float = Field(5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0)
    webhook_poll_seconds: float = Field(1.0, gt=0)
    # Subscriptions (`partway webhooks subscribe`) carry a tenant's URL: only these schemes, and
    # hosts and networks (webhooks/addresses.py); non-public addresses only when listed.
    webhook_allowed_schemes: list[Scheme] = Field(default_factory=lambda: _HTTPS_ONLY.copy())
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    # Blocking hooks: pre-create, pre-finish, pre-access → URL, secret, timeout, fail policy.
    hooks: dict[HookKind, HookEndpoint] = Field(default_factory=dict)
    hook_concurrency: int = Field(64, ge=1, le=1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls)

    @model_validator(mode="after")
    def _default_service_exists(self) -> Settings:
        if self.storage and self.default_service not in self.storage:
            raise ValueError(
                f"default_service {self.default_service!r} is not one of the configured "
                f"storage services ({', '.join(sorted(self.storage))})"
            )
        return self

    @field_validator("webhooks")
    @classmethod
    def _names_not_of_subscriptions(
        cls, value: dict[str, WebhookEndpoint]
    ) -> dict[str, WebhookEndpoint]:
        # A subscription's deliveries are queued under its id: a configured endpoint of that
        # name would share (and dead-letter) them.
        for name in value:
            if name.startswith(SUBSCRIPTION_PREFIX):
                raise ValueError(f"endpoint name {name!r} may not start with {SUBSCRIPTION_PREFIX}")
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _hosts_parse(cls, value: list[str]) -> list[str]:
        UrlPolicy.parse([], value)
        return value

    def url_policy(self) -> UrlPolicy:
        return UrlPolicy.parse(self.webhook_allowed_schemes, self.webhook_allowed_hosts)

    @field_validator("log_level", "log_format", "http_protocol", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        # `PARTWAY_LOG_LEVEL=DEBUG` is what people type; the choices are case-insensitive.
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'partway.db'}"

    def storage_urls(self) -> dict[str, str]:
        return self.storage or {self.default_service: str(self.data_dir)}

    def masked(self) -> dict[str, Any]:
        """The effective settings with every password in a URL replaced by ***."""
        values = self.model_dump(mode="json")
        values["database_url"] = self.metadata_url()
        values["storage"] = self.storage_urls()
        masked: dict[str, Any] = _mask(values)
        return masked


_SECRET_IN_URL = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@"
)
_SECRET_KEYS = ("secret", "password", "key")


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        if any(word in key.lower() for word in _SECRET_KEYS) and value:
            return "***"
        return _SECRET_IN_URL.sub(r"\g<scheme>\g<user>:***@", value)
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Flags (None means 'not given') over env over the TOML file over defaults."""
    given = {k: v for k, v in overrides.items() if v is not None}
    token = _FILE_VALUES.set(read_config_file(config_file) if config_file else None)
    try:
        return Settings(**given)
    finally:
        _FILE_VALUES.reset(token)


def env_name(field: str) -> str:
    return "PARTWAY_" + field.upper()


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`PARTWAY_*` variables nobody reads (a typo like PARTWAY_PROT would be silently ignored),
    each with the closest known name when there is one."""
    known = {env_name(f) for f in Settings.model_fields} | CLIENT_VARIABLES | TOOLING_VARIABLES
    warnings = []
    for name in sorted(other_names(environ)):
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown variable {name} is ignored{hint}")
    return warnings


# What a value that needs more than a scalar must look like, for the error message.
_EXPECTED_JSON = {
    "storage": 'a JSON object of service id -> storage URL, e.g. {"local": "/srv/partway"}',
    "direct_services": 'a JSON list of service ids, e.g. ["s3"]',
    "cors_origins": 'a JSON list of origins, e.g. ["https://app.example.com"]',
    "webhooks": 'a JSON object of name -> {"url": ..., "secret": "whsec_..."}',
    "webhook_allowed_schemes": 'a JSON list, e.g. ["https"]',
    "webhook_allowed_hosts": 'a JSON list, e.g. ["*.example.com", "10.1.2.0/24"]',
    "hooks": 'a JSON object of hook kind -> {"url": ..., "secret": "whsec_...", "fail": "open"}',
}


def explain_settings_error(
    exc: ValueError, flags: Mapping[str, object], config_file: Path | None = None
) -> str:
    """One line naming the variable, flag or file key, the bad value and the expected form."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(exc, SettingsError):
        # pydantic-settings fails before validating when a JSON-valued variable is not JSON.
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else ""
        value = os.environ.get(env_name(field), "")
        expected = _EXPECTED_JSON.get(field, "JSON")
        return f"{env_name(field)}={value!r} is not valid JSON: expected {expected}"
    if not isinstance(exc, ValidationError):
        return str(exc)
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        where = _source_of(field, flags, config_file)
        if err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown setting (see `partway serve --help` and README)")
            continue
        expected = err["msg"][0].lower() + err["msg"][1:]
        problems.append(f"{where}={err.get('input')!r}: {expected}")
    return "invalid settings: " + "; ".join(problems)


def _source_of(field: str, flags: Mapping[str, object], config_file: Path | None) -> str:
    if flags.get(field) is not None:
        return "--" + field.replace("_", "-")
    if env_name(field) in os.environ:
        return env_name(field)
    if config_file is not None:
        return f"{field} in {config_file}"
    return field
