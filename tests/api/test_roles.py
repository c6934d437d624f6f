"""The role x endpoint matrix: every allow, every 401 and every 403, for every API route."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lfr.api.auth import Role
from tests.api.site import window

OFF, S, W, A, E = (
    Role.OFFICER,
    Role.SUPERVISOR,
    Role.WATCHLIST_MANAGER,
    Role.AUDITOR,
    Role.ENGINEER,
)
ALL = (OFF, S, W, A, E)
START, END = window()
AUTHORISE = {
    "starts_at": START.isoformat(),
    "ends_at": END.isoformat(),
    "watchlist_version": "v1",
    "threshold": 0.6,
    "legal_basis": "PACE s.24",
    "reason": "wanted offenders seen in the town centre",
}
ENTRY = {
    "label": "Case 7",
    "category": "suspect",
    "legal_basis": "PACE",
    "image_source": "custody record 123",
    "expires_at": END.isoformat(),
    "images_base64": ["aGVsbG8="],
}
SUB = {"endpoint": "https://push.example.test/abc", "keys": {"p256dh": "BPk", "auth": "x"}}

# (method, path template, body, roles allowed)
MATRIX = [
    ("GET", "/api/me", None, ALL),
    ("GET", "/api/zones", None, (OFF, S, A, E)),
    ("POST", "/api/zones/{zone}/deployments", AUTHORISE, (S,)),
    ("POST", "/api/zones/{zone}/deployments/{deployment_id}/cancel", {}, (S,)),
    (
        "POST",
        "/api/patrols/{patrol_id}/check-in",
        {"zone": "north-end", "officers": ["officer-1"]},
        (OFF, S),
    ),
    ("POST", "/api/patrols/{patrol_id}/check-out", {}, (OFF, S)),
    ("GET", "/api/alerts", None, (OFF, S)),
    ("GET", "/api/alerts/stream", None, (OFF,)),
    ("GET", "/api/alerts/{alert_id}", None, (OFF, S)),
    ("POST", "/api/alerts/{alert_id}/acknowledge", None, (OFF,)),
    ("POST", "/api/alerts/{alert_id}/adjudicate", {"verdict": "confirmed"}, (OFF,)),
    ("POST", "/api/alerts/{alert_id}/engagement", {"outcome": "spoken_to"}, (OFF,)),
    ("GET", "/api/alerts/{alert_id}/images/{kind}", None, (OFF, S)),
    (
        "POST",
        "/api/alerts/{alert_id}/evidence-hold",
        {"reason": "crime ref 12/345", "until": END.isoformat()},
        (S,),
    ),
    ("GET", "/api/watchlists/{watchlist}/entries", None, (W, S)),
    ("POST", "/api/watchlists/{watchlist}/entries", ENTRY, (W,)),
    ("POST", "/api/watchlists/{watchlist}/publish", None, (W,)),
    ("DELETE", "/api/watchlists/{watchlist}/entries/{entry_id}", {"reason": "arrested"}, (W,)),
    ("GET", "/api/audit/export", None, (A,)),
    ("GET", "/api/audit/verify", None, (A,)),
    ("GET", "/api/audit/proof/{event_id}", None, (A,)),
    ("GET", "/api/audit/report", None, (A, S)),
    ("GET", "/api/health", None, (E,)),
    ("GET", "/api/push/vapid-public-key", None, ALL),
    ("POST", "/api/push/subscriptions", SUB, (OFF,)),
    ("POST", "/api/whip/{camera}", None, (S, E)),
    ("DELETE", "/api/whip/{camera}/{session_id}", None, (S, E)),
]


async def test_matrix_covers_every_api_route(api):
    routes = {(m.upper(), path) for path, ops in api.app.openapi()["paths"].items() for m in ops}
    assert routes == {(m, p) for m, p, _, _ in MATRIX}


async def _setup(api):
    dep = await api.site.authorise_deployment(
        "north-end",
        starts_at=START,
        ends_at=END,
        watchlist_version="v1",
        threshold=0.6,
        legal_basis="PACE",
        reason="test",
        authorised_by="supervisor-1",
    )
    await api.site.check_in("p-7", zone="north-end", officers=("officer-1", "officer-2"))
    crop = await api.vault.put(b"\xff\xd8crop-bytes", "alert_crop")
    alert_id = await api.site.raise_alert("north-end", ("p-7",), crop_ref=crop)
    return {
        "zone": "north-end",
        "deployment_id": dep,
        "patrol_id": "p-7",
        "alert_id": alert_id,
        "kind": "crop",
        "watchlist": "default",
        "entry_id": "e-1",
        "event_id": str((await api.store.read_all(limit=1))[0].event_id),
        "camera": "ne-1",
        "session_id": "s-1",
    }


def _foreign_token():
    return jwt.encode(
        {
            "iss": "lfr",
            "aud": "lfr-api",
            "sub": "mallory",
            "role": "supervisor",
            "exp": int(time.time()) + 60,
        },
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
async def test_role_matrix(api, method, path, body, allowed):
    ids = await _setup(api)
    url = path.format(**ids)

    async def call(headers):
        kw = {"headers": headers}
        if body is not None:
            kw["json"] = body
        if path.endswith("/stream"):
            async with api.client.stream(method, url, **kw) as r:
                if r.status_code != 200:
                    await r.aread()
                return r
        return await api.client.request(method, url, **kw)

    for bad in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic eDp5"},
        {"Authorization": f"Bearer {_foreign_token()}"},
        {"Authorization": "Bearer " + api.issuer.issue("x", OFF, ttl_s=-120)},
    ):
        r = await call(bad)
        assert r.status_code == 401, (bad, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer"
    for role in ALL:
        r = await call(api.headers(role, patrol_id="p-7" if role is OFF else None))
        if role in allowed:
            assert r.status_code not in (401, 403) and r.status_code < 500, (role, r.status_code)
        else:
            assert r.status_code == 403, (role, r.status_code)
            assert role.value in r.json()["detail"]
