"""`lfr bench vision --json`: what the face pipeline costs on this machine, and a peer.

Measures (decoding excluded): per-stage cost on 1080p crowd frames with several faces,
faces per second, the ratio of the whole pipeline's time to the bare model calls inside it
(session.run only), the embedder before and after the denormal fix, watchlist search at
1,000 / 10,000 / 100,000 entries, and the same photos through `face_recognition` (dlib) as
a peer for speed per face and accuracy.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["command"]


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "mean": round(float(np.mean(a)), 3),
    }


def _frames(video: Path, count: int) -> list[Any]:
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        total = stream.frames or 100
        step = max(1, total // count)
        out = []
        for i, frame in enumerate(container.decode(stream)):
            if i % step == 0:
                out.append(frame.to_ndarray(format="rgb24"))
            if len(out) >= count:
                break
    return out


def _frame_costs(pipeline: Any, frames: list[Any], repeats: int) -> dict[str, Any]:
    import numpy as np

    from lfr.watchlist.armed import ArmedWatchlist

    rng = np.random.default_rng(0)
    m = rng.normal(size=(1000, 512)).astype(np.float32)
    gallery = ArmedWatchlist(
        "bench", [f"e{i}" for i in range(1000)], [""] * 1000, m / np.linalg.norm(m, axis=1)[:, None]
    )
    for image in frames[:2]:
        pipeline.analyse_image(image, gallery).forget()  # warm-up
    stages: dict[str, list[float]] = {}
    totals, models, faces, embedded = [], [], 0, 0
    for _ in range(repeats):
        for image in frames:
            analysis = pipeline.analyse_image(image, gallery)
            for key, value in analysis.stage_ms.items():
                stages.setdefault(key, []).append(value)
            totals.append(analysis.stage_ms["total"])
            models.append(analysis.stage_ms["model"])
            faces += analysis.faces_seen
            embedded += analysis.faces_seen - analysis.faces_below_quality
            analysis.forget()
    seconds = sum(totals) / 1000
    return {
        "frames": len(frames),
        "repeats": repeats,
        "width": int(frames[0].shape[1]),
        "height": int(frames[0].shape[0]),
        "faces_per_frame": round(faces / len(totals), 2),
        "embedded_per_frame": round(embedded / len(totals), 2),
        "stage_ms": {k: _percentiles(v) for k, v in stages.items()},
        "frames_per_second": round(len(totals) / seconds, 2),
        "faces_per_second": round(faces / seconds, 1),
        "pipeline_to_model_ratio": round(sum(totals) / sum(models), 3),
    }


def _time_embedder(path: str, tensors: Any, fixed: bool, batch: int) -> float:
    """ms per face of one embedder; run in a fresh process, so no FTZ/DAZ bits leak in."""
    from lfr.vision.runtime import RuntimeConfig, flush_denormals_on_this_thread, make_session

    if fixed:
        flush_denormals_on_this_thread()
    session = make_session(Path(path), RuntimeConfig(denormal_as_zero=fixed))
    session.run(None, {"input": tensors[:1]})
    start = time.perf_counter()
    for _ in range(5):
        for i in range(0, len(tensors), batch):
            session.run(None, {"input": tensors[i : i + batch]})
    return round((time.perf_counter() - start) * 1000 / (5 * len(tensors)), 2)


def _embedder_costs(pack_root: Path, pipeline: Any, image: Any) -> dict[str, Any]:
    """The shipped embedder as shipped (no flags) against the fast one as the pipeline runs it.

    Each variant is timed in a fresh process: threads inherit FTZ/DAZ from their creator,
    so timing the original in this process would measure it already fixed.
    """
    import multiprocessing

    import numpy as np

    from lfr.vision.embed import embedder_input
    from lfr.vision.pack import FAST_DIR

    analysis = pipeline.analyse_image(image, apply_gate=False)
    crops = np.stack([f.crop for f in analysis.faces if f.crop is not None][:8])
    analysis.forget()
    tensors = embedder_input(crops)
    original = str(pack_root / "fr_feature.onnx")
    fast = str(pack_root / FAST_DIR / "fr_feature.onnx")
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        result = {
            "faces": len(tensors),
            "original_ms_per_face": pool.apply(_time_embedder, (original, tensors, False, 1)),
            "fast_ms_per_face": pool.apply(_time_embedder, (fast, tensors, True, 1)),
        }
    with context.Pool(1) as pool:
        result["fast_batched_ms_per_face"] = pool.apply(
            _time_embedder, (fast, tensors, True, len(tensors))
        )
    result["denormal_fix_speedup"] = round(
        result["original_ms_per_face"] / result["fast_ms_per_face"], 2
    )
    tensors.fill(0)
    return result


def _search_costs(sizes: list[int], queries: int) -> dict[str, Any]:
    import numpy as np

    from lfr.watchlist.armed import ArmedWatchlist

    rng = np.random.default_rng(1)
    out: dict[str, Any] = {}
    for size in sizes:
        m = rng.normal(size=(size, 512)).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        gallery = ArmedWatchlist("bench", [str(i) for i in range(size)], [""] * size, m)
        probes = rng.normal(size=(queries, 512)).astype(np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        times = []
        for q in probes:
            start = time.perf_counter()
            gallery.search(q[None])
            times.append((time.perf_counter() - start) * 1000)
        out[str(size)] = _percentiles(times)
    return out


def _lance_cost(size: int, queries: int) -> dict[str, Any]:
    import tempfile
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from lfr.watchlist import WatchlistEntry, WatchlistStore

    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory() as tmp:
        store = WatchlistStore(Path(tmp), "bench")
        m = rng.normal(size=(size, 512)).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        expires = datetime.now(UTC) + timedelta(days=1)
        entries = [
            WatchlistEntry(f"e{i}", "", "suspect", "bench", "bench", "bench", expires, m[i])
            for i in range(size)
        ]
        store._table("entries").add(store._rows(entries))
        store.publish("bench")
        gallery = store.lance_gallery()
        times = []
        for q in m[:queries]:
            start = time.perf_counter()
            gallery.search(q[None])
            times.append((time.perf_counter() - start) * 1000)
    return {str(size): _percentiles(times)}


def _accuracy(faces: Any, embedded: Any) -> dict[str, Any]:
    from lfr.evaluation.faces import (
        identification,
        identification_searches,
        pair_scores,
        verification,
    )

    pairs = faces.genuine_pairs() + faces.impostor_pairs(10_000, 0)
    genuine, impostor = pair_scores(pairs, embedded)
    v = verification(genuine, impostor)
    i = identification(identification_searches(faces, embedded))
    return {
        "failure_to_acquire": round(len(embedded.failures) / len(embedded.vectors), 4),
        "tar_at_far_1e-3": round(v["tar_at_far_1e-3"], 4),
        "tar_at_far_1e-2": round(v["tar_at_far_1e-2"], 4),
        "eer": round(v["eer"], 4),
        "rank1": round(i["rank1"], 4),
        "fnir_at_fpir_1e-2": round(i["fnir_at_fpir_1e-2"], 4),
    }


def _photos(pipeline: Any, faces_dir: Path, peer: bool, peer_upsample: int) -> dict[str, Any]:
    import numpy as np

    from lfr.evaluation.dataset import load_face_set
    from lfr.evaluation.faces import Embedded, embed_images
    from lfr.vision.image import read_image

    faces = load_face_set(faces_dir)
    images = faces.images
    embed_images(pipeline, images[:3])  # warm-up
    ours = embed_images(pipeline, images)
    acquired = len(images) - len(ours.failures)
    result: dict[str, Any] = {
        "dir": str(faces_dir),
        "images": len(images),
        "lfr": {
            "ms_per_face": round(ours.seconds * 1000 / max(acquired, 1), 2),
            **_accuracy(faces, ours),
        },
        "peer": None,
        "peer_error": None,
    }
    if not peer:
        result["peer_error"] = "skipped (--no-peer)"
        return result
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # face_recognition_models uses pkg_resources
            import face_recognition
    except Exception as exc:  # any import failure of the optional peer is reported, not raised
        result["peer_error"] = (
            f"face_recognition could not be imported ({type(exc).__name__}: {exc}); "
            "`scripts/bench` installs it (the `peers` extra, then `pip install --no-deps "
            "face_recognition`, whose own dlib requirement would build dlib from source)"
        )
        return result
    vectors: dict[Path, Any] = {}
    spent = 0.0
    for path in images:
        image = read_image(path)
        if image is None:
            vectors[path] = None
            continue
        start = time.perf_counter()
        locations = face_recognition.face_locations(
            image, number_of_times_to_upsample=peer_upsample
        )
        if locations:
            largest = max(locations, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
            encoding = face_recognition.face_encodings(image, known_face_locations=[largest])[0]
            vectors[path] = np.asarray(encoding, dtype=np.float32)
        else:
            vectors[path] = None
        spent += time.perf_counter() - start
    theirs = Embedded(vectors, spent, metric="euclidean")
    peer_acquired = len(images) - len(theirs.failures)
    result["peer"] = {
        "library": f"face_recognition {getattr(face_recognition, '__version__', '?')} (dlib)",
        "upsample": peer_upsample,
        "ms_per_face": round(spent * 1000 / max(peer_acquired, 1), 2),
        **_accuracy(faces, theirs),
    }
    result["speedup_per_face"] = round(
        result["peer"]["ms_per_face"] / result["lfr"]["ms_per_face"], 2
    )
    return result


def command(
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    frames: Annotated[int, typer.Option(help="1080p crowd frames to analyse")] = 12,
    repeats: Annotated[int, typer.Option(help="passes over those frames")] = 3,
    threads: Annotated[int, typer.Option(help="onnxruntime intra-op threads")] = 2,
    peer: Annotated[
        bool, typer.Option(help="also run face_recognition (dlib) on the photos")
    ] = True,
    peer_upsample: Annotated[
        int, typer.Option(help="face_recognition's number_of_times_to_upsample (its default: 1)")
    ] = 1,
    searches: Annotated[int, typer.Option(help="queries per watchlist size")] = 200,
) -> None:
    """Per-stage cost on 1080p frames, search cost by watchlist size, and a dlib peer."""
    import onnxruntime

    from lfr.cli._common import err_console, fail, print_json
    from lfr.config import settings
    from lfr.vision.detect import DetectorConfig
    from lfr.vision.errors import ModelError
    from lfr.vision.pack import pull_pack
    from lfr.vision.pipeline import FacePipeline, PipelineConfig
    from lfr.vision.runtime import RuntimeConfig

    def say(msg: str) -> None:
        err_console.print(f"[dim]bench vision:[/] {msg}")

    video = settings().video_dir / "royal_opera_house_crowd.mp4"
    if not video.is_file():
        fail(f"{video} not found; set LFR_SHARED to the folder holding video/ and faces/")
    try:
        pack = pull_pack(settings().model_dir, progress=say)
        runtime = RuntimeConfig(intra_op_threads=threads)
        pipeline = FacePipeline.from_pack(PipelineConfig(runtime=runtime))
        untiled = FacePipeline.from_pack(
            PipelineConfig(runtime=runtime, detector=DetectorConfig(tiling=False))
        )
    except ModelError as exc:
        fail(str(exc))
    say(f"decoding {frames} frames of {video.name} (not timed)")
    images = _frames(video, frames)
    result: dict[str, Any] = {
        "bench": "vision",
        "nproc": os.cpu_count(),
        "machine": platform.machine(),
        "onnxruntime": onnxruntime.__version__,
        "intra_op_threads": threads,
        "model_pack": pipeline.models.name,
        "video": video.name,
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    say("analysing 1080p frames (tiled detection)")
    result["frame_1080p"] = _frame_costs(pipeline, images, repeats)
    say("analysing 1080p frames (whole-frame detection only, for comparison)")
    result["frame_1080p_untiled"] = _frame_costs(untiled, images, repeats)
    say("embedder before/after the denormal fix")
    result["embedder"] = _embedder_costs(pack.root, pipeline, images[len(images) // 2])
    say("watchlist search")
    result["watchlist_search_ms"] = _search_costs([1_000, 10_000, 100_000], searches)
    result["lancedb_search_ms"] = _lance_cost(10_000, min(searches, 50))
    say("photos: lfr" + (" and face_recognition (slow)" if peer else ""))
    result["photos"] = _photos(pipeline, settings().faces_dir, peer, peer_upsample)
    result["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    if json_out:
        print_json(result)
    else:
        import json

        typer.echo(json.dumps(result, indent=2))
