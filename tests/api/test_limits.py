"""Hostile input at the API's door: bodies bounded before authentication, with and without
a declared length, and the limit larger only for photo uploads."""

from __future__ import annotations

from collections.abc import AsyncIterator

from lfr.api.limits import DEFAULT_LIMIT, IMAGE_LIMIT


async def test_a_declared_oversize_body_is_refused_before_authentication(api) -> None:
    big = b"x" * (DEFAULT_LIMIT + 1)
    r = await api.client.post("/api/zones/north-end/deployments", content=big)
    assert r.status_code == 413 and "larger than 10 MB" in r.json()["detail"]
    # the same body without any token: still 413, never 401 after reading it
    assert "WWW-Authenticate" not in r.headers


async def test_a_streamed_body_is_cut_off_at_the_limit(api) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(DEFAULT_LIMIT // 65536 + 10):
            sent += 65536
            yield b"y" * 65536

    r = await api.client.post(
        "/api/zones/north-end/deployments",
        content=chunks(),
        headers=api.headers("supervisor"),
    )
    assert r.status_code == 413


async def test_photo_uploads_may_be_larger_but_not_unbounded(api) -> None:
    headers = {**api.headers("watchlist_manager"), "content-type": "application/json"}
    between = b"{" + b" " * (DEFAULT_LIMIT + 10) + b"}"
    r = await api.client.post("/api/watchlists/default/entries", content=between, headers=headers)
    assert r.status_code != 413  # read (and refused for what it is, not for its size)
    over = b"{" + b" " * IMAGE_LIMIT + b"}"
    r = await api.client.post("/api/watchlists/default/entries", content=over, headers=headers)
    assert r.status_code == 413


async def test_nan_and_infinity_are_invalid_input_not_a_server_error(api) -> None:
    for bad in ("NaN", "Infinity", "-Infinity"):
        body = (
            '{"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-01T01:00:00Z", '
            '"watchlist_version": "v", "threshold": ' + bad + ', "legal_basis": "x", '
            '"reason": "y"}'
        )
        r = await api.client.post(
            "/api/zones/north-end/deployments",
            content=body,
            headers={**api.headers("supervisor"), "content-type": "application/json"},
        )
        assert r.status_code == 422, (bad, r.status_code, r.text)
