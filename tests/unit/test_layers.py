"""The layers keep their direction: the domain imports only itself and the standard library, and
no storage, metadata or locks module imports the HTTP layer."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "partway"
# Beside the standard library, the domain may use pure functions of bytes (no I/O, no SDK):
# fastcrc's hardware CRCs, as it uses hashlib.
PURE = {"__future__", "fastcrc"}


def imported(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = node.module or ""
            names.add(f"{base}.{module}".strip(".") if node.level else module)
    return names


def test_the_domain_imports_only_itself_and_the_standard_library() -> None:
    for path in (PACKAGE / "domain").glob("*.py"):
        for name in imported(path):
            top = name.split(".")[0]
            if top == "partway":
                # wire.py: plain constants shared with the clients (the page-size cap).
                assert name.startswith(("partway.domain", "partway.wire")), (path.name, name)
            else:
                assert top in sys.stdlib_module_names or top in PURE, (path.name, name)


def test_backends_and_the_core_root_never_import_http() -> None:
    paths = [PACKAGE / "services.py", PACKAGE / "events.py", PACKAGE / "metrics.py"]
    for layer in ("storage", "metadata", "locks"):
        paths += (PACKAGE / layer).rglob("*.py")
    for path in paths:
        assert not any(n.startswith("partway.http") for n in imported(path)), path
