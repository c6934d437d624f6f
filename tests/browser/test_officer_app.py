"""Two officers in a real Chromium: a match from the camera actor becomes an alert card within
a second on both phones; they acknowledge, both confirm, one records the engagement; the log
then holds it all, naming both verifiers."""

import json
import time
from datetime import UTC, datetime, timedelta

import anyio
import cv2
import httpx
import numpy as np
import pytest

from actors.system import SiteParts, running_site
from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.api.server import AlertServicesConfig, run_alert_services, serve_http
from lfr.catalog import EntryInfo
from lfr.clock import SystemClock
from lfr.config import settings
from lfr.site import SiteConfig
from lfr.store.sqlite import SqliteEventStore
from lfr.testing import InMemoryWatchlists, ScriptedFrameSource, ScriptedRecogniser
from lfr.transport.broker import EmbeddedBrokerConfig
from lfr.vault import BiometricVault
from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PERSON = "Barack_Obama"
LABEL = "Case 4711: wanted (burglary)"
OFFICERS = ("PC 101 Khan", "PC 202 Jones")
SITE = {
    "name": "town",
    "zones": [{"name": "north-end", "title": "North End"}],
    "cameras": [{"id": "ne-1", "zone": "north-end", "source": "scripted:", "analyse_fps": None}],
    "patrols": [{"id": "p-1", "callsign": "NE1"}],
    "store": {"engine": "sqlite"},
    "vision": {"recogniser": "scripted", "decider": "per_frame"},
}


def photos() -> list[bytes]:
    folder = settings().faces_dir / PERSON
    return [p.read_bytes() for p in sorted(folder.iterdir())[:2]]


class PhotoWatchlists(InMemoryWatchlists):
    """The watchlist catalog, with the entry's photo in the vault (as the real one keeps it)."""

    reference_ref = None

    async def entry(self, version, entry_id):
        info = await super().entry(version, entry_id)
        if info is None:
            return None
        return EntryInfo(info.entry_id, info.label, info.category, self.reference_ref)


class PhotoRecogniser(ScriptedRecogniser):
    """Sees who a frame is tagged with; the crop is a real photo of that person."""

    def __init__(self, crop_rgb):
        super().__init__({"subject": 0.74})
        self.crop_rgb = crop_rgb

    def analyse(self, frame, gallery):
        result = super().analyse(frame, gallery)
        for face in result.faces:
            face.crop = self.crop_rgb
        return result


