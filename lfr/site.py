"""The site config: zones, cameras and patrols of one town centre, read from TOML.

Every model forbids unknown keys, so a typo fails at load time with the file, the field and
what is allowed (`lfr run --config site.toml` prints it). Names are slugs because they become
stream and actor names: `zone:north-end`, `camera:ne-1`, `patrol:p-7`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lfr.errors import ConfigError
from lfr.store.config import StoreConfig
from lfr.store.policy import LogConfig

__all__ = [
    "AlertsConfig",
    "CameraConfig",
    "ClusterConfig",
    "LogConfig",
    "MqttSiteConfig",
    "NodeConfig",
    "PatrolConfig",
    "RetentionConfig",
    "SiteConfig",
    "StoreConfig",
    "SupervisionConfig",
    "VisionConfig",
    "ZoneConfig",
    "load_site_config",
]

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneConfig(_Base):
    name: Slug = Field(description="slug used in stream names, e.g. north-end")
    title: str | None = Field(default=None, description="shown to people, e.g. North End")


class CameraConfig(_Base):
    id: Slug = Field(description="e.g. ne-1 (actor and stream camera:ne-1)")
    zone: Slug
    source: str = Field(
        description="rtsp://..., a video file path (looped), or scripted:alice,,bob|carol "
        "(frames separated by commas, people in a frame by |)"
    )
    analyse_fps: float | None = Field(default=10.0, gt=0, description="None: every frame")
    title: str | None = None


class PatrolConfig(_Base):
    id: Slug = Field(description="e.g. p-7 (actor and stream patrol:p-7)")
    callsign: str | None = None


class AlertsConfig(_Base):
    cooldown_s: float = Field(default=60.0, ge=0, description="one alert per subject per zone")
    reappear_gap_s: float = Field(
        default=10.0, ge=0, description="a subject out of view shorter than this is not new"
    )
    ack_deadline_s: float = Field(default=30.0, gt=0, description="escalate if not acknowledged")


class SupervisionConfig(_Base):
    intensity: int = Field(default=5, ge=0, description="restarts allowed within period_s")
    period_s: float = Field(default=60.0, gt=0)
    backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)


class VisionConfig(_Base):
    recogniser: Literal["pipeline", "scripted"] = Field(
        default="pipeline", description="pipeline: the ONNX face pipeline; scripted: test double"
    )
    decider: Literal["tracking", "per_frame"] = "tracking"
    workers: int = Field(default=1, ge=1, le=64, description="concurrent analyses (threads)")
    crop_vault: bool = Field(default=True, description="store match crops encrypted")


class RetentionConfig(_Base):
    enabled: bool = Field(
        default=True, description="shred biometric blobs past their retain_until while running"
    )
    interval_s: float = Field(default=3600.0, gt=0, description="seconds between retention runs")


class MqttSiteConfig(_Base):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    username: str | None = None
    password_env: str | None = Field(
        default=None, description="name of the environment variable holding the password"
    )
    tls: bool = False


class NodeConfig(_Base):
    """One machine of a multi-node site (`[[nodes]]`): the actors `lfr run --node NAME` runs
    there. Cameras usually sit on edge nodes near their video, zones and patrols on a core
    node; every camera, zone and patrol is placed on exactly one node."""

    name: Slug
    cameras: tuple[Slug, ...] = ()
    zones: tuple[Slug, ...] = ()
    patrols: tuple[Slug, ...] = ()

    def actors(self) -> frozenset[str]:
        """The actor names placed here (`camera:ne-1`, `zone:north-end`, `patrol:p-7`)."""
        return frozenset(
            [f"camera:{c}" for c in self.cameras]
            + [f"zone:{z}" for z in self.zones]
            + [f"patrol:{p}" for p in self.patrols]
        )


class ClusterConfig(_Base):
    """How the nodes of a multi-node site reach each other (`[cluster]`, used only with
    `[[nodes]]`): NATS request/reply on `lfr.<site>.actor.<actor>`."""

    url: str = Field(
        default="nats://127.0.0.1:4222", description="the NATS server(s), comma-separated"
    )
    creds: Path | None = Field(default=None, description="a NATS credentials file")
    request_timeout_s: float = Field(
        default=2.0, gt=0, description="one try of a message to another node; retried by id"
    )
    arming_lease_s: float = Field(
        default=3.0,
        gt=0,
        description="a camera whose zone is on another node disarms itself this long after "
        "its zone's last renewal (the zone renews every third of it)",
    )


class SiteConfig(_Base):
    name: Slug = "town-centre"
    title: str | None = None
    zones: tuple[ZoneConfig, ...] = Field(min_length=1)
    cameras: tuple[CameraConfig, ...] = ()
    patrols: tuple[PatrolConfig, ...] = ()
    alerts: AlertsConfig = AlertsConfig()
    supervision: SupervisionConfig = SupervisionConfig()
    store: StoreConfig = StoreConfig()
    log: LogConfig = Field(
        default=LogConfig(), description="checkpoint signing key, how often, witnesses"
    )
    vision: VisionConfig = VisionConfig()
    retention: RetentionConfig = RetentionConfig()
    mqtt: MqttSiteConfig | None = Field(
        default=None, description="alerts to officers over MQTT; absent: alerts are only logged"
    )
    nodes: tuple[NodeConfig, ...] = Field(
        default=(), description="where each actor runs; absent: all of them in one process"
    )
    cluster: ClusterConfig = ClusterConfig()

    @model_validator(mode="after")
    def _consistent(self) -> SiteConfig:
        for kind, ids in (
            ("zone", [z.name for z in self.zones]),
            ("camera", [c.id for c in self.cameras]),
            ("patrol", [p.id for p in self.patrols]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{kind} names must be unique; repeated: {dupes}")
        zones = {z.name for z in self.zones}
        for cam in self.cameras:
            if cam.zone not in zones:
                raise ValueError(
                    f"camera {cam.id!r} is in zone {cam.zone!r}, which is not one of "
                    f"{sorted(zones)}"
                )
        if self.nodes:
            self._placed_once()
        return self

    def _placed_once(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError(f"node names must be unique: {names}")
        everyone = {f"camera:{c.id}" for c in self.cameras}
        everyone |= {f"zone:{z.name}" for z in self.zones}
        everyone |= {f"patrol:{p.id}" for p in self.patrols}
        placed: dict[str, str] = {}
        for node in self.nodes:
            for actor in node.actors():
                if actor not in everyone:
                    raise ValueError(f"node {node.name!r} names {actor}, which the site lacks")
                if actor in placed:
                    raise ValueError(f"{actor} is on nodes {placed[actor]!r} and {node.name!r}")
                placed[actor] = node.name
        missing = sorted(everyone - placed.keys())
        if missing:
            raise ValueError(f"[[nodes]] place every actor on one node; not placed: {missing}")

    def node(self, name: str) -> NodeConfig:
        """:raises ConfigError: no `[[nodes]]` entry is called `name`."""
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes) or "none ([[nodes]] is empty)"
        raise ConfigError(f"no node {name!r} in the site config; nodes: {known}")

    def cameras_of(self, zone: str) -> tuple[CameraConfig, ...]:
        return tuple(c for c in self.cameras if c.zone == zone)


def load_site_config(path: Path | str) -> SiteConfig:
    """Read and validate a site TOML file.

    :raises ConfigError: the file is missing, not TOML, or breaks the schema (names the field).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such site config; copy ops/site.example.toml") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return SiteConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
