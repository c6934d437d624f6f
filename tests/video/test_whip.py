"""WHIP ingest: a real aiortc publisher posts an offer; frames come out of the camera's source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from lfr.video.errors import StreamInterrupted
from lfr.video.whip import WhipIngest


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICE host candidates on loopback only (aioice leaves 127.0.0.1 out by default)."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
async def ingest() -> AsyncIterator[WhipIngest]:
    whip = WhipIngest(["ne-1"], max_fps=10)
    try:
        yield whip
    finally:
        await whip.aclose()


def client_for(ingest: WhipIngest) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(ingest.router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lfr")


async def test_publisher_frames_reach_the_camera_source_and_delete_ends_them(
    loopback_ice: None, ingest: WhipIngest, hamilton: Path
) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaPlayer

    player = MediaPlayer(str(hamilton), loop=True)
    pc = RTCPeerConnection()
    assert player.video is not None
    pc.addTrack(player.video)
    await pc.setLocalDescription(await pc.createOffer())
    async with client_for(ingest) as client:
        resp = await client.post(
            "/whip/ne-1",
            content=pc.localDescription.sdp,
            headers={"content-type": "application/sdp"},
        )
        assert resp.status_code == 201, resp.text
        assert resp.headers["content-type"].startswith("application/sdp")
        location = resp.headers["location"]
        assert location.startswith("/whip/ne-1/")
        await pc.setRemoteDescription(RTCSessionDescription(resp.text, "answer"))

        source = ingest.source("ne-1")
        with anyio.fail_after(20):
            frames = [await source.recv() for _ in range(5)]
        assert frames[0].image.shape == (360, 640, 3)
        assert frames[-1].pts_s > frames[0].pts_s
        assert source.info.width == 640

        gone = await client.delete(location)
        assert gone.status_code == 200
        assert (await client.delete(location)).status_code == 404
        with anyio.fail_after(10), pytest.raises(StreamInterrupted, match="publisher left"):
            while True:
                await source.recv()
        # A camera actor closes its source after a loss and asks again: it gets a live one.
        await source.aclose()
        again = ingest.source("ne-1")
        assert again is not source and not again.closed and not again.publishing
    await pc.close()
    player.video.stop()


async def test_bad_requests_get_clear_4xx(ingest: WhipIngest) -> None:
    async with client_for(ingest) as client:
        wrong_type = await client.post(
            "/whip/ne-1", content="v=0", headers={"content-type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        assert "application/sdp" in wrong_type.json()["detail"]
        unknown = await client.post(
            "/whip/elsewhere",
            content="v=0\r\nm=video 9 x\r\n",
            headers={"content-type": "application/sdp"},
        )
        assert unknown.status_code == 404
        no_video = await client.post(
            "/whip/ne-1", content="v=0\r\n", headers={"content-type": "application/sdp"}
        )
        assert no_video.status_code == 400
        assert "m=video" in no_video.json()["detail"]
        garbage = await client.post(
            "/whip/ne-1", content="m=video garbage", headers={"content-type": "application/sdp"}
        )
        assert garbage.status_code == 400
