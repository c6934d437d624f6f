"""Complete decisions (issue 14, item 6): an alert carries the watchlist entry's reference
photo, only an officer checked in on the patrol acknowledges or adjudicates its alerts, and a
deployment's authorisation records the face model pack it analyses with."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from actors.system import SiteParts, running_site
from lfr.alerts import InMemoryAlertSink
from lfr.catalog import WatchlistStoreCatalog
from lfr.clock import ManualClock
from lfr.kernel import CommandRejected
from lfr.site import SiteConfig
from lfr.store.memory import InMemoryEventStore
from lfr.testing import ScriptedFrameSource, ScriptedRecogniser
from lfr.testing.gallery import identity_vector
from lfr.vault import BiometricVault
from lfr.vision.pack import DEFAULT_PACK
from lfr.watchlist import WatchlistEntry, WatchlistStore
from schemas.events import AlertRaised, DeploymentAuthorised, FaceMatched
from tests.actors.harness import harness

DIM = len(identity_vector("alice"))  # the scripted recogniser's identity vectors
PHOTO = b"\x89PNG\r\n\x1a\n reference photo of alice" * 8


async def test_only_an_officer_checked_in_on_the_patrol_acknowledges_and_adjudicates() -> None:
    async with harness() as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A", "PC B"))
        await h.site.check_in("p-2", "north-end", ("PC C",))
        await h.frame("ne-1", "alice")
        await h.settle()
        alert = h.sink.notices[0].alert
        assert "p-1" in h.sink.notices[0].to
        for officer in ("PC C", "PC Nobody"):  # another patrol's officer, or no one's
            with pytest.raises(CommandRejected) as err:
                await h.site.acknowledge("p-1", alert.alert_id, officer)
            assert err.value.code == "not_on_patrol"
            assert "not checked in on patrol p-1" in err.value.reason
            with pytest.raises(CommandRejected) as err:
                await h.site.adjudicate("p-1", alert.alert_id, officer, "confirmed")
            assert err.value.code == "not_on_patrol"
        await h.site.acknowledge("p-1", alert.alert_id, "PC A")
        await h.site.adjudicate("p-1", alert.alert_id, "PC B", "confirmed")
        await h.site.check_out("p-1")
        # checked out: no officer of the patrol is on it any more
        with pytest.raises(CommandRejected) as err:
            await h.site.adjudicate("p-1", alert.alert_id, "PC A", "confirmed")
        assert err.value.code == "not_on_patrol"
        patrol = [e.decode() for e in await h.store.read_stream("patrol:p-1")]
        assert [(type(e).__name__, getattr(e, "officer", None)) for e in patrol][1:] == [
            ("AlertAcknowledged", "PC A"),
            ("AlertAdjudicated", "PC B"),
            ("PatrolCheckedOut", None),
        ]


SITE_ONE_ZONE = {
    "name": "test-town",
    "zones": [{"name": "north-end"}],
    "cameras": [{"id": "ne-1", "zone": "north-end", "source": "scripted:", "analyse_fps": None}],
    "patrols": [{"id": "p-1"}],
    "store": {"engine": "memory"},
    "vision": {"recogniser": "scripted", "decider": "per_frame"},
}


def _alice(image_ref: str | None) -> WatchlistEntry:
    return WatchlistEntry(
        entry_id="alice",
        label="Alice A. (wanted, ref 123)",
        category="wanted_by_police",
        legal_basis="PACE s.24 warrant 123",
        image_source="custody image C-1",
        added_by="PC 1",
        expires_at=datetime.now(UTC) + timedelta(days=7),
        embedding=identity_vector("alice"),
        image_ref=image_ref,
    )


@pytest.mark.blocking_ok("the test builds its watchlist with the store's blocking API")
async def test_an_alert_carries_the_reference_photo_and_the_authorisation_the_model_pack(
    tmp_path: Path,
) -> None:
    vault = await BiometricVault.open(tmp_path)
    ref = await vault.put(PHOTO, "watchlist_image", datetime.now(UTC) + timedelta(days=7))
    store = await anyio.to_thread.run_sync(
        lambda: WatchlistStore(tmp_path / "wl", "north-end", dim=DIM)
    )
    store.add(_alice(ref.blob_id))
    version = store.publish("Insp 1", bespoke=True).version
    clock = ManualClock(datetime.now(UTC))
    events = InMemoryEventStore(clock=clock)
    source = ScriptedFrameSource("scripted://ne-1", clock=clock)
    config = SiteConfig.model_validate(SITE_ONE_ZONE)
    assert SiteParts.model_pack_of(config) is None  # the scripted recogniser has no models
    pack = SiteParts.model_pack_of(
        SiteConfig.model_validate({**SITE_ONE_ZONE, "vision": {"recogniser": "pipeline"}})
    )
    assert pack is not None and pack.name == DEFAULT_PACK.npm_spec
    parts = SiteParts(
        store=events,
        catalog=WatchlistStoreCatalog(store, vault=vault),
        recogniser=ScriptedRecogniser(),
        source_factory=lambda cam: source.reopen(),
        clock=clock,
        sink=InMemoryAlertSink(),
        vault=vault,
        ask_timeout_s=5.0,
        model_pack=pack,
    )
    async with running_site(config, parts) as site:
        now = clock.now()
        await site.authorise_deployment(
            "north-end",
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            watchlist_version=version,
            threshold=0.6,
            legal_basis="PACE s.24",
            reason="wanted offenders",
            authorised_by="Supt. A. Smith 1234",
        )
        await site.check_in("p-1", "north-end", ("PC A",))
        source.push("alice")
        with anyio.fail_after(5):
            await source.wait_consumed()
        await site.settle_camera("ne-1")
        await site.zone_status("north-end")

    logged = [e.decode() for e in await events.read_all()]
    (authorised,) = [e for e in logged if isinstance(e, DeploymentAuthorised)]
    assert authorised.model_pack == "faceplugin-face-recognition-js@0.0.1"
    assert authorised.model_hashes == DEFAULT_PACK.files
    assert set(authorised.model_hashes) >= {"fr_detect.onnx", "fr_feature.onnx"}
    (matched,) = [e for e in logged if isinstance(e, FaceMatched)]
    (raised,) = [e for e in logged if isinstance(e, AlertRaised)]
    assert raised.entry_id == "alice"
    reference = raised.reference_ref
    assert reference is not None
    assert (reference.blob_id, reference.kind) == (ref.blob_id, "watchlist_image")
    assert reference.sha256 == hashlib.sha256(PHOTO).hexdigest() == ref.sha256
    assert await vault.get(reference) == PHOTO
    assert raised.crop_ref is not None and raised.crop_ref == matched.crop_ref
    await vault.aclose()


@pytest.mark.blocking_ok("the test builds its watchlist with the store's blocking API")
async def test_an_entry_without_a_readable_photo_alerts_without_a_reference(
    tmp_path: Path,
) -> None:
    vault = await BiometricVault.open(tmp_path)
    ref = await vault.put(PHOTO, "watchlist_image")
    store = await anyio.to_thread.run_sync(
        lambda: WatchlistStore(tmp_path / "wl", "north-end", dim=DIM)
    )
    store.add(_alice(ref.blob_id))
    version = store.publish("Insp 1").version
    catalog = WatchlistStoreCatalog(store, vault=vault)
    info = await catalog.entry(version, "alice")
    assert info is not None and info.reference_ref is not None
    assert info.reference_ref.retain_until == store.get("alice").expires_at
    await vault.shred(ref, "test")
    info = await catalog.entry(version, "alice")
    assert info is not None and info.label.startswith("Alice") and info.reference_ref is None
    without_vault = await WatchlistStoreCatalog(store).entry(version, "alice")
    assert without_vault is not None and without_vault.reference_ref is None
    await vault.aclose()
