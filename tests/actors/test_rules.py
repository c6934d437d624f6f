"""The pure cores, without an event loop: arming, deduplication, two-officer engagement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
import pytest
from hypothesis import given

from actors import patrol_rules as pr
from actors import zone_rules as zr
from actors.messages import Adjudicate, AuthoriseDeployment, RecordEngagement
from lfr.catalog import EntryInfo, PublishedWatchlist
from lfr.kernel import CommandRejected
from schemas.events import (
    AlertRaised,
    BiometricPurged,
    DeploymentArmed,
    DeploymentDisarmed,
    DeploymentEnded,
    FaceMatched,
    PatrolCheckedIn,
    PatrolCheckedOut,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PUB = PublishedWatchlist("wl-1", "default", 2, T0 - timedelta(hours=1))


def authorise(start_s: int = 0, length_s: int = 3600, dep: str = "dep-2") -> AuthoriseDeployment:
    return AuthoriseDeployment(
        starts_at=T0 + timedelta(seconds=start_s),
        ends_at=T0 + timedelta(seconds=start_s + length_s),
        watchlist_version="wl-1",
        threshold=0.6,
        legal_basis="basis",
        reason="reason",
        authorised_by="Supt. S",
        deployment_id=dep,
    )


def authorised(state: zr.ZoneState, start_s: int, length_s: int) -> zr.ZoneState:
    cmd = authorise(start_s, length_s, "dep-1")
    for e in zr.decide_authorise(state, cmd, T0, PUB):
        state = zr.evolve(state, e, T0)
    return state


steps = st.lists(
    st.tuples(st.sampled_from(["in", "out", "tick"]), st.sampled_from(["p-1", "p-2"])),
    max_size=30,
)


@given(start=st.integers(0, 100), length=st.integers(1, 200), ops=steps)
def test_armed_iff_window_and_patrol(start: int, length: int, ops) -> None:
    state = authorised(zr.ZoneState("z", ("c1",)), start, length)
    now = T0
    for op, patrol in ops:
        if op == "in":
            state = zr.evolve(
                state, PatrolCheckedIn(patrol_id=patrol, zone="z", officers=("o",)), now
            )
        elif op == "out":
            state = zr.evolve(state, PatrolCheckedOut(patrol_id=patrol, zone="z"), now)
        else:
            now += timedelta(seconds=17)
        for e in zr.reconcile(state, now, "patrol_on_duty"):
            assert isinstance(e, DeploymentArmed | DeploymentDisarmed)
            if isinstance(e, DeploymentDisarmed):
                assert e.reason in ("last_patrol_left", "window_closed")
            state = zr.evolve(state, e, now)
        in_window = T0 + timedelta(seconds=start) <= now < T0 + timedelta(seconds=start + length)
        assert (state.armed is not None) == (in_window and bool(state.patrols))
        assert zr.reconcile(state, now, "patrol_on_duty") == []  # a fixed point


def match(entry: str, n: int) -> FaceMatched:
    return FaceMatched(
        match_id=f"m-{n}",
        camera="c1",
        zone="z",
        deployment_id="dep-1",
        watchlist_version="wl-1",
        entry_id=entry,
        similarity=0.9,
        threshold=0.6,
        frame_at=T0,
    )


@given(
    sightings=st.lists(
        st.tuples(st.sampled_from(["alice", "bob"]), st.integers(0, 200)), max_size=40
    )
)
def test_one_alert_per_subject_per_cooldown(sightings) -> None:
    state = authorised(zr.ZoneState("z", ("c1",)), 0, 10_000)
    now = T0
    alerts: dict[str, list[datetime]] = {"alice": [], "bob": []}
    for n, (entry, gap) in enumerate(sightings):
        now += timedelta(seconds=gap)
        info = EntryInfo(entry, entry.title(), "suspect")
        for e in zr.decide_match(
            state,
            match(entry, n),
            info,
            now,
            alert_id=f"a-{n}",
            cooldown=timedelta(seconds=60),
            seen_recently=False,
        ):
            assert isinstance(e, AlertRaised)
            alerts[entry].append(now)
            state = zr.evolve(state, e, now)
    for times in alerts.values():
        assert all(b - a >= timedelta(seconds=60) for a, b in zip(times, times[1:], strict=False))
    # The first sighting of each subject always alerts.
    seen = {e for e, _ in sightings}
    assert {e for e, t in alerts.items() if t} == seen


def test_stale_and_reused_watchlists_are_refused() -> None:
    state = zr.ZoneState("z", ("c1",))
    stale = PublishedWatchlist("wl-1", "default", 2, T0 - timedelta(hours=25))
    cmd = authorise()
    with pytest.raises(CommandRejected, match="more than 24 hours") as err:
        zr.decide_authorise(state, cmd, T0, stale)
    assert err.value.code == "watchlist_stale"
    state = authorised(state, 0, 60)
    with pytest.raises(CommandRejected) as err:
        zr.decide_authorise(state, cmd, T0, PUB)
    assert err.value.code in ("watchlist_used", "deployment_overlap")


@given(
    verdicts=st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["confirmed", "false_alert"])),
        max_size=6,
    )
)
def test_engagement_needs_two_different_confirming_officers(verdicts) -> None:
    alert = AlertRaised(
        alert_id="a-1",
        match_id="m-1",
        zone="z",
        camera="c1",
        deployment_id="dep-1",
        watchlist_version="wl-1",
        entry_id="alice",
        subject_label="Alice",
        category="suspect",
        similarity=0.9,
        threshold=0.6,
        frame_at=T0,
    )
    on_duty = pr.PatrolState("p-1", zone="z", officers=("A", "B", "C"))
    state = pr.assign(on_duty, alert, 0)
    confirmed: set[str] = set()
    for officer, verdict in verdicts:
        try:
            events = pr.decide_adjudicate(state, Adjudicate("a-1", officer, verdict))  # type: ignore[arg-type]
        except CommandRejected:
            continue
        for e in events:
            state = pr.evolve(state, e)
            if verdict == "confirmed":
                confirmed.add(officer)
    cmd = RecordEngagement("a-1", "A", "arrested")
    if len(confirmed) >= 2:
        (event,) = pr.decide_engagement(state, cmd)
        assert len(set(event.confirmed_by)) == 2  # type: ignore[attr-defined]
        assert set(event.confirmed_by) <= confirmed  # type: ignore[attr-defined]
    else:
        with pytest.raises(CommandRejected) as err:
            pr.decide_engagement(state, cmd)
        assert err.value.code == "needs_two_confirmations"


def test_a_version_another_zone_holds_is_refused_until_that_zone_purged_it() -> None:
    other = authorised(zr.ZoneState("north-end", ("c1",)), 0, 60)
    cmd = authorise()
    here = zr.ZoneState("london-road", ("c2",))
    with pytest.raises(CommandRejected, match="held by deployment dep-1 in zone north-end"):
        zr.decide_authorise(here, cmd, T0, PUB, [other])
    # ended, its purge still to run: still held
    other = zr.evolve(
        other, DeploymentEnded(deployment_id="dep-1", zone="north-end", reason="cancelled"), T0
    )
    with pytest.raises(CommandRejected) as err:
        zr.decide_authorise(here, cmd, T0, PUB, [other])
    assert err.value.code == "watchlist_held"
    # purged (the same content published again is a fresh list): free
    purged = BiometricPurged(
        scope="deployment_watchlist",
        reason="deployment cancelled",
        refs_purged=2,
        deployment_id="dep-1",
        watchlist_version="wl-1",
    )
    other = zr.evolve(other, purged, T0)
    assert [type(e).__name__ for e in zr.decide_authorise(here, cmd, T0, PUB, [other])] == [
        "DeploymentAuthorised"
    ]
