"""`lfr bench cameras`: how many 1080p cameras this machine analyses at 10 fps each.

Generates a 1080p 25 fps H.264 clip with faces from the shared photos composited on a
textured background, serves it over RTSP on loopback (one session per camera, as separate
cameras would), and ramps the number of concurrent cameras: first decode only (the
ceiling), then the full hot path: `CameraLoop` fed by `camera_recognition`, the recogniser and
deciders every deployed camera runs (`TrackingRecogniser` + `TrackingDecider`).
A load is sustained when every camera analyses >= 95 % of the asked rate and decoding does
not fall further behind the stream's own clock. Prints one JSON object.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

__all__ = ["bench_loop", "command"]

if TYPE_CHECKING:
    import anyio

    from lfr.video.loop import CameraLoop
    from lfr.vision.pipeline import FacePipeline
    from lfr.vision.types import FrameSource, Gallery


def command(
    json: Annotated[
        bool, typer.Option("--json", help="print the result as one JSON object")
    ] = False,
    seconds: Annotated[float, typer.Option(min=2, help="measured seconds per load step")] = 6.0,
    fps: Annotated[float, typer.Option(min=1, help="analysed frames per second per camera")] = 10.0,
    max_streams: Annotated[int, typer.Option(min=1, help="stop the ramp here")] = 24,
    faces: Annotated[int, typer.Option(min=0, max=8, help="faces in the generated clip")] = 4,
) -> None:
    """Ramp concurrent RTSP cameras until lag grows; report capacity and latency."""
    import anyio

    from lfr.cli._common import err_console, print_json

    result = anyio.run(_bench, seconds, fps, max_streams, faces, backend="asyncio")
    if json:
        print_json(result)
    else:
        for key, value in result.items():
            err_console.print(f"{key}: {value}")


def _pick_faces(n: int) -> list[Path]:
    from lfr.config import settings

    people = sorted(p for p in settings().faces_dir.iterdir() if p.is_dir() and p.name[0] != "_")
    photos = []
    for person in people:
        jpgs = sorted(person.glob("*.jpg")) + sorted(person.glob("*.png"))
        if jpgs:
            photos.append(jpgs[0])
        if len(photos) == n:
            break
    return photos


def _cpu_s(pid: int | None = None) -> float:
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _NoAnalysis:
    """Decode-only runs: the frame is taken from the slot and dropped, nothing analysed."""

    def analyse(self, frame: Any, gallery: Any) -> Any:
        from lfr.vision.types import FrameAnalysis

        return FrameAnalysis(frame_index=frame.index, faces=[])


def bench_loop(
    pipeline: FacePipeline,
    source: FrameSource,
    camera_id: str,
    gallery: Gallery,
    fps: float,
    limiter: anyio.CapacityLimiter,
    analyse: bool,
) -> CameraLoop:
    """One benchmarked camera, armed: a deployed camera's recognition (or, decode only, the
    same loop and decider with an analysis that does nothing)."""
    from lfr.video.loop import CameraLoop
    from lfr.video.recognition import camera_recognition, shared_recognition

    recognition = (
        camera_recognition(pipeline, camera_id)
        if analyse
        else shared_recognition(_NoAnalysis(), camera_id, decider="tracking")
    )
    return CameraLoop(
        source,
        recognition.recogniser,
        recognition.new_decider(),
        gallery=gallery,
        threshold=0.5,
        fps=fps,
        limiter=limiter,
    )


async def _run_load(
    url: str,
    n: int,
    seconds: float,
    fps: float,
    analyse: bool,
    pipeline: Any,
    gallery: Any,
    server_pid: int | None,
) -> dict[str, Any]:
    import anyio

    from lfr.video.loop import LoopOutput, StreamStarted
    from lfr.video.rtsp import RtspSource

    limiter = anyio.CapacityLimiter(os.cpu_count() or 2)
    loops: list[CameraLoop] = []
    sources: list[RtspSource] = []
    started = 0
    all_started = anyio.Event()

    async def emit(item: LoopOutput) -> None:
        nonlocal started
        if isinstance(item, StreamStarted):
            started += 1
            if started >= n:
                all_started.set()

    for i in range(n):
        source = RtspSource(url, read_timeout_s=10, open_timeout_s=20)
        loops.append(bench_loop(pipeline, source, f"bench-{i}", gallery, fps, limiter, analyse))
        sources.append(source)

    result: dict[str, Any] = {"streams": n, "analysed": analyse}
    async with anyio.create_task_group() as tg:
        for loop in loops:
            tg.start_soon(loop.run, emit)
            await anyio.sleep(0.05)
        with anyio.move_on_after(30):
            await all_started.wait()
        if not all_started.is_set():
            tg.cancel_scope.cancel()
            result.update(sustained=False, reason=f"only {started} of {n} streams started")
        else:
            await anyio.sleep(2.0)  # warm-up: probing bursts, first full scans
            before = [
                (lp.stats.frames_analysed, len(lp.stats.latency_ms), len(lp.stats.lag_s))
                for lp in loops
            ]
            lag0 = [_recent(lp.stats.lag_s) for lp in loops]
            cpu0, srv0, t0 = _cpu_s(), _cpu_s(server_pid), time.monotonic()
            await anyio.sleep(seconds)
            wall = time.monotonic() - t0
            cpu, srv = _cpu_s() - cpu0, _cpu_s(server_pid) - srv0
            rates, latencies, lag_growth = [], [], []
            for lp, (a0, l0, _), g0 in zip(loops, before, lag0, strict=True):
                rates.append((lp.stats.frames_analysed - a0) / wall)
                lat = list(lp.stats.latency_ms)
                latencies += lat[l0 - len(lat) :] if len(lat) > l0 else []
                lag_growth.append(_recent(lp.stats.lag_s) - g0)
            tg.cancel_scope.cancel()
            latencies.sort()
            worst_rate = min(rates)
            worst_lag = max(lag_growth)
            result.update(
                sustained=worst_rate >= 0.95 * fps and worst_lag < 0.25,
                analysed_fps_min=round(worst_rate, 2),
                analysed_fps_total=round(sum(rates), 1),
                lag_growth_s_max=round(worst_lag, 3),
                drops=sum(lp.stats.drops for lp in loops),
                latency_ms_p50=_pct(latencies, 50),
                latency_ms_p95=_pct(latencies, 95),
                cpu_cores_used=round(cpu / wall, 2),
                rtsp_server_cores=round(srv / wall, 2),
                # Cores one camera costs (ours + its share of the RTSP server): with other
                # work on the machine, the ramp under-reads and this is the steadier figure.
                cores_per_stream=round((cpu + srv) / wall / n, 3),
            )
    for source in sources:
        await source.aclose()
    return result


def _recent(values: Any) -> float:
    tail = list(values)[-10:]
    return sum(tail) / len(tail) if tail else 0.0


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))], 1)


async def _bench(seconds: float, fps: float, max_streams: int, n_faces: int) -> dict[str, Any]:
    import tempfile

    import anyio

    from lfr.cli._common import err_console
    from lfr.video.rtsp_server import RtspClipServer
    from lfr.video.synthetic import write_clip
    from lfr.vision.pipeline import FacePipeline, PipelineConfig
    from lfr.vision.runtime import RuntimeConfig
    from lfr.watchlist.enrol import enrol_directory

    photos = _pick_faces(n_faces)
    # One single-threaded pipeline shared by all cameras, two analyses at once (two cores):
    # cheaper in CPU per frame than two-thread sessions fighting over the same cores.
    config = PipelineConfig(runtime=RuntimeConfig(intra_op_threads=1))
    pipeline = await anyio.to_thread.run_sync(FacePipeline.shared, config)
    faces_dir = photos[0].parent.parent if photos else None
    with tempfile.TemporaryDirectory(prefix="lfr-bench-cameras-") as tmp:
        clip = Path(tmp) / "street-1080p25.mp4"
        err_console.print("generating a 1080p 25 fps H.264 clip with faces ...")
        await anyio.to_thread.run_sync(lambda: write_clip(clip, photos, seconds=8.0))
        # The watchlist: the clip's people are on it, so matching work is real.
        gallery_dir = Path(tmp) / "watchlist"
        for photo in photos:
            (gallery_dir / photo.parent.name).mkdir(parents=True, exist_ok=True)
            (gallery_dir / photo.parent.name / photo.name).symlink_to(photo.resolve())
        gallery = await anyio.to_thread.run_sync(enrol_directory, pipeline, gallery_dir)
        result: dict[str, Any] = {
            "bench": "cameras",
            "nproc": os.cpu_count(),
            "stream": {
                "width": 1920,
                "height": 1080,
                "fps": 25,
                "codec": "h264",
                "gop": 50,
                "faces": len(photos),
                "transport": "rtsp/tcp loopback",
                "server": "lfr.video.rtsp_lean (child process)",
            },
            "analysis_fps": fps,
            "seconds_per_step": seconds,
            "faces_from": str(faces_dir) if faces_dir else None,
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        }
        async with RtspClipServer(tmp, lean=True) as server:
            url = server.url(clip.name)
            decode_runs = []
            ceiling = 0
            for n in _ramp(max_streams, coarse=True):
                err_console.print(f"decode only: {n} streams ...")
                run = await _run_load(url, n, seconds, fps, False, pipeline, gallery, server.pid)
                decode_runs.append(run)
                if not run["sustained"]:
                    break
                ceiling = n
            analysed_runs = []
            sustained = 0
            best: dict[str, Any] | None = None
            for n in _ramp(max_streams, coarse=False):
                err_console.print(f"full analysis: {n} streams ...")
                run = await _run_load(url, n, seconds, fps, True, pipeline, gallery, server.pid)
                analysed_runs.append(run)
                if not run["sustained"]:
                    break
                sustained, best = n, run
        result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        result["decode_only"] = {"ceiling_streams": ceiling, "runs": decode_runs}
        result["analysed"] = {"sustained_streams": sustained, "runs": analysed_runs}
        result["latency_ms_p50"] = best["latency_ms_p50"] if best else None
        result["latency_ms_p95"] = best["latency_ms_p95"] if best else None
        result["sustained_vs_ceiling"] = round(sustained / ceiling, 2) if ceiling else None
        cores = os.cpu_count() or 2
        result["projected_idle_machine"] = {
            "decode_only_streams": _projection(decode_runs, cores, fps),
            "analysed_streams": _projection(analysed_runs, cores, fps),
            "note": "nproc / cores_per_stream measured at the largest step doing >= 80 % of "
            "its frames; the ramp itself is what this machine sustained under its current load",
        }
        result["targets_met"] = {
            "streams_ge_6": sustained >= 6,
            "p95_le_250ms": bool(best and (best["latency_ms_p95"] or 1e9) <= 250),
            "ge_50pct_of_ceiling": bool(ceiling and sustained / ceiling >= 0.5),
        }
    return result


def _projection(runs: list[dict[str, Any]], cores: int, fps: float) -> float | None:
    """Streams an idle machine would carry, from the cost per stream measured at the largest
    step that still did at least 80 % of its work (the cost of a starved step under-reads)."""
    good = [
        r
        for r in runs
        if r.get("cores_per_stream") and (r.get("analysed_fps_min") or 0) >= 0.8 * fps
    ]
    if not good:
        return None
    return round(cores / float(good[-1]["cores_per_stream"]), 1)


def _ramp(limit: int, *, coarse: bool) -> list[int]:
    steps = [2, 4, 8, 12, 16, 20, 24, 32] if coarse else [1, 2, 4, 6, 7, 8, 9, 10, 12, 14, 16]
    return [n for n in steps if n <= limit]
