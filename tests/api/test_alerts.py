"""Alerts over HTTP: who sees what, the two-person rule, images and their retention, errors."""

from datetime import UTC, datetime, timedelta

from lfr.api.auth import Role
from tests.api.site import window

START, END = window()


async def setup(api, **alert_kw):
    await api.site.authorise_deployment(
        "north-end",
        starts_at=START,
        ends_at=END,
        watchlist_version="v1",
        threshold=0.6,
        legal_basis="PACE",
        reason="test",
        authorised_by="supervisor-1",
    )
    await api.site.check_in("p-7", zone="north-end", officers=("PC A", "PC B"))
    await api.site.check_in("p-9", zone="north-end", officers=("PC C",))
    return await api.site.raise_alert("north-end", ("p-7",), **alert_kw)


def officer(api, name, patrol="p-7"):
    return api.headers(Role.OFFICER, name, patrol_id=patrol)


async def test_officer_sees_own_patrols_alerts_only(api):
    alert_id = await setup(api)
    mine = (await api.client.get("/api/alerts", headers=officer(api, "PC A"))).json()
    assert [a["alert_id"] for a in mine] == [alert_id]
    assert mine[0]["subject_label"] == "Case 42" and mine[0]["status"] == "raised"
    other = officer(api, "PC C", "p-9")
    assert (await api.client.get("/api/alerts", headers=other)).json() == []
    r = await api.client.get(f"/api/alerts/{alert_id}", headers=other)
    assert r.status_code == 404
    r = await api.client.post(f"/api/alerts/{alert_id}/acknowledge", headers=other)
    assert r.status_code == 404
    sup = (await api.client.get("/api/alerts", headers=api.headers(Role.SUPERVISOR))).json()
    assert [a["alert_id"] for a in sup] == [alert_id]


async def test_engagement_needs_two_different_officers(api):
    alert_id = await setup(api)
    a, b = officer(api, "PC A"), officer(api, "PC B")
    r = await api.client.post(f"/api/alerts/{alert_id}/acknowledge", headers=a)
    assert r.json()["status"] == "acknowledged" and r.json()["acknowledged_by"] == ["PC A"]
    r = await api.client.post(
        f"/api/alerts/{alert_id}/adjudicate", headers=a, json={"verdict": "confirmed"}
    )
    assert r.json()["confirmed_by"] == ["PC A"]
    r = await api.client.post(
        f"/api/alerts/{alert_id}/engagement", headers=a, json={"outcome": "arrested"}
    )
    assert r.status_code == 409 and "two different officers" in r.json()["detail"]
    r = await api.client.post(
        f"/api/alerts/{alert_id}/adjudicate", headers=a, json={"verdict": "confirmed"}
    )
    assert r.status_code == 409 and r.json()["code"] == "already_confirmed"
    await api.client.post(
        f"/api/alerts/{alert_id}/adjudicate", headers=b, json={"verdict": "confirmed"}
    )
    r = await api.client.post(
        f"/api/alerts/{alert_id}/engagement",
        headers=b,
        json={"outcome": "arrested", "note": "at the bus stop"},
    )
    assert r.status_code == 200 and r.json()["status"] == "engaged"
    types = [e.type for e in await api.store.read_all()]
    assert types[-4:] == [
        "AlertAcknowledged",
        "AlertAdjudicated",
        "AlertAdjudicated",
        "EngagementRecorded",
    ]


async def test_images_only_for_authorised_and_within_retention(api):
    crop = await api.vault.put(
        b"\xff\xd8\xff live capture", "alert_crop", datetime.now(UTC) + timedelta(days=31)
    )
    old = await api.vault.put(
        b"\x89PNG\r\n\x1a\nref", "watchlist_image", datetime.now(UTC) - timedelta(seconds=1)
    )
    alert_id = await setup(api, crop_ref=crop, reference_ref=old)
    url = f"/api/alerts/{alert_id}/images/crop"
    r = await api.client.get(url, headers=officer(api, "PC A"))
    assert r.status_code == 200 and r.content == b"\xff\xd8\xff live capture"
    assert r.headers["content-type"] == "image/jpeg" and "no-store" in r.headers["cache-control"]
    for role in (Role.ENGINEER, Role.AUDITOR, Role.WATCHLIST_MANAGER):
        assert (await api.client.get(url, headers=api.headers(role))).status_code == 403
    assert (await api.client.get(url, headers=officer(api, "PC C", "p-9"))).status_code == 404
    r = await api.client.get(
        f"/api/alerts/{alert_id}/images/reference", headers=officer(api, "PC A")
    )
    assert r.status_code == 410 and "retention" in r.json()["detail"]
    await api.vault.shred(crop, "test")
    r = await api.client.get(url, headers=officer(api, "PC A"))
    assert r.status_code == 410


async def test_invalid_input_is_a_clear_422(api):
    await setup(api)
    sup = api.headers(Role.SUPERVISOR)
    r = await api.client.post(
        "/api/zones/north-end/deployments",
        headers=sup,
        json={
            "starts_at": END.isoformat(),
            "ends_at": START.isoformat(),
            "watchlist_version": "v1",
            "legal_basis": "x",
            "reason": "y",
        },
    )
    assert r.status_code == 422 and "ends_at must be after starts_at" in r.text
    r = await api.client.post(
        "/api/patrols/p 7/check-in", headers=sup, json={"zone": "north-end", "officers": ["a"]}
    )
    assert r.status_code == 422
    r = await api.client.post(
        "/api/patrols/p-7/check-in",
        headers=sup,
        json={"zone": "north-end", "officers": [], "extra": 1},
    )
    assert r.status_code == 422
    fields = {tuple(e["loc"]) for e in r.json()["detail"]}
    assert ("body", "officers") in fields and ("body", "extra") in fields


async def test_zone_state_says_why(api):
    await setup(api)
    zones = (await api.client.get("/api/zones", headers=api.headers(Role.AUDITOR))).json()
    assert zones == [
        {
            "zone": "north-end",
            "armed": True,
            "reason": "patrol_on_duty",
            "deployment_id": zones[0]["deployment_id"],
            "patrols_on_duty": ["p-9"],
            "updated_at": zones[0]["updated_at"],
        }
    ]
