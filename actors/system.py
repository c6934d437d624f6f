# One module past 450 lines on purpose: the supervision tree and the command interface
# over it are one concept (each command is an ask to an actor the tree built).
"""A site's supervision tree and command interface: config + parts -> supervised actors.

`actors.site.open_site` is the one composition root that builds the parts (store, vault,
catalog, recognition, alert services) and runs this tree; tests that bring every part
themselves may call `running_site` directly.

    site:<name>                 root supervisor
    ├── patrols                 PatrolActor per patrol (patrol:<id>)
    └── zone:<name>/sup         per zone: CameraActor per camera (camera:<id>), then ZoneActor

A crash restarts one actor (one-for-one, backoff, budget); a zone that spends its budget
escalates to the root, which restarts that zone's subtree; the root escalating ends the run.
Every restart is recorded as `ActorRestarted` on the `site:supervision` stream.

`Site` is the command interface the HTTP API, MQTT handlers, the CLI and the demo call;
each method is an `ask` to the actor owning the state, and a broken rule raises
`CommandRejected` (with a `code`) unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import anyio
from anyio.abc import TaskStatus

from actors.camera import CameraActor, CameraSettings, CropVault
from actors.messages import (
    Acknowledge,
    Adjudicate,
    AuthoriseDeployment,
    CameraStatus,
    CancelDeployment,
    ChangeThreshold,
    CheckIn,
    CheckOut,
    GetStatus,
    RecordEngagement,
    Settle,
)
from actors.patrol import PatrolActor
from actors.patrol_rules import PatrolState
from actors.zone import ZoneActor, ZoneSettings, ZoneStatus
from actors.zone_rules import Deployment, ModelPack
from lfr.alerts import AlertSink, InMemoryAlertSink
from lfr.catalog import WatchlistCatalog
from lfr.clock import Clock, SystemClock
from lfr.kernel import (
    ActorCell,
    ActorRef,
    ActorStoppedError,
    Registry,
    RestartInfo,
    RestartPolicy,
    Sealing,
    Supervisor,
)
from lfr.nodes import NodeLink, NodeServer
from lfr.projections import Views
from lfr.site import CameraConfig, SiteConfig
from lfr.store.base import EventStore
from lfr.transport.services import AlertServices
from lfr.vault import BiometricVault
from lfr.video.recognition import CameraRecognition, shared_recognition
from lfr.vision.types import FrameSource, Recogniser
from schemas.envelope import NewEvent
from schemas.events import ActorRestarted
from schemas.streams import (
    SUPERVISION_STREAM,
    camera_stream,
    patrol_stream,
    site_stream,
    zone_stream,
    zone_supervisor,
)

__all__ = ["SUPERVISION_STREAM", "Site", "SiteParts", "build_site", "running_site"]


@dataclass
class SiteParts:
    """Everything a site needs from outside; tests pass doubles, `lfr run` the real ones.

    `recognition` is the one seam through which a camera gets its recogniser and deciders
    (`lfr.video.recognition.camera_recognition` for the real pipeline, as `open_site`
    builds it). `recogniser` is a shorthand for test doubles: one stateless recogniser
    shared by every camera, deciding frame by frame (`shared_recognition`).
    """

    store: EventStore
    catalog: WatchlistCatalog
    source_factory: Callable[[CameraConfig], FrameSource]
    recognition: Callable[[CameraConfig], CameraRecognition] | None = None
    recogniser: Recogniser | None = None
    clock: Clock = field(default_factory=SystemClock)
    sink: AlertSink = field(default_factory=InMemoryAlertSink)
    vault: CropVault | None = None
    ask_timeout_s: float = 10.0
    #: seals the personal fields of what actors append (`lfr.sealing.Sealer`); None: clear
    sealer: Sealing | None = None
    #: the face model pack the cameras run, recorded with every `DeploymentAuthorised`
    model_pack: ModelPack | None = None
    #: this process is node `node` of the config's `[[nodes]]`: it runs only the actors
    #: placed there and reaches the others through `link` (None: every actor, in memory)
    node: str | None = None
    link: NodeLink | None = None

    def __post_init__(self) -> None:
        if (self.recognition is None) == (self.recogniser is None):
            raise TypeError("SiteParts: give either recognition or a shared recogniser")
        if (self.node is None) != (self.link is None):
            raise TypeError("SiteParts: a node needs its link, and a link its node")

    @staticmethod
    def model_pack_of(config: SiteConfig) -> ModelPack | None:
        """The face model pack `config`'s recogniser runs: the verified default pack the
        pipeline loads (`lfr.vision.pack.DEFAULT_PACK`), None for the scripted recogniser."""
        if config.vision.recogniser == "scripted":
            return None
        from lfr.vision.pack import DEFAULT_PACK

        return ModelPack(DEFAULT_PACK.npm_spec, dict(DEFAULT_PACK.files))

    def recognition_of(self, camera: CameraConfig) -> CameraRecognition:
        """What `camera` analyses with (built afresh for each incarnation of its actor)."""
        if self.recognition is not None:
            return self.recognition(camera)
        assert self.recogniser is not None  # (__post_init__)
        return shared_recognition(self.recogniser, camera.id)


class Site:
    """A running (or ready to run) site: its supervision tree and its command interface.

    `vault` and `alerts` are the site's biometric vault and MQTT alert services when
    `open_site` built them (None for a site without them: tests, `lfr run` without MQTT);
    `views` is the site's read model, which `open_site` keeps following the log (None for
    a tree run without it: tests that call `running_site` themselves).
    """

    def __init__(
        self,
        config: SiteConfig,
        parts: SiteParts,
        *,
        vault: BiometricVault | None = None,
        alerts: AlertServices | None = None,
        views: Views | None = None,
    ) -> None:
        self.config = config
        self.parts = parts
        self.vault = vault
        self.alerts = alerts
        self.views = views
        self.registry = Registry()
        sup = config.supervision
        self.policy = RestartPolicy(
            intensity=sup.intensity,
            period_s=sup.period_s,
            backoff_s=sup.backoff_s,
            max_backoff_s=sup.max_backoff_s,
        )
        self.root = self._supervisor(site_stream(config.name))
        self._camera_cells: dict[str, ActorCell] = {}
        #: the actors this process runs (None: all of them); the others are `RemoteRef`s
        self.local: frozenset[str] | None = None
        if parts.node is not None:
            self.local = config.node(parts.node).actors()
        self.server: NodeServer | None = None
        # one authorisation at a time: a zone checks the others' deployments in the log,
        # which must not change between its check and its append
        self._authorising = anyio.Lock()
        self._build()

    def _supervisor(self, name: str) -> Supervisor:
        return Supervisor(
            name,
            clock=self.parts.clock,
            policy=self.policy,
            registry=self.registry,
            on_restart=self._record_restart,
        )

    def _here(self, name: str) -> bool:
        return self.local is None or name in self.local

    def _build(self) -> None:
        cfg, parts = self.config, self.parts
        lease = cfg.cluster.arming_lease_s if parts.node is not None else None
        zones = frozenset(z.name for z in cfg.zones)
        patrol_ids = tuple(p.id for p in cfg.patrols)
        limiter = anyio.CapacityLimiter(cfg.vision.workers)
        zone_settings = ZoneSettings(
            alert_cooldown_s=cfg.alerts.cooldown_s,
            reappear_gap_s=cfg.alerts.reappear_gap_s,
            ack_deadline_s=cfg.alerts.ack_deadline_s,
            camera_ask_timeout_s=parts.ask_timeout_s,
            arming_lease_s=lease,
        )

        patrols = self._supervisor("patrols")
        for p in cfg.patrols:
            if not self._here(patrol_stream(p.id)):
                continue
            patrols.spawn(
                patrol_stream(p.id),
                _factory(
                    PatrolActor,
                    p.id,
                    store=parts.store,
                    clock=parts.clock,
                    registry=self.registry,
                    zones=zones,
                    zone_ask_timeout_s=parts.ask_timeout_s,
                    sealer=parts.sealer,
                ),
            )
        self.root.add(patrols)

        for z in cfg.zones:
            sup = self._supervisor(zone_supervisor(z.name))
            cameras = cfg.cameras_of(z.name)
            remote_zone = not self._here(zone_stream(z.name))
            here = [c for c in cameras if self._here(camera_stream(c.id))]
            for cam in here:
                sup.spawn(
                    camera_stream(cam.id),
                    _camera_factory(self, cam, limiter, lease if remote_zone else None),
                    mailbox_size=64,
                )
                self._camera_cells[cam.id] = sup.cell(camera_stream(cam.id))
            if remote_zone:
                if here:
                    self.root.add(sup)
                continue
            sup.spawn(
                zone_stream(z.name),
                _factory(
                    ZoneActor,
                    z.name,
                    cameras=tuple(c.id for c in cameras),
                    patrols=patrol_ids,
                    store=parts.store,
                    clock=parts.clock,
                    registry=self.registry,
                    catalog=parts.catalog,
                    sink=parts.sink,
                    settings=zone_settings,
                    other_zones=tuple(n for n in sorted(zones) if n != z.name),
                    sealer=parts.sealer,
                    model_pack=parts.model_pack,
                ),
                mailbox_size=1024,
            )
            self.root.add(sup)
        if parts.link is not None:
            assert self.local is not None
            everyone = [patrol_stream(p.id) for p in cfg.patrols]
            everyone += [camera_stream(c.id) for c in cfg.cameras]
            everyone += [zone_stream(z.name) for z in cfg.zones]
            for name in everyone:
                if name not in self.local:
                    self.registry.register(parts.link.ref(name))
            self.server = NodeServer(
                parts.link, {name: self.registry.lookup(name) for name in sorted(self.local)}
            )

    async def _record_restart(self, info: RestartInfo) -> None:
        event = ActorRestarted(
            actor=info.child,
            error_type=info.error_type,
            restarts_in_period=info.restarts_in_period,
            backoff_s=info.backoff_s,
        )
        await self.parts.store.append(
            SUPERVISION_STREAM, [NewEvent(event=event, occurred_at=self.parts.clock.now())]
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start every actor (ready = state rebuilt) and supervise until cancelled.

        :raises EscalationError: the root's restart budget is spent; the site stops.
        """
        try:
            if self.parts.link is None or self.server is None:
                await self.root.run(task_status=task_status)
                return
            async with anyio.create_task_group() as tg:
                # the node's link and server first, so its actors reach the others as they start
                await tg.start(self.parts.link.run)
                await tg.start(self.server.run)
                await self.root.run(task_status=task_status)
                tg.cancel_scope.cancel()
        finally:
            self.root.close()

    @property
    def store(self) -> EventStore:
        return self.parts.store

    # --- addressing ---------------------------------------------------------------------------

    def ref(self, name: str) -> ActorRef:
        """The actor `zone:<z>`, `camera:<c>` or `patrol:<p>`.

        :raises UnknownActorError: no such actor on this site.
        """
        return self.registry.lookup(name)

    def camera_actor(self, camera: str) -> CameraActor | None:
        """The running incarnation of camera `camera` (None before it starts): diagnostics and
        tests, never for commands (those go through `ref`)."""
        actor = self._camera_cells[camera].actor
        return actor if isinstance(actor, CameraActor) else None

    async def _ask(self, name: str, message: object) -> Any:
        """Ask `name`; a letter refused while its subtree restarts was never handled, so it
        is sent again until the ask timeout."""
        ref = self.ref(name)
        timeout = self.parts.ask_timeout_s
        with anyio.move_on_after(timeout):
            while True:
                try:
                    return await ref.ask(message, timeout_s=timeout)
                except ActorStoppedError:
                    await anyio.sleep(0.005)
        raise ActorStoppedError(name)

    # --- commands -----------------------------------------------------------------------------

    async def authorise_deployment(
        self,
        zone: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        watchlist_version: str,
        threshold: float,
        legal_basis: str,
        reason: str,
        authorised_by: str,
        cameras: tuple[str, ...] | None = None,
        deployment_id: str | None = None,
    ) -> Deployment:
        """Authorise LFR in `zone` (cameras by id, e.g. `ne-1`; None: all of the zone's).

        :raises CommandRejected: codes missing_field, window_invalid, window_past,
            threshold_invalid, unknown_camera, watchlist_unknown, watchlist_used,
            watchlist_held (another zone's deployment holds the version), watchlist_stale,
            deployment_overlap, duplicate_deployment.
        """
        cmd = AuthoriseDeployment(
            starts_at=starts_at,
            ends_at=ends_at,
            watchlist_version=watchlist_version,
            threshold=threshold,
            legal_basis=legal_basis,
            reason=reason,
            authorised_by=authorised_by,
            cameras=cameras,
        )
        if deployment_id is not None:
            cmd = _replace(cmd, deployment_id=deployment_id)
        async with self._authorising:
            result: Deployment = await self._ask(zone_stream(zone), cmd)
        return result

    async def cancel_deployment(
        self, zone: str, deployment_id: str, *, cancelled_by: str, note: str | None = None
    ) -> Deployment:
        """:raises CommandRejected: unknown_deployment, missing_field."""
        result: Deployment = await self._ask(
            zone_stream(zone), CancelDeployment(deployment_id, cancelled_by, note)
        )
        return result

    async def change_threshold(
        self, zone: str, deployment_id: str, *, new_threshold: float, changed_by: str, reason: str
    ) -> Deployment:
        """:raises CommandRejected: unknown_deployment, threshold_invalid, missing_field."""
        result: Deployment = await self._ask(
            zone_stream(zone), ChangeThreshold(deployment_id, new_threshold, changed_by, reason)
        )
        return result

    async def check_in(
        self, patrol_id: str, zone: str, officers: tuple[str, ...], callsign: str | None = None
    ) -> PatrolState:
        """Put a patrol on duty in `zone`; returns once the zone has (re)armed.

        :raises CommandRejected: unknown_zone, officers_invalid, already_on_duty.
        """
        result: PatrolState = await self._ask(
            patrol_stream(patrol_id), CheckIn(zone, tuple(officers), callsign)
        )
        return result

    async def check_out(
        self,
        patrol_id: str,
        reason: Literal["end_of_duty", "reassigned", "supervisor"] = "end_of_duty",
    ) -> PatrolState:
        """:raises CommandRejected: not_on_duty."""
        result: PatrolState = await self._ask(patrol_stream(patrol_id), CheckOut(reason))
        return result

    async def acknowledge(self, patrol_id: str, alert_id: str, officer: str) -> PatrolState:
        """:raises CommandRejected: unknown_alert, missing_field, not_on_patrol (`officer`
        is not checked in on the patrol)."""
        result: PatrolState = await self._ask(
            patrol_stream(patrol_id), Acknowledge(alert_id, officer)
        )
        return result

    async def adjudicate(
        self,
        patrol_id: str,
        alert_id: str,
        officer: str,
        verdict: Literal["confirmed", "false_alert"],
        note: str | None = None,
    ) -> PatrolState:
        """:raises CommandRejected: unknown_alert, already_adjudicated, already_engaged,
        not_on_patrol (`officer` is not checked in on the patrol)."""
        result: PatrolState = await self._ask(
            patrol_stream(patrol_id), Adjudicate(alert_id, officer, verdict, note)
        )
        return result

    async def record_engagement(
        self,
        patrol_id: str,
        alert_id: str,
        engagement_officer: str,
        outcome: Literal[
            "arrested", "spoken_to", "safeguarded", "not_located", "confirmed_false", "other"
        ],
        note: str | None = None,
    ) -> PatrolState:
        """:raises CommandRejected: needs_two_confirmations, unknown_alert, already_engaged."""
        result: PatrolState = await self._ask(
            patrol_stream(patrol_id), RecordEngagement(alert_id, engagement_officer, outcome, note)
        )
        return result

    # --- views --------------------------------------------------------------------------------

    async def zone_status(self, zone: str) -> ZoneStatus:
        result: ZoneStatus = await self._ask(zone_stream(zone), GetStatus())
        return result

    async def patrol_status(self, patrol_id: str) -> PatrolState:
        result: PatrolState = await self._ask(patrol_stream(patrol_id), GetStatus())
        return result

    async def camera_status(self, camera: str) -> CameraStatus:
        result: CameraStatus = await self._ask(camera_stream(camera), GetStatus())
        return result

    async def settle_camera(self, camera: str) -> CameraStatus:
        """Wait until the camera has no frame waiting or in analysis (tests, demos)."""
        result: CameraStatus = await self._ask(camera_stream(camera), Settle())
        return result


