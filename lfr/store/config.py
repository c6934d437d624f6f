"""Which engine holds the log, as a site config names it: `engine: sqlite` or `engine: nats`.

    store = await open_configured_store(StoreConfigAdapter.validate_python(site["store"]))

The NATS engine (and its client library) is imported only when a config asks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lfr.store.base import EventStore
from lfr.store.policy import LogConfig

__all__ = [
    "LogConfig",
    "NatsStoreConfig",
    "SqliteStoreConfig",
    "StoreConfig",
    "StoreConfigAdapter",
    "open_configured_store",
]


class SqliteStoreConfig(BaseModel):
    """The embedded default: `<data_dir>/events.sqlite` (its signing key is not beside it:
    see `LogConfig`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Literal["sqlite"] = "sqlite"
    data_dir: Path
    checkpoint_every: int = Field(default=1000, ge=1)


class NatsStoreConfig(BaseModel):
    """A JetStream stream (replicated in production)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Literal["nats"]
    url: str = "nats://127.0.0.1:4222"
    stream_name: str = "LFR_EVENTS"
    prefix: str = "lfr.events"
    replicas: int = Field(default=1, ge=1, le=5)


StoreConfig = Annotated[SqliteStoreConfig | NatsStoreConfig, Field(discriminator="engine")]
StoreConfigAdapter: TypeAdapter[SqliteStoreConfig | NatsStoreConfig] = TypeAdapter(StoreConfig)


async def open_configured_store(config: SqliteStoreConfig | NatsStoreConfig) -> EventStore:
    """Open the engine the config names."""
    if isinstance(config, SqliteStoreConfig):
        from lfr.store.sqlite import open_store

        return await open_store(config.data_dir, checkpoint_every=config.checkpoint_every)
    from lfr.store.nats import NatsEventStore

    return await NatsEventStore.open(
        config.url, stream_name=config.stream_name, prefix=config.prefix, replicas=config.replicas
    )
