"""Credentials redacted in every URL printed (issue 15): the one helper (`lfr.video.redact`),
and a camera URL holding a password never reaching the loop's outputs (what
`CameraStreamStarted.source` and `CameraStreamLost.reason` are made of), the logs, the
video errors or `lfr watch`'s output."""

from __future__ import annotations

import logging
import sys

import anyio
import pytest

from lfr.video import redact_url, redact_urls
from lfr.video.errors import SourceOpenError, StreamInterrupted
from lfr.video.loop import CameraLoop, LoopOutput, StreamLost, StreamStarted
from lfr.video.rtsp import Backoff, RtspSource
from lfr.video.rtsp_server import RtspClipServer, free_port
from lfr.video.tracker import TrackingDecider
from tests.video.fakes import EmptyGallery, ScriptedRecogniser

SECRET = "hunter2"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("rtsp://admin:hunter2@10.0.0.9:554/stream1", "rtsp://10.0.0.9:554/stream1"),
        ("rtsp://admin@10.0.0.9/s", "rtsp://10.0.0.9/s"),
        ("rtsp://a:b@c@10.0.0.9", "rtsp://10.0.0.9"),  # '@' in the password
        ("rtsps://u:p@cam?x=1", "rtsps://cam?x=1"),
        ("rtsp://cam/s?user=a&password=hunter2", "rtsp://cam/s?user=a&password=***"),
        ("http://cam/s?token=hunter2#top", "http://cam/s?token=***#top"),
        ("rtsp://cam/a@b", "rtsp://cam/a@b"),  # '@' in the path is not a credential
        ("/videos/clip.mp4", "/videos/clip.mp4"),
        ("scripted://ne-1", "scripted://ne-1"),
    ],
)
def test_redact_url(url: str, safe: str) -> None:
    assert redact_url(url) == safe


def test_redact_urls_in_a_message() -> None:
    text = "Connection refused: 'rtsp://admin:hunter2@10.0.0.9/s' (then nats://u:pw@h:4222)"
    assert redact_urls(text) == "Connection refused: 'rtsp://10.0.0.9/s' (then nats://h:4222)"


def test_the_video_errors_never_carry_a_password() -> None:
    url = f"rtsp://admin:{SECRET}@10.0.0.9/s"
    for exc in (
        SourceOpenError(url, f"refused by {url}", "check it"),
        StreamInterrupted(url, f"lost {url}", retry_in_s=1.0),
    ):
        assert SECRET not in str(exc) and SECRET not in exc.url and SECRET not in exc.reason


async def _run(source: RtspSource, until: type, seconds: float = 20) -> list[LoopOutput]:
    loop = CameraLoop(
        source,
        ScriptedRecogniser(lambda f: []),
        TrackingDecider("cam"),
        gallery=EmptyGallery(),
        threshold=0.5,
        fps=5,
    )
    seen: list[LoopOutput] = []
    done = anyio.Event()

    async def emit(item: LoopOutput) -> None:
        seen.append(item)
        if isinstance(item, until):
            done.set()

    with anyio.fail_after(seconds):
        async with anyio.create_task_group() as tg:
            await tg.start(loop.run, emit)
            await done.wait()
            tg.cancel_scope.cancel()
    await source.aclose()
    return seen


async def test_a_stream_with_a_password_starts_without_showing_it(
    rtsp_server: RtspClipServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = rtsp_server.url("hamilton_short_clip.mp4").replace("rtsp://", f"rtsp://lfr:{SECRET}@")
    seen = await _run(RtspSource(url), StreamStarted)
    started = next(s for s in seen if isinstance(s, StreamStarted))
    # CameraStreamStarted.source is this url
    assert started.info.url == redact_url(url) and SECRET not in started.info.url
    assert SECRET not in repr(seen) and SECRET not in caplog.text


async def test_a_lost_stream_with_a_password_does_not_show_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"rtsp://admin:{SECRET}@127.0.0.1:{free_port()}/stream1"
    source = RtspSource(url, open_timeout_s=2, backoff=Backoff(first_s=0.1, max_s=0.2))
    seen = await _run(source, StreamLost)
    lost = next(s for s in seen if isinstance(s, StreamLost))
    # CameraStreamLost.reason is this reason
    assert SECRET not in lost.reason and SECRET not in repr(seen) and SECRET not in caplog.text
    with pytest.raises(StreamInterrupted) as info:
        await RtspSource(url, open_timeout_s=2).recv()
    assert SECRET not in str(info.value)


@pytest.mark.models
async def test_lfr_watch_does_not_echo_the_password(hamilton) -> None:
    url = f"rtsp://admin:{SECRET}@127.0.0.1:{free_port()}/stream1"
    refs = str(hamilton.parent / "refs")
    cmd = [sys.executable, "-c", "from lfr.cli import main; main()", "watch", url]
    for extra in ([], ["--json"]):
        with anyio.fail_after(90):
            done = await anyio.run_process(
                [*cmd, "--watchlist", refs, "--seconds", "2", *extra], check=False
            )
        out = done.stdout.decode() + done.stderr.decode()
        assert done.returncode == 1, out  # no video in 2 s
        assert "127.0.0.1" in out and SECRET not in out and "admin" not in out
        assert "Traceback" not in out


def test_lfr_watch_refuses_a_url_it_cannot_read_without_echoing_it() -> None:
    from typer.testing import CliRunner

    from lfr.cli import app

    result = CliRunner().invoke(app, ["watch", f"http://admin:{SECRET}@cam/x", "-w", "."])
    assert result.exit_code == 1
    assert "http://cam/x" in result.output and SECRET not in result.output
