"""WebRTC ingest over WHIP: a phone or a WebRTC camera publishes to a camera actor.

`POST /whip/{camera}` takes an SDP offer (`application/sdp`) and answers `201 Created` with
the SDP answer and a `Location` naming the session; `DELETE` on that location ends it. Each
camera's frames come out of `WhipIngest.source(camera)`, a `FrameSource` that waits for a
publisher, so a camera actor treats a phone like any other camera. A new publisher for a
camera replaces the old one. aiortc decodes in its own thread; conversion to RGB runs in a
worker thread, and only for the frames the camera samples. The router carries no auth: the
API mounts it behind its own dependencies.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import APIRouter, HTTPException, Request, Response

from lfr.video.errors import EndOfStream, StreamInterrupted
from lfr.video.latest import RateSampler
from lfr.vision.types import Frame, SourceInfo

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

__all__ = ["WhipIngest", "WhipSource"]

SDP = "application/sdp"


class WhipSource:
    """Frames from whoever currently publishes to one camera over WHIP."""

    def __init__(self, camera: str, *, max_fps: float | None = None) -> None:
        self.camera = camera
        self.max_fps = max_fps
        self.info = SourceInfo(url=f"whip:{camera}")
        self.frames_decoded = 0
        self._track: Any = None
        self._attached = anyio.Event()
        self._sampler = RateSampler(max_fps)
        self._index = 0
        self._closed = False
        self._left = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def publishing(self) -> bool:
        return self._track is not None

    def attach(self, track: Any) -> None:
        """A publisher's video track arrived (replacing any earlier one)."""
        self._track = track
        self._left = False
        self._sampler = RateSampler(self.max_fps)
        self._attached.set()

    def detach(self, track: Any | None = None) -> None:
        """The publisher left: the next `recv()` reports it once, then waits for another."""
        if self._track is not None and (track is None or self._track is track):
            self._track = None
            self._left = True
            self._attached = anyio.Event()
            self._attached.set()  # wake a waiting recv() so it reports the loss

    async def recv(self) -> Frame:
        """The next sampled frame; waits for a publisher.

        :raises StreamInterrupted: the publisher left (the next call waits for another).
        :raises EndOfStream: the ingest was closed.
        """
        from aiortc.mediastreams import MediaStreamError

        while True:
            if self._closed:
                raise EndOfStream(f"{self.info.url} is closed")
            if self._left:
                self._left = False
                self._attached = anyio.Event()
                raise StreamInterrupted(self.info.url, "the publisher left", retry_in_s=None)
            track = self._track
            if track is None:
                await self._attached.wait()
                continue
            try:
                vframe = await track.recv()
            except MediaStreamError:
                self.detach(track)
                continue
            self.frames_decoded += 1
            pts_s = float(vframe.time) if vframe.time is not None else time.monotonic()
            if not self._sampler.due(pts_s):
                continue
            image = await anyio.to_thread.run_sync(_to_rgb, vframe)
            self.info = SourceInfo(
                url=self.info.url, codec="webrtc", width=vframe.width, height=vframe.height
            )
            self._index += 1
            return Frame(
                image=image,
                index=self._index,
                pts_s=pts_s,
                captured_at=datetime.now(UTC),
                decoded_ns=time.monotonic_ns(),
            )

    async def aclose(self) -> None:
        self._closed = True
        self._attached.set()


class WhipIngest:
    """WHIP sessions for a set of cameras (any camera name if `cameras` is None)."""

    def __init__(self, cameras: list[str] | None = None, *, max_fps: float | None = None) -> None:
        self._allowed = set(cameras) if cameras is not None else None
        self._max_fps = max_fps
        self._sources: dict[str, WhipSource] = {}
        self._tracks: dict[str, Any] = {}  # camera -> the live publisher's video track
        self._sessions: dict[str, tuple[str, RTCPeerConnection]] = {}  # id -> (camera, pc)
        self.router = self._build_router()

    def source(self, camera: str) -> WhipSource:
        """The `FrameSource` for `camera`: one per camera, a fresh one once it was closed
        (a camera actor may close its source after a loss and ask for it again)."""
        src = self._sources.get(camera)
        if src is None or src.closed:
            src = self._sources[camera] = WhipSource(camera, max_fps=self._max_fps)
            track = self._tracks.get(camera)
            if track is not None and getattr(track, "readyState", "live") == "live":
                src.attach(track)
        return src

    async def publish(self, camera: str, offer_sdp: str) -> tuple[str, str]:
        """Accept a publisher's offer; return (session id, SDP answer).

        :raises KeyError: `camera` is not served here.
        :raises ValueError: the offer is not valid SDP or has no video.
        """
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        if self._allowed is not None and camera not in self._allowed:
            raise KeyError(camera)
        if "m=video" not in offer_sdp:
            raise ValueError("the SDP offer has no video (m=video) section")
        for sid, (cam, _) in list(self._sessions.items()):
            if cam == camera:
                await self.end(sid)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                self._tracks[camera] = track
                self.source(camera).attach(track)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except (ValueError, KeyError, AttributeError, IndexError, AssertionError, TypeError) as exc:
            # aiortc signals a malformed offer with whatever its parser tripped on.
            await pc.close()
            raise ValueError(f"cannot use this SDP offer: {exc}") from exc
        session_id = uuid.uuid4().hex
        self._sessions[session_id] = (camera, pc)
        return session_id, pc.localDescription.sdp

    async def end(self, session_id: str) -> bool:
        """End one session; False if there was none."""
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return False
        camera, pc = entry
        self._tracks.pop(camera, None)
        source = self._sources.get(camera)
        if source is not None:
            source.detach()
        await pc.close()
        return True

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for sid in list(self._sessions):
                await self.end(sid)
            for src in self._sources.values():
                await src.aclose()

    def _build_router(self) -> APIRouter:
        router = APIRouter(tags=["whip"])

        @router.post(
            "/whip/{camera}",
            status_code=201,
            responses={201: {"content": {SDP: {}}}, 404: {}, 415: {}, 400: {}},
            summary="Publish a WebRTC video stream to a camera (WHIP)",
        )
        async def whip_publish(camera: str, request: Request) -> Response:
            ctype = request.headers.get("content-type", "").split(";")[0].strip()
            if ctype != SDP:
                raise HTTPException(415, f"send the SDP offer as {SDP}, not {ctype or 'nothing'}")
            body = (await request.body()).decode("utf-8", errors="replace")
            try:
                session_id, answer = await self.publish(camera, body)
            except KeyError:
                raise HTTPException(404, f"no camera {camera!r} takes WHIP here") from None
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
            location = f"{request.url.path.rstrip('/')}/{session_id}"
            return Response(answer, 201, media_type=SDP, headers={"Location": location})

        @router.delete("/whip/{camera}/{session_id}", status_code=200, summary="End a session")
        async def whip_end(camera: str, session_id: str) -> Response:
            entry = self._sessions.get(session_id)
            if entry is None or entry[0] != camera:
                raise HTTPException(404, "no such WHIP session (already ended?)")
            await self.end(session_id)
            return Response(status_code=200)

        return router


def _to_rgb(vframe: Any) -> Any:
    return vframe.to_ndarray(format="rgb24")
