"""A supervisor keeps an alert's crop past retention as evidence: an `EvidenceHold` per blob,
by them, with its own end; retention then keeps exactly those blobs. Officers cannot."""

from datetime import UTC, datetime, timedelta

from lfr.api.auth import Role
from lfr.retention import RETENTION_STREAM, run_retention
from schemas.events import EvidenceHold
from tests.api.test_alerts import officer, setup


async def test_a_supervisor_holds_an_alerts_crop_and_retention_keeps_it(api):
    crop = await api.vault.put(
        b"\xff\xd8\xff live capture", "alert_crop", datetime.now(UTC) + timedelta(days=31)
    )
    other = await api.vault.put(
        b"\xff\xd8\xff another", "alert_crop", datetime.now(UTC) + timedelta(days=31)
    )
    alert_id = await setup(api, crop_ref=crop)
    until = datetime.now(UTC) + timedelta(days=365)
    body = {"reason": "crime ref 44/123, court order", "until": until.isoformat()}
    url = f"/api/alerts/{alert_id}/evidence-hold"

    refused = await api.client.post(url, json=body, headers=officer(api, "PC A"))
    assert refused.status_code == 403
    past = {**body, "until": "2020-01-01T00:00:00Z"}
    r = await api.client.post(url, json=past, headers=api.headers(Role.SUPERVISOR, "Insp 5"))
    assert r.status_code == 422
    for bad in ("9999-12-31T23:59:59-14:00", "2100-01-01T00:00:00Z"):  # past the policy
        far = {**body, "until": bad}
        r = await api.client.post(url, json=far, headers=api.headers(Role.SUPERVISOR, "Insp 5"))
        assert r.status_code == 422, (bad, r.text)
    assert await api.store.read_stream(RETENTION_STREAM) == []

    r = await api.client.post(url, json=body, headers=api.headers(Role.SUPERVISOR, "Insp 5"))
    assert r.status_code == 201, r.text
    assert r.json()["blob_ids"] == [crop.blob_id]
    (logged,) = [e.decode() for e in await api.store.read_stream(RETENTION_STREAM)]
    assert isinstance(logged, EvidenceHold)
    assert (logged.blob_id, logged.held_by, logged.alert_id) == (crop.blob_id, "Insp 5", alert_id)

    result = await run_retention(api.store, api.vault, datetime.now(UTC) + timedelta(days=32))
    assert result.plan.held == (crop.blob_id,) and result.shredded == (other.blob_id,)
    assert await api.vault.exists(crop) and not await api.vault.exists(other)