def _replace(cmd: AuthoriseDeployment, **changes: Any) -> AuthoriseDeployment:
    import dataclasses

    return dataclasses.replace(cmd, **changes)


def _factory(cls: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: cls(*args, **kwargs)


def _camera_factory(
    site: Site, cam: CameraConfig, limiter: anyio.CapacityLimiter, lease_s: float | None
) -> Callable[[], CameraActor]:
    parts = site.parts

    def build() -> CameraActor:
        return CameraActor(
            cam.id,
            zone=cam.zone,
            source_factory=lambda: parts.source_factory(cam),
            recognition=parts.recognition_of(cam),
            load_gallery=parts.catalog.load_gallery,
            store=parts.store,
            clock=parts.clock,
            registry=site.registry,
            limiter=limiter,
            vault=parts.vault,
            settings=CameraSettings(analyse_fps=cam.analyse_fps, arming_lease_s=lease_s),
            sealer=parts.sealer,
        )

    return build


def build_site(
    config: SiteConfig,
    parts: SiteParts,
    *,
    vault: BiometricVault | None = None,
    alerts: AlertServices | None = None,
    views: Views | None = None,
) -> Site:
    """A site ready to `run` (nothing started yet)."""
    return Site(config, parts, vault=vault, alerts=alerts, views=views)


@asynccontextmanager
async def running_site(
    config: SiteConfig,
    parts: SiteParts,
    *,
    vault: BiometricVault | None = None,
    alerts: AlertServices | None = None,
    views: Views | None = None,
) -> AsyncIterator[Site]:
    """Start a site, yield it once every actor is ready, stop it on exit.

    :raises EscalationError: (on exit) the site failed beyond its restart budget.
    """
    site = build_site(config, parts, vault=vault, alerts=alerts, views=views)
    async with anyio.create_task_group() as tg:
        await tg.start(site.run)
        try:
            yield site
        finally:
            tg.cancel_scope.cancel()
