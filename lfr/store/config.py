"""Which engine holds the log, as a site config's `[store]` names it:

    [store]
    engine = "sqlite"                    # default: <data_dir>/events.sqlite
    # engine = "nats"                    # a JetStream stream (replicated in production)
    # url = "nats://nats-1:4222,nats://nats-2:4222"
    # stream = "LFR_EVENTS"
    # partition = "north-end"            # this node's partition of a partitioned log: the
    #                                    # stream <stream>-<partition>, own chain and tail
    # creds = "/etc/lfr/lfr.creds"       # or user + password_env, or token_env
    # engine = "memory"                  # tests only: nothing is durable

    store = await open_configured_store(config.store, data_dir=..., log=config.log)

The signing key, checkpoint cadence and witnesses are `[log]` (`LogConfig`), the same for
every engine. The NATS engine (and its client library) is imported only when a config asks
for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from lfr.store.base import EventStore, StoreError
from lfr.store.heads import check_partition_name
from lfr.store.policy import LogConfig

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lfr.store.witness import Witness

__all__ = [
    "LogConfig",
    "StoreConfig",
    "StoreConfigAdapter",
    "open_configured_store",
]

Engine = Literal["sqlite", "nats", "memory"]


class StoreConfig(BaseModel):
    """Where the log is kept: a site config's `[store]` (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Engine = Field(default="sqlite", description="sqlite | nats | memory (tests only)")
    data_dir: Path | None = Field(
        default=None,
        description="the site's data directory (SQLite log, vault, views; default: LFR_DATA_DIR)",
    )
    url: str = Field(
        default="nats://127.0.0.1:4222",
        description="nats: the server(s), comma-separated nats:// URLs",
    )
    stream: str = Field(
        default="LFR_EVENTS", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="nats: the stream"
    )
    prefix: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="nats: the stream's subjects are <prefix>.> (default: lfr.<stream in "
        "lower case>; two streams never share subjects)",
    )
    partition: str | None = Field(
        default=None,
        description="nats: this writer's partition of the partitioned log <stream> (its own "
        "stream <stream>-<partition>, hash chain and tail; every checkpoint also stated as "
        "the partition's head in <stream>-heads)",
    )
    replicas: int = Field(default=1, ge=1, le=5, description="nats: a new stream's replicas")
    creds: Path | None = Field(default=None, description="nats: a .creds file (decentralised)")
    user: str | None = Field(default=None, description="nats: user (password in password_env)")
    password_env: str | None = Field(
        default=None, description="nats: the environment variable holding the user's password"
    )
    token_env: str | None = Field(
        default=None, description="nats: the environment variable holding an auth token"
    )
    checkpoint_every: int | None = Field(
        default=None, ge=1, description="sign every N events (default: [log] checkpoint_every)"
    )

    @field_validator("partition")
    @classmethod
    def _partition_name(cls, name: str | None) -> str | None:
        return None if name is None else check_partition_name(name)

    def subject_prefix(self) -> str:
        return self.prefix or f"lfr.{self.stream.lower()}"

    def log_stream(self) -> str:
        """The JetStream stream holding this writer's log: the partition's when partitioned
        (`lfr.store.nats.partition_stream`'s rule)."""
        return f"{self.stream}-{self.partition}" if self.partition else self.stream

    def describe(self) -> str:
        """The log's place in words (no credentials)."""
        if self.engine == "nats":
            part = f" partition {self.partition}" if self.partition else ""
            return f"nats {self.url} stream {self.stream}{part}"
        return self.engine

    def secret(self, name: str | None) -> str | None:
        """The value of the environment variable `name` (password, token).

        :raises StoreError: it is named but not set.
        """
        if name is None:
            return None
        value = os.environ.get(name)
        if value is None:
            raise StoreError(f"[store] names the environment variable {name}, which is not set")
        return value


StoreConfigAdapter: TypeAdapter[StoreConfig] = TypeAdapter(StoreConfig)


async def open_configured_store(
    config: StoreConfig, *, data_dir: Path | None = None, log: LogConfig | None = None
) -> EventStore:
    """Open the engine the config names, its checkpoints signed and witnessed as `log` says
    (default: the key from the environment, no witness).

    :raises CheckpointKeyError: no signing key, or one inside the data directory.
    :raises StoreUnavailableError: the NATS server cannot be reached.
    """
    log = log or LogConfig()
    data_dir = data_dir or config.data_dir
    if config.partition is not None and config.engine != "nats":
        raise StoreError(
            f"[store] partition: only the nats engine is partitioned, not {config.engine}"
        )
    if config.engine == "memory":
        from lfr.store.memory import InMemoryEventStore

        return InMemoryEventStore()
    if config.engine == "sqlite":
        from lfr.store.sqlite import open_store

        if data_dir is None:
            raise StoreError("the SQLite engine needs a data directory ([store] data_dir)")
        return await open_store(data_dir, checkpoint_every=config.checkpoint_every, log=log)
    from lfr.store import checkpoint as ckpt
    from lfr.store.nats import NatsEventStore, Partition
    from lfr.store.witness import witnesses_of

    def prepare() -> tuple[Ed25519PrivateKey, list[Witness]]:
        key = ckpt.load_signing_key(data_dir, path=log.signing_key)
        witnesses = witnesses_of(log.witness_targets(), key_path=log.witness_key, data_dir=data_dir)
        return key, witnesses

    key, witnesses = await anyio.to_thread.run_sync(prepare)
    return await NatsEventStore.open(
        config.url,
        stream_name=config.stream,
        prefix=config.subject_prefix(),
        replicas=config.replicas,
        signing_key=key,
        checkpoint_every=config.checkpoint_every or log.checkpoint_every,
        checkpoint_interval_s=log.checkpoint_interval_s,
        witnesses=witnesses,
        creds=config.creds,
        user=config.user,
        password=config.secret(config.password_env),
        token=config.secret(config.token_env),
        partition=(
            Partition(config.stream, config.subject_prefix(), config.partition)
            if config.partition
            else None
        ),
    )