async def test_two_officers_handle_an_alert_in_the_browser(browser, tmp_path):
    ref_jpg, live_jpg = photos()
    live = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(live_jpg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    live = cv2.resize(live, (224, 224), interpolation=cv2.INTER_AREA)  # a face crop's size
    store = await SqliteEventStore.open(tmp_path / "events.sqlite", poll_s=0.05)
    vault = await BiometricVault.open(tmp_path)
    key = await anyio.to_thread.run_sync(load_or_create_api_key, tmp_path)
    issuer = TokenIssuer(key, AuthConfig())
    watchlists = PhotoWatchlists()
    watchlists.reference_ref = await vault.put(ref_jpg, "watchlist_image")
    watchlists.publish(
        "wl-1", {"subject": LABEL}, published_at=datetime.now(UTC) - timedelta(hours=1)
    )
    source = ScriptedFrameSource("scripted://ne-1")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        async with anyio.create_task_group() as tg:
            alerts = await tg.start(
                run_alert_services,
                store,
                AlertServicesConfig(
                    site="town", embedded=EmbeddedBrokerConfig(tcp_port=0, ws_port=0)
                ),
            )
            parts = SiteParts(
                store=store,
                catalog=watchlists,
                recogniser=PhotoRecogniser(live),
                source_factory=lambda c: source,
                clock=SystemClock(),
                sink=alerts.sink,
                vault=vault,
            )
            async with running_site(SiteConfig.model_validate(SITE), parts) as site:
                app = await anyio.to_thread.run_sync(
                    lambda: create_app(
                        store=store,
                        verifier=TokenVerifier(AuthConfig(), key.public_key()),
                        data_dir=tmp_path,
                        site=site,
                        vault=vault,
                        mqtt=alerts.client_config,
                        publisher=alerts.publisher,
                    )
                )
                base = await tg.start(serve_http, app, "127.0.0.1", 0)
                sup = {"Authorization": "Bearer " + issuer.issue("Insp. Patel 77", Role.SUPERVISOR)}
                async with httpx.AsyncClient(base_url=base, headers=sup) as http:
                    now = datetime.now(UTC)
                    r = await http.post(
                        "/api/zones/north-end/deployments",
                        json={
                            "starts_at": (now - timedelta(minutes=1)).isoformat(),
                            "ends_at": (now + timedelta(hours=2)).isoformat(),
                            "watchlist_version": "wl-1",
                            "threshold": 0.6,
                            "legal_basis": "PACE s.24; APP LFR",
                            "reason": "burglary series in the town centre",
                        },
                    )
                    assert r.status_code == 201, r.text
                    r = await http.post(
                        "/api/patrols/p-1/check-in",
                        json={"zone": "north-end", "officers": list(OFFICERS), "callsign": "NE1"},
                    )
                    assert r.status_code == 204, r.text

                pages = []
                for officer in OFFICERS:
                    ctx = await browser.new_context(
                        viewport={"width": 412, "height": 915}, device_scale_factor=1
                    )
                    page = await ctx.new_page()
                    await page.goto(f"{base}/app/")
                    await page.get_by_label("Access token").fill(
                        issuer.issue(officer, Role.OFFICER, patrol_id="p-1", zone="north-end")
                    )
                    await page.get_by_role("button", name="Sign in").click()
                    await page.wait_for_selector("body[data-live='1']", timeout=10_000)
                    await page.get_by_text("north-end: ARMED").wait_for(timeout=5_000)
                    pages.append(page)
                a, b = pages

                t0 = time.perf_counter()
                source.push("subject")
                cards = [p.get_by_role("listitem", name=f"Alert: {LABEL}") for p in pages]
                await cards[0].wait_for(timeout=5_000)
                await cards[1].wait_for(timeout=5_000)
                latency = time.perf_counter() - t0
                assert latency < 1.0, f"alert card took {latency:.2f} s"
                (ARTIFACTS / "officer-alert-latency.json").write_text(
                    json.dumps({"match_to_card_on_both_phones_s": round(latency, 3)})
                )

                for page, card in zip(pages, cards, strict=True):
                    await card.get_by_text("0.740").wait_for()
                    await card.get_by_text("0.60").wait_for()
                    await card.get_by_text("ne-1 (north-end)").wait_for()
                    for alt in ("Watchlist photo", "Live capture"):
                        await page.wait_for_function(
                            "alt => [...document.querySelectorAll('img')].some("
                            "i => i.alt === alt && i.complete && i.naturalWidth > 0)",
                            arg=alt,
                        )
                record = cards[0].get_by_role("button", name="Record engagement")
                assert not await record.is_visible()

                await cards[0].get_by_role("button", name="Acknowledge").click()
                await cards[0].get_by_role("button", name="Confirm match").click()
                await cards[0].get_by_text(f"Confirmed by: {OFFICERS[0]}").wait_for()
                assert not await record.is_visible()  # one confirmation is not enough
                await cards[1].get_by_role("button", name="Confirm match").click()
                await record.wait_for(state="visible", timeout=5_000)
                await cards[0].screenshot(path=str(ARTIFACTS / "officer-alert-card.png"))
                await cards[0].get_by_label("Outcome").select_option("arrested")
                await record.click()
                await (
                    cards[1]
                    .get_by_text(f"Engagement recorded by {OFFICERS[0]}")
                    .wait_for(timeout=5_000)
                )
                await a.screenshot(path=str(ARTIFACTS / "officer-app-engaged.png"), full_page=True)
                assert await b.get_by_text("engaged").count() >= 1
                for page in pages:
                    await page.context.close()
                tg.cancel_scope.cancel()
    finally:
        vault.close()
        envelopes = await store.read_all()
        await store.aclose()
    events = [e.decode() for e in envelopes]
    types = [type(e).__name__ for e in events]
    assert types.count("AlertAcknowledged") == 1
    confirmations = [
        e for e in events if type(e).__name__ == "AlertAdjudicated" and e.verdict == "confirmed"
    ]
    assert sorted(c.officer for c in confirmations) == sorted(OFFICERS)
    (engaged,) = [e for e in events if type(e).__name__ == "EngagementRecorded"]
    assert set(engaged.confirmed_by) == set(OFFICERS)
    assert engaged.engagement_officer == OFFICERS[0] and engaged.outcome == "arrested"
