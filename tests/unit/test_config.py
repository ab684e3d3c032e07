from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from partway.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partway.toml"
    path.write_text(text)
    return path


def test_precedence_flags_over_env_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path, 'port = 9001\nlog_level = "warning"\nfsync = false\n[storage]\nlocal = "/x"\n'
    )
    settings = load_settings(config)
    assert (settings.port, settings.log_level, settings.fsync) == (9001, "warning", False)
    assert settings.storage == {"local": "/x"}
    monkeypatch.setenv("PARTWAY_PORT", "9002")
    assert load_settings(config).port == 9002
    assert load_settings(config, port=9003).port == 9003
    assert load_settings(config).log_level == "warning"
    assert load_settings().port == 9002


def test_unknown_keys_and_bad_values_stop_startup(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="colour"):
        load_settings(write(tmp_path, 'colour = "red"\n'))
    with pytest.raises(ValidationError, match="port"):
        load_settings(write(tmp_path, "port = 70000\n"))
    with pytest.raises(ValidationError, match="log_level"):
        load_settings(write(tmp_path, 'log_level = "loud"\n'))
    with pytest.raises(ValueError, match="not valid TOML"):
        load_settings(write(tmp_path, "port = \n"))
    with pytest.raises(ValueError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_cli_reports_invalid_settings_clearly(tmp_path: Path) -> None:
    config = write(tmp_path, "max_parts = -1\nsurprise = 1\n")
    out = subprocess.run(
        [sys.executable, "-m", "partway", "config", "show", "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "invalid settings" in out.stderr and "max_parts" in out.stderr
    assert "surprise" in out.stderr and "Traceback" not in out.stderr


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        'database_url = "postgresql://partway:hunter2@db.internal/partway"\n'
        'default_service = "s3"\n'
        '[storage]\ns3 = "s3://AKIA:topsecret@bucket/prefix"\n',
    )
    env = {**os.environ, "PARTWAY_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(
        [sys.executable, "-m", "partway", "config", "show", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    shown = json.loads(out.stdout)
    assert "hunter2" not in out.stdout and "topsecret" not in out.stdout
    assert shown["database_url"] == "postgresql://partway:***@db.internal/partway"
    assert shown["storage"]["s3"] == "s3://AKIA:***@bucket/prefix"
    assert shown["data_dir"] == str(tmp_path / "data")


def test_the_example_config_is_valid() -> None:
    settings = load_settings(ROOT / "deploy" / "partway.toml")
    assert settings.storage == {"local": "/var/lib/partway"} and settings.log_format == "json"


def test_client_commands_start_without_the_settings_model() -> None:
    """`partway upload` is timed from process start in the benchmark: importing pydantic and
    pydantic-settings cost it ~0.3 s of a ~0.8 s upload. Client variables alone must not
    bring them in; anything else PARTWAY_* still gets checked."""
    script = (
        "import sys\n"
        "from partway.cli import main\n"
        "try:\n"
        "    main(['upload', '/nonexistent/file.bin'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('pydantic' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTWAY_")}
    client_env = {**env, "PARTWAY_SERVER": "http://x", "PARTWAY_API_KEY": "k"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=client_env, capture_output=True, text=True
    )
    assert out.stdout.splitlines()[-1] == "False", out.stderr
    typo = {**env, "PARTWAY_API_KYE": "k"}
    out = subprocess.run([sys.executable, "-c", script], env=typo, capture_output=True, text=True)
    assert out.stdout.splitlines()[-1] == "True"
    assert "PARTWAY_API_KYE" in out.stderr and "PARTWAY_API_KEY" in out.stderr
