"""Random sequences of check-ins, check-outs, authorisations, window edges, frames, officer
actions and crashes; after every step the log must keep lfr's promises."""

from __future__ import annotations

import threading
from datetime import timedelta

import hypothesis.strategies as st
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from lfr.kernel import ActorCrashedError, CommandRejected, Crash
from lfr.store.memory import InMemoryEventStore
from lfr.testing import ScriptedRecogniser
from lfr.vision.types import Frame, FrameAnalysis, Gallery
from tests.actors.harness import FRAME_RANGE, SITE, WATCHLIST, Harness, harness
from tests.actors.invariants import arming_at, check_log

ZONES = ("north-end", "london-road")
CAMERAS = ("ne-1", "ne-2", "lr-1")
ZONE_OF = {"ne-1": "north-end", "ne-2": "north-end", "lr-1": "london-road"}
PATROLS = ("p-1", "p-2", "p-3")
OFFICERS = ("PC A", "PC B", "PC C")
PEOPLE = ("alice", "bob", "carol", "lowq:dave")
ACTORS = (
    tuple(f"zone:{z}" for z in ZONES)
    + tuple(f"camera:{c}" for c in CAMERAS)
    + tuple(f"patrol:{p}" for p in PATROLS)
)


class WatchingRecogniser(ScriptedRecogniser):
    """Records every analysis made while the log says the camera's zone is disarmed."""

    def __init__(self) -> None:
        super().__init__()
        self.store: InMemoryEventStore | None = None
        self.violations: list[str] = []
        self._guard = threading.Lock()

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        assert self.store is not None
        camera = CAMERAS[frame.index // FRAME_RANGE]
        log = self.store.envelopes()
        if arming_at(log, ZONE_OF[camera], log[-1].seq if log else 0) is None:
            with self._guard:
                self.violations.append(f"{camera} analysed frame {frame.index} while disarmed")
        return super().analyse(frame, gallery)


class SiteMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._portal_cm = start_blocking_portal("asyncio")
        self.portal = self._portal_cm.__enter__()
        self.recogniser = WatchingRecogniser()
        config = dict(SITE, supervision={"intensity": 1000, "period_s": 60, "backoff_s": 0})
        self._site_cm = self.portal.wrap_async_context_manager(
            harness(config, recogniser=self.recogniser)
        )
        self.h: Harness = self._site_cm.__enter__()
        assert isinstance(self.h.store, InMemoryEventStore)
        self.store = self.h.store
        self.recogniser.store = self.store
        self.deployments: dict[str, list[str]] = {z: [] for z in ZONES}
        self.versions = 1

    def teardown(self) -> None:
        try:
            self._site_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def call(self, fn, *args, **kwargs):
        async def run():
            try:
                return await fn(*args, **kwargs)
            except CommandRejected:
                return None

        result = self.portal.call(run)
        self.portal.call(self.h.settle)
        return result

    @initialize(on_duty=st.booleans(), second_zone=st.booleans())
    def start_deployments(self, on_duty: bool, second_zone: bool) -> None:
        """Most runs start from an authorised deployment, so frames meet an armed zone."""
        self.authorise("north-end", 0, 7200)
        if second_zone:
            self.authorise("london-road", 30, 900)
        if on_duty:
            self.check_in("p-1", "north-end", 2)

    @rule(patrol=st.sampled_from(PATROLS), zone=st.sampled_from(ZONES), n=st.integers(1, 2))
    def check_in(self, patrol: str, zone: str, n: int) -> None:
        officers = tuple(f"{o} ({patrol})" for o in OFFICERS[:n])
        self.call(self.h.site.check_in, patrol, zone, officers)

    @rule(patrol=st.sampled_from(PATROLS))
    def check_out(self, patrol: str) -> None:
        self.call(self.h.site.check_out, patrol)

    @rule(
        zone=st.sampled_from(ZONES),
        start_in=st.sampled_from([0, 30, 600]),
        length=st.sampled_from([60, 900, 7200]),
    )
    def authorise(self, zone: str, start_in: int, length: int) -> None:
        now = self.h.clock.now()
        self.versions += 1
        version = f"wl-{self.versions}"
        self.h.watchlists.publish(version, WATCHLIST, published_at=now - timedelta(hours=1))
        dep = self.call(
            self.h.deploy,
            zone,
            starts_at=now + timedelta(seconds=start_in),
            ends_at=now + timedelta(seconds=start_in + length),
            watchlist_version=version,
        )
        if dep is not None:
            self.deployments[zone].append(dep.deployment_id)

    @precondition(lambda self: any(self.deployments.values()))
    @rule(zone=st.sampled_from(ZONES))
    def cancel(self, zone: str) -> None:
        if self.deployments[zone]:
            dep = self.deployments[zone][-1]
            self.call(self.h.site.cancel_deployment, zone, dep, cancelled_by="Insp. X")

    @rule(seconds=st.sampled_from([1, 10, 31, 61, 700]))
    def advance(self, seconds: int) -> None:
        self.portal.call(self.h.clock.advance, seconds)
        self.portal.call(self.h.settle)

    @rule(camera=st.sampled_from(CAMERAS), who=st.lists(st.sampled_from(PEOPLE), max_size=3))
    def frame(self, camera: str, who: list[str]) -> None:
        self.portal.call(self.h.frame, camera, *who)
        self.portal.call(self.h.settle)

    @rule(actor=st.sampled_from(ACTORS))
    def crash(self, actor: str) -> None:
        async def crash() -> None:
            ref = self.h.site.ref(actor)
            try:
                await ref.ask(Crash("state machine"))
            except ActorCrashedError:
                pass

        self.portal.call(crash)
        self.portal.call(self.h.settle)

    def _first_alert(self, patrol: str):
        state = self.portal.call(self.h.site.patrol_status, patrol)
        return next(iter(state.queue.values()), None), state

    @rule(patrol=st.sampled_from(PATROLS), officer=st.sampled_from(OFFICERS))
    def acknowledge(self, patrol: str, officer: str) -> None:
        alert, _ = self._first_alert(patrol)
        if alert is not None:
            self.call(self.h.site.acknowledge, patrol, alert.alert_id, officer)

    @rule(
        patrol=st.sampled_from(PATROLS),
        officer=st.sampled_from(OFFICERS),
        verdict=st.sampled_from(["confirmed", "false_alert"]),
    )
    def adjudicate(self, patrol: str, officer: str, verdict: str) -> None:
        alert, _ = self._first_alert(patrol)
        if alert is not None:
            self.call(self.h.site.adjudicate, patrol, alert.alert_id, officer, verdict)

    @rule(patrol=st.sampled_from(PATROLS), officer=st.sampled_from(OFFICERS))
    def engage(self, patrol: str, officer: str) -> None:
        alert, _ = self._first_alert(patrol)
        if alert is not None:
            self.call(self.h.site.record_engagement, patrol, alert.alert_id, officer, "arrested")

    @invariant()
    def log_keeps_promises(self) -> None:
        check_log(self.store.envelopes())
        assert not self.recogniser.violations, self.recogniser.violations


SiteMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_site_machine = SiteMachine.TestCase
