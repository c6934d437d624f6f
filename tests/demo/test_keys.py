"""`lfr demo` needs no setup: without keys in the environment it makes the vault's KEK and
the log's signing key once, in the config directory (never a data directory), says so,
and reuses them on the next run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lfr.cli.demo import _demo_keys
from lfr.config import settings


def test_the_demo_makes_its_keys_once_outside_any_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "LFR_VAULT_KEK",
        "LFR_VAULT_KEK_FILE",
        "LFR_CHECKPOINT_KEY",
        "LFR_CHECKPOINT_KEY_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LFR_CONFIG_DIR", str(tmp_path / "config"))
    settings.cache_clear()
    try:
        _demo_keys()
        kek = Path(os.environ["LFR_VAULT_KEK_FILE"])
        signing = Path(os.environ["LFR_CHECKPOINT_KEY_FILE"])
        assert kek.parent == signing.parent == tmp_path / "config"
        assert kek.stat().st_mode & 0o077 == 0 and signing.stat().st_mode & 0o077 == 0
        said = capsys.readouterr().err
        assert "vault key-encryption key" in said and "checkpoint signing key" in said
        first = (kek.read_bytes(), signing.read_bytes())
        monkeypatch.delenv("LFR_VAULT_KEK_FILE")
        monkeypatch.delenv("LFR_CHECKPOINT_KEY_FILE")
        _demo_keys()  # a second run reuses them
        assert (kek.read_bytes(), signing.read_bytes()) == first
    finally:
        settings.cache_clear()
