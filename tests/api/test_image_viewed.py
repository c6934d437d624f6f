"""Every alert image the API serves is recorded (`ImageViewed`: who, as what, which image);
an image not served records nothing. A refused acknowledgement by an officer not checked in on
the patrol is a clear 403 (issue 14, item 6)."""

from datetime import UTC, datetime, timedelta

from lfr.api.auth import Role
from lfr.api.errors import status_for
from lfr.kernel import CommandRejected
from schemas.events import ImageViewed
from schemas.streams import IMAGE_VIEWS_STREAM
from tests.api.test_alerts import officer, setup


async def _views(api) -> list[ImageViewed]:
    envs = await api.store.read_stream(IMAGE_VIEWS_STREAM)
    views = [e.decode() for e in envs]
    assert all(isinstance(v, ImageViewed) for v in views)
    return views  # type: ignore[return-value]


async def test_each_image_served_is_recorded_with_who_saw_it(api):
    crop = await api.vault.put(
        b"\xff\xd8\xff live capture", "alert_crop", datetime.now(UTC) + timedelta(days=31)
    )
    reference = await api.vault.put(
        b"\x89PNG\r\n\x1a\nref", "watchlist_image", datetime.now(UTC) + timedelta(days=7)
    )
    alert_id = await setup(api, crop_ref=crop, reference_ref=reference)
    base = f"/api/alerts/{alert_id}/images"
    r = await api.client.get(f"{base}/crop", headers=officer(api, "PC A"))
    assert r.status_code == 200 and r.content == b"\xff\xd8\xff live capture"
    r = await api.client.get(f"{base}/reference", headers=api.headers(Role.SUPERVISOR, "Sgt P"))
    assert r.status_code == 200 and r.content == b"\x89PNG\r\n\x1a\nref"
    views = await _views(api)
    assert [(v.alert_id, v.viewer, v.role, v.kind, v.blob_id) for v in views] == [
        (alert_id, "PC A", "officer", "crop", crop.blob_id),
        (alert_id, "Sgt P", "supervisor", "reference", reference.blob_id),
    ]
    # the zone's stream (the zone actor's own) is left alone
    zone = [e.type for e in await api.store.read_stream("zone:north-end")]
    assert "ImageViewed" not in zone


async def test_an_image_not_served_records_nothing(api):
    crop = await api.vault.put(
        b"\xff\xd8\xff live capture", "alert_crop", datetime.now(UTC) + timedelta(days=31)
    )
    old = await api.vault.put(
        b"\x89PNG\r\n\x1a\nref", "watchlist_image", datetime.now(UTC) - timedelta(seconds=1)
    )
    alert_id = await setup(api, crop_ref=crop, reference_ref=old)
    bare = await api.site.raise_alert("north-end", ("p-7",))  # no images at all
    base = f"/api/alerts/{alert_id}/images"
    refused = [
        (f"{base}/crop", api.headers(Role.ENGINEER), 403),  # role may not see images
        (f"{base}/crop", api.headers(Role.AUDITOR), 403),
        (f"{base}/crop", officer(api, "PC C", "p-9"), 404),  # not their patrol's alert
        (f"{base}/crop", {}, 401),
        (f"{base}/reference", officer(api, "PC A"), 410),  # past its retention
        (f"/api/alerts/{bare}/images/crop", officer(api, "PC A"), 404),
        ("/api/alerts/nope/images/crop", officer(api, "PC A"), 404),
    ]
    for url, headers, code in refused:
        assert (await api.client.get(url, headers=headers)).status_code == code, url
    await api.vault.shred(crop, "test")
    assert (await api.client.get(f"{base}/crop", headers=officer(api, "PC A"))).status_code == 410
    assert await _views(api) == []


async def test_an_officer_not_on_the_patrol_is_forbidden_with_the_reason(api, monkeypatch):
    alert_id = await setup(api)

    async def refuse(patrol_id, alert_id, *, officer):
        raise CommandRejected(
            f"patrol:{patrol_id}",
            "not_on_patrol",
            f"{officer} is not checked in on patrol {patrol_id}, so cannot acknowledge its "
            "alerts: check in on the patrol first",
        )

    monkeypatch.setattr(api.site, "acknowledge", refuse)
    r = await api.client.post(f"/api/alerts/{alert_id}/acknowledge", headers=officer(api, "PC Z"))
    assert r.status_code == 403
    body = r.json()
    assert body["code"] == "not_on_patrol" and body["error"] == "CommandRejected"
    assert "PC Z is not checked in on patrol p-7" in body["detail"]
    # any other refused command keeps its 409
    assert status_for(CommandRejected("patrol:p-7", "already_engaged", "closed")) == 409
