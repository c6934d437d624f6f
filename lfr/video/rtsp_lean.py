"""A lean loopback RTSP server for H.264 clips: many 1080p streams for a few % of a core.

The camera benchmark serves several 1080p streams from the same two cores it measures, so
the server must cost little. This one demuxes a clip once, cuts it into RTP packets once
(RFC 6184: single NAL units, FU-A above 1400 bytes, SPS/PPS in band before key frames), and
per client only stamps sequence numbers and timestamps and writes one frame's packets at a
time over the RTSP connection (RTP/AVP/TCP interleaved), paced at the clip's frame rate.
Clips loop for ever with a continuous clock, as a live camera's does. TCP only; not for
production. Run it alone with `python -m lfr.video.rtsp_lean DIR --port 8554`.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

__all__ = [
    "Clip",
    "load_clip",
    "main",
    "serve",
]

_MTU = 1400
_CLOCK = 90_000


@dataclass(frozen=True, slots=True)
class Clip:
    """A clip cut into RTP payloads: per frame its time (90 kHz) and payloads."""

    sps: bytes
    pps: bytes
    frames: list[tuple[int, list[bytes]]]
    duration: int  # 90 kHz ticks of one pass, for a continuous clock across loops


def _nals(data: bytes, length_size: int) -> list[bytes]:
    out, i = [], 0
    while i + length_size <= len(data):
        n = int.from_bytes(data[i : i + length_size], "big")
        out.append(data[i + length_size : i + length_size + n])
        i += length_size + n
    return out


def _payloads(nal: bytes) -> list[bytes]:
    if len(nal) <= _MTU:
        return [nal]
    header, body = nal[0], nal[1:]
    indicator = (header & 0xE0) | 28  # FU-A
    chunks = [body[i : i + _MTU - 2] for i in range(0, len(body), _MTU - 2)]
    out = []
    for k, chunk in enumerate(chunks):
        fu = header & 0x1F
        if k == 0:
            fu |= 0x80
        if k == len(chunks) - 1:
            fu |= 0x40
        out.append(bytes((indicator, fu)) + chunk)
    return out


def load_clip(path: Path) -> Clip:
    """Demux an H.264 MP4/MKV once and cut it into RTP payloads.

    :raises ValueError: the clip has no H.264 video in avcC form.
    """
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        extra = stream.codec_context.extradata or b""
        if stream.codec_context.name != "h264" or len(extra) < 8 or extra[0] != 1:
            raise ValueError(f"{path.name}: not H.264 in an MP4/MKV (avcC)")
        length_size = (extra[4] & 3) + 1
        n_sps = extra[5] & 0x1F
        i = 6
        sps_list = []
        for _ in range(n_sps):
            n = int.from_bytes(extra[i : i + 2], "big")
            sps_list.append(extra[i + 2 : i + 2 + n])
            i += 2 + n
        n_pps = extra[i]
        i += 1
        pps_list = []
        for _ in range(n_pps):
            n = int.from_bytes(extra[i : i + 2], "big")
            pps_list.append(extra[i + 2 : i + 2 + n])
            i += 2 + n
        tb = float(stream.time_base or 1 / _CLOCK)
        rate = float(stream.average_rate or 25)
        frames: list[tuple[int, list[bytes]]] = []
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            nals = _nals(bytes(packet), length_size)
            if packet.is_keyframe:
                nals = sps_list + pps_list + nals
            payloads = [p for nal in nals if nal for p in _payloads(nal)]
            frames.append((int(round(packet.pts * tb * _CLOCK)), payloads))
    frames.sort(key=lambda f: f[0])
    first = frames[0][0] if frames else 0
    frames = [(ts - first, p) for ts, p in frames]
    duration = (frames[-1][0] if frames else 0) + int(round(_CLOCK / rate))
    return Clip(sps_list[0], pps_list[0], frames, duration)


class _Server:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.clips: dict[str, Clip] = {}

    def clip(self, name: str) -> Clip | None:
        if name not in self.clips:
            path = (self.directory / name).resolve()
            if path.parent != self.directory.resolve() or not path.is_file():
                return None
            try:
                self.clips[name] = load_clip(path)
            except (ValueError, OSError):
                return None
        return self.clips[name]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        streaming: asyncio.Task[None] | None = None
        clip: Clip | None = None
        session = f"{id(writer) & 0xFFFFFFFF:08x}"
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, url, _ = (lines[0].split(" ") + ["", ""])[:3]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                if int(headers.get("content-length", "0") or 0):
                    await reader.readexactly(int(headers["content-length"]))
                cseq = headers.get("cseq", "0")
                name = urlparse(url).path.strip("/").split("/")[0] if url != "*" else ""
                extra: dict[str, str] = {}
                body = b""
                status = "200 OK"
                if method == "OPTIONS":
                    extra["Public"] = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
                elif method == "DESCRIBE":
                    clip = self.clip(name)
                    if clip is None:
                        status = "404 Not Found"
                    else:
                        body = _sdp(clip).encode()
                        extra["Content-Base"] = url.rstrip("/") + "/"
                        extra["Content-Type"] = "application/sdp"
                elif method == "SETUP":
                    transport = headers.get("transport", "")
                    if "TCP" not in transport.upper():
                        status = "461 Unsupported Transport"
                    else:
                        extra["Transport"] = "RTP/AVP/TCP;unicast;interleaved=0-1"
                        extra["Session"] = session
                elif method == "PLAY":
                    clip = clip or self.clip(name)
                    if clip is None:
                        status = "404 Not Found"
                    else:
                        extra["Session"] = session
                        extra["Range"] = "npt=0.000-"
                elif method in ("TEARDOWN", "GET_PARAMETER", "SET_PARAMETER"):
                    extra["Session"] = session
                else:
                    status = "405 Method Not Allowed"
                reply = f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n"
                reply += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                reply += f"Content-Length: {len(body)}\r\n\r\n"
                writer.write(reply.encode() + body)
                await writer.drain()
                if method == "PLAY" and clip is not None and streaming is None:
                    streaming = asyncio.create_task(_stream(clip, writer))
                if method == "TEARDOWN":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            if streaming is not None:
                streaming.cancel()
            writer.close()


def _sdp(clip: Clip) -> str:
    sets = ",".join(base64.b64encode(x).decode() for x in (clip.sps, clip.pps))
    level = clip.sps[1:4].hex()
    return (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=lfr clip\r\nt=0 0\r\n"
        "m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n"
        f"a=fmtp:96 packetization-mode=1;profile-level-id={level};sprop-parameter-sets={sets}\r\n"
        "a=control:trackID=0\r\n"
    )


async def _stream(clip: Clip, writer: asyncio.StreamWriter) -> None:
    """Write the clip's frames at their times, for ever, one write per frame."""
    seq = 0
    ssrc = id(writer) & 0xFFFFFFFF
    start = time.monotonic()
    loop = 0
    try:
        while True:
            for ts, payloads in clip.frames:
                clock = loop * clip.duration + ts
                wait = start + clock / _CLOCK - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                parts = []
                last = len(payloads) - 1
                for k, payload in enumerate(payloads):
                    marker = 0x80 if k == last else 0
                    rtp = struct.pack("!BBHII", 0x80, marker | 96, seq, clock & 0xFFFFFFFF, ssrc)
                    parts.append(struct.pack("!cBH", b"$", 0, 12 + len(payload)) + rtp)
                    parts.append(payload)
                    seq = (seq + 1) & 0xFFFF
                writer.write(b"".join(parts))
                await writer.drain()
            loop += 1
    except ConnectionError:
        writer.close()


async def serve(directory: Path, host: str, port: int) -> None:
    server = _Server(directory)
    async with await asyncio.start_server(server.handle, host, port) as srv:
        await srv.serve_forever()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Serve H.264 clips over RTSP on loopback.")
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=8554)
    args = parser.parse_args()
    asyncio.run(serve(Path(args.directory), "127.0.0.1", args.port))


if __name__ == "__main__":
    main()
