"""The project's own scripts' PARTWAY_* variables are known, so setting them draws no warning."""

from __future__ import annotations

import re
from pathlib import Path

from partway.env_names import other_names

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_every_variable_the_scripts_read_is_known() -> None:
    read = set()
    for script in SCRIPTS.iterdir():
        if script.is_file():
            read |= set(re.findall(r"\$\{?(PARTWAY_[A-Z0-9_]+)", script.read_text()))
    assert read  # the scripts do read some
    assert other_names(sorted(read)) == []
