"""`lfr demo` needs no setup: without keys in the environment it makes the vault's KEK and
the log's signing key once, in the config directory (never a data directory), says so,
and reuses them on the next run."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from lfr.cli.demo import _demo_keys
from lfr.config import settings

KEYS = ("LFR_VAULT_KEK", "LFR_VAULT_KEK_FILE", "LFR_CHECKPOINT_KEY", "LFR_CHECKPOINT_KEY_FILE")


def test_the_demo_makes_its_keys_once_outside_any_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the whole environment is restored on exit, whatever `_demo_keys` set in it
    try:
        _run(tmp_path, capsys)
    finally:
        settings.cache_clear()  # the suite's settings again, from its own environment


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with mock.patch.dict(os.environ):
        for name in KEYS:
            os.environ.pop(name, None)
        os.environ["LFR_CONFIG_DIR"] = str(tmp_path / "config")
        settings.cache_clear()
        _demo_keys()
        kek = Path(os.environ["LFR_VAULT_KEK_FILE"])
        signing = Path(os.environ["LFR_CHECKPOINT_KEY_FILE"])
        assert kek.parent == signing.parent == tmp_path / "config"
        assert kek.stat().st_mode & 0o077 == 0 and signing.stat().st_mode & 0o077 == 0
        said = capsys.readouterr().err
        assert "vault key-encryption key" in said and "checkpoint signing key" in said
        first = (kek.read_bytes(), signing.read_bytes())
        for name in KEYS:
            os.environ.pop(name, None)
        _demo_keys()  # a second run reuses them
        assert (kek.read_bytes(), signing.read_bytes()) == first
