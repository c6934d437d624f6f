"""Settings read from the environment (`LFR_*`), with embedded defaults that need no service.

Everything that touches the file system goes through here, so the project runs wherever its
data lives: `LFR_SHARED` points at the shared photo and video folders (default `../shared`),
`LFR_DATA_DIR` at the site's data directory, `LFR_MODEL_DIR` at the model cache,
`LFR_CONFIG_DIR` at per-user config, `LFR_WATCHLIST_MAX_EXPIRY_DAYS` bounds how far ahead a
watchlist entry may expire (default 31). The vault's key-encryption key is read by `lfr.vault`
itself (`LFR_VAULT_KEK` / `LFR_VAULT_KEK_FILE`), at each open.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LFR_", extra="ignore")

    shared: Path = Field(
        default=Path("../shared"), description="folder with faces/, video/, scenes/"
    )
    data_dir: Path = Field(default=Path("lfr-data"), description="the site's data directory")
    model_dir: Path = Field(
        default=Path.home() / ".cache" / "lfr" / "models", description="model pack cache"
    )

    config_dir: Path = Field(
        default=Path.home() / ".config" / "lfr",
        description="per-user config, outside every data directory (the demo's vault KEK)",
    )

    watchlist_max_expiry_days: int = Field(
        default=31,
        gt=0,
        le=3650,
        description="the furthest ahead a watchlist entry may expire, in days (policy: a "
        "person is put on a list for a deployment's weeks, not for ever; renew to keep them)",
    )

    @property
    def faces_dir(self) -> Path:
        return self.shared / "faces"

    @property
    def video_dir(self) -> Path:
        return self.shared / "video"


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
