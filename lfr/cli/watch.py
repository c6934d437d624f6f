"""`lfr watch`: run one camera on a file or an RTSP URL against a folder of photos.

The same hot path as a deployed camera (`lfr.video.loop.CameraLoop` fed by
`lfr.video.recognition.camera_recognition`, as `lfr run` builds its cameras), without an
event log or alerts: matches and a summary are printed, nothing else is kept. Heavy imports
happen inside the command so `lfr --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lfr.vision.threshold import DEFAULT_THRESHOLD

__all__ = ["command", "watch_loop"]

if TYPE_CHECKING:
    from lfr.video.loop import CameraLoop
    from lfr.vision.pipeline import FacePipeline
    from lfr.vision.types import FrameSource, Gallery


def command(
    source: Annotated[str, typer.Argument(help="a video file (mp4, mkv, ...) or an rtsp:// URL")],
    watchlist: Annotated[
        Path,
        typer.Option(
            "--watchlist",
            "-w",
            help="folder of <identity>/<image> photos, enrolled on the fly",
            exists=True,
            file_okay=False,
            resolve_path=True,
        ),
    ],
    threshold: Annotated[
        float,
        typer.Option(
            min=-1.0, max=1.0, help="cosine similarity needed for a match (the shipped default)"
        ),
    ] = DEFAULT_THRESHOLD,
    seconds: Annotated[
        float | None, typer.Option(min=0.1, help="stop after this many seconds (default: at end)")
    ] = None,
    fps: Annotated[float, typer.Option(min=0.5, max=60, help="analysed frames per second")] = 10.0,
    realtime: Annotated[
        bool,
        typer.Option(
            help="play files at their own speed, like a camera (--no-realtime: as fast as "
            "analysis allows, every sampled frame analysed)"
        ),
    ] = True,
    loop: Annotated[bool, typer.Option(help="start a file again at its end")] = False,
    json: Annotated[
        bool, typer.Option("--json", help="one JSON line per match, then a JSON summary")
    ] = False,
) -> None:
    """Watch one video source for the people in a folder of photos.

    Prints each match (identity, similarity, frame time, track) and a final summary: frames
    decoded and analysed, faces, tracks, matches, drops, and the decode-to-decision latency.
    """
    import anyio

    from lfr.cli._common import err_console, fail, plain
    from lfr.errors import ANY_LFR_ERROR

    if not source.startswith(("rtsp://", "rtsps://")) and not Path(source).is_file():
        fail(f"{source} is not a file or an rtsp:// URL; give a video file path or a camera URL")
    try:
        summary = anyio.run(
            _watch,
            source,
            watchlist,
            threshold,
            seconds,
            fps,
            realtime,
            loop,
            json,
            backend="asyncio",
        )
    except ANY_LFR_ERROR as exc:
        fail(str(exc))
    if summary.get("error"):
        err_console.print(f"[bold red]error:[/] {plain(summary['error'])}")
        raise typer.Exit(1)


def watch_loop(
    pipeline: FacePipeline,
    source: FrameSource,
    gallery: Gallery,
    threshold: float,
    fps: float,
    *,
    lossless: bool,
) -> CameraLoop:
    """The watched camera: a deployed camera's recognition on `source`, already armed."""
    from lfr.video.loop import CameraLoop
    from lfr.video.recognition import camera_recognition

    recognition = camera_recognition(pipeline, "watch")
    return CameraLoop(
        source,
        recognition.recogniser,
        recognition.new_decider(),
        gallery=gallery,
        threshold=threshold,
        fps=fps,
        lossless=lossless,
    )


