"""How the log's checkpoints are signed and witnessed: a site config's `[log]` section.

    [log]
    signing_key = "/etc/lfr/checkpoint_ed25519.pem"   # default: LFR_CHECKPOINT_KEY(_FILE)
    checkpoint_every = 1000
    checkpoint_interval_s = 10
    witness = "/srv/audit/town-centre.witness"        # or an http(s):// URL, or a list

Engine-neutral (no engine imports it but through `open_store`'s options).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["LogConfig"]


class LogConfig(BaseModel):
    """The log's signed checkpoints: the key that signs them, how often, and the witnesses
    each one is published to (a site config's `[log]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signing_key: Path | None = Field(
        default=None,
        description="PEM file of the checkpoint signing key, outside the data directory "
        "(default: LFR_CHECKPOINT_KEY, else the file LFR_CHECKPOINT_KEY_FILE names)",
    )
    checkpoint_every: int = Field(default=1000, ge=1, description="sign every N events")
    checkpoint_interval_s: float = Field(
        default=10.0, gt=0, description="sign once the oldest unsigned event is this old"
    )
    witness: tuple[str, ...] = Field(
        default=(),
        description="witnesses every signed checkpoint is published to: a file path outside "
        "the data directory (append-only, the auditor's) or an http(s):// URL of `lfr audit "
        "witness serve`; one or a list",
    )
    witness_key: Path | None = Field(
        default=None, description="a file witness's own signing key (default: <witness>.key)"
    )

    @field_validator("witness", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    def witness_targets(self) -> tuple[str, ...]:
        return self.witness
