"""`PARTWAY_*` environment variables that are not server settings.

Kept apart from config.py so that a client command can tell, without importing pydantic
(~0.3 s of its start), whether the environment holds anything that needs the settings model to
check.
"""

from __future__ import annotations

from collections.abc import Iterable

# Read by the client commands and by the project's own scripts and tests.
CLIENT_VARIABLES = frozenset(
    {"PARTWAY_SERVER", "PARTWAY_API_KEY", "PARTWAY_APP_ID", "PARTWAY_CONSUMER_ID",
     "PARTWAY_SERVICE_ID"}
)  # fmt: skip
TOOLING_PREFIXES = ("PARTWAY_TEST_", "PARTWAY_FUZZ_", "PARTWAY_BENCH_")
TOOLING_VARIABLES = frozenset(
    {"PARTWAY_SERVICES_DIR", "PARTWAY_PG_PORT", "PARTWAY_S3_PORT", "PARTWAY_AZURE_PORT",
     "PARTWAY_S3", "PARTWAY_CEPH_MON_PORT", "PARTWAY_CEPH_MEMSTORE_BYTES",
     "PARTWAY_AZURITE_MEMORY_MB"}
)  # fmt: skip


def other_names(names: Iterable[str]) -> list[str]:
    """The `PARTWAY_*` names among `names` that are neither client nor tooling variables:
    settings, or typos of them."""
    return [
        name
        for name in names
        if name.startswith("PARTWAY_")
        and name not in CLIENT_VARIABLES
        and name not in TOOLING_VARIABLES
        and not name.startswith(TOOLING_PREFIXES)
    ]