async def _watch(
    source_arg: str,
    watchlist: Path,
    threshold: float,
    seconds: float | None,
    fps: float,
    realtime: bool,
    loop_file: bool,
    as_json: bool,
) -> dict[str, Any]:
    import signal
    import time

    import anyio

    from lfr.cli._common import err_console, fail, plain, print_json
    from lfr.video.file import FileSource
    from lfr.video.loop import FrameDecided, LoopOutput, StreamLost, StreamStarted
    from lfr.video.redact import redact_url
    from lfr.video.rtsp import RtspSource
    from lfr.video.tracker import TrackingDecider
    from lfr.vision.pipeline import FacePipeline
    from lfr.watchlist.enrol import enrol_directory

    err_console.print(f"enrolling photos from {plain(watchlist)} ...")
    refused: list[str] = []
    pipeline = await anyio.to_thread.run_sync(FacePipeline.shared)
    gallery = await anyio.to_thread.run_sync(
        lambda: enrol_directory(pipeline, watchlist, on_refused=lambda e: refused.append(str(e)))
    )
    for reason in refused:
        err_console.print(f"[yellow]skipped:[/] {plain(reason)}")
    if len(gallery) == 0:
        fail(f"no identity could be enrolled from {watchlist}: expected <identity>/<image> folders")
    err_console.print(
        f"enrolled {len(gallery)} identities; watching {plain(redact_url(source_arg))}"
    )

    source: FrameSource
    is_rtsp = source_arg.startswith(("rtsp://", "rtsps://"))
    if is_rtsp:
        source = RtspSource(source_arg)
    else:
        source = FileSource(source_arg, loop=loop_file, realtime=realtime)
    camera = watch_loop(
        pipeline, source, gallery, threshold, fps, lossless=not is_rtsp and not realtime
    )
    decider = camera.decider
    started = time.monotonic()
    state: dict[str, Any] = {"started": False, "error": None}

    async def emit(item: LoopOutput) -> None:
        if isinstance(item, StreamStarted):
            state["started"] = True
            info = item.info
            err_console.print(
                f"stream started: {plain(redact_url(info.url))} {plain(info.codec)} "
                f"{info.width}x{info.height} {info.fps or 0:.2f} fps",
                soft_wrap=True,
            )
        elif isinstance(item, StreamLost):
            if item.retry_in_s is None and not state["started"]:
                state["error"] = item.reason
            elif item.retry_in_s is not None:
                state["last_loss"] = item.reason
                err_console.print(
                    f"[yellow]stream lost:[/] {plain(item.reason)}; "
                    f"retrying in {item.retry_in_s:.1f} s"
                )
        elif isinstance(item, FrameDecided):
            for match in item.decisions.matches:
                record = {
                    "type": "match",
                    "identity": match.candidate.label,
                    "entry_id": match.candidate.entry_id,
                    "similarity": round(match.candidate.similarity, 4),
                    "threshold": threshold,
                    "frame_time": match.frame_at.isoformat(),
                    "stream_time_s": round(item.pts_s, 3) if item.pts_s is not None else None,
                    "track_id": match.track_id,
                    "face_size_px": match.face_size_px,
                    "latency_ms": round((time.monotonic_ns() - match.decoded_ns) / 1e6, 1),
                }
                if match.crop is not None:
                    match.crop.fill(0)  # lfr watch keeps no pixels, even of a match
                if as_json:
                    print_json(record)
                else:
                    err_console.print(
                        f"[bold green]MATCH[/] {plain(record['identity'])} "
                        f"similarity {record['similarity']:.3f} track {record['track_id']} "
                        f"at {record['frame_time']}"
                    )

    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        with anyio.move_on_after(seconds if seconds is not None else float("inf")):
            await camera.run(emit)
        tg.cancel_scope.cancel()
    await source.aclose()

    stats = camera.stats

    def ms(value: float | None) -> float | None:
        return round(value, 1) if value is not None else None

    summary: dict[str, Any] = {
        "type": "summary",
        "source": redact_url(source.info.url),
        "seconds": round(time.monotonic() - started, 2),
        "frames_decoded": getattr(source, "frames_decoded", stats.frames_received),
        "frames_analysed": stats.frames_analysed,
        "faces_seen": stats.faces_seen,
        "tracks": decider.tracks_started if isinstance(decider, TrackingDecider) else None,
        "matches": stats.matches,
        "drops": stats.drops,
        "stream_losses": stats.stream_losses,
        "latency_ms_p50": ms(stats.percentile(50)),
        "latency_ms_p95": ms(stats.percentile(95)),
        "match_latency_ms_p50": ms(stats.percentile(50, matches=True)),
        "match_latency_ms_p95": ms(stats.percentile(95, matches=True)),
        "threshold": threshold,
        "watchlist_version": gallery.version,
    }
    if not state["started"] and not state["error"]:
        last = state.get("last_loss") or "nothing arrived"
        state["error"] = f"no video from {summary['source']} in {summary['seconds']} s ({last})"
    if state["error"]:
        summary["error"] = state["error"]
    if as_json:
        print_json(summary)
    else:
        for key, value in summary.items():
            err_console.print(f"{key}: {plain(value)}")
    return summary
