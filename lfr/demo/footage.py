"""The demo's camera footage: render the scenario's clips once, cache them, reuse them.

Clips are rendered in worker processes (one per core) and cached under
`~/.cache/lfr/scenes/<digest>/` keyed by everything that shapes them, so a second demo run
starts streaming at once. The manifest beside them is the ground truth.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_process

from lfr.demo.scenario import Scenario
from lfr.scenes import ClipManifest, ClipSpec, SceneManifest, render_clip
from lfr.scenes.gallery import Box, FaceLocator, read_photo

__all__ = ["default_cache_dir", "prepare_footage"]

_CACHE_VERSION = "2"  # bump when rendering changes


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lfr" / "scenes"


def _render(spec: ClipSpec, out_dir: Path, gallery_root: Path) -> ClipManifest:
    return render_clip(spec, out_dir, gallery_root=gallery_root)


async def prepare_footage(
    scenario: Scenario,
    *,
    gallery_root: Path,
    locate: FaceLocator,
    cache_dir: Path | None = None,
    workers: int = 2,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[Path, SceneManifest]:
    """The folder of the scenario's clips and their manifest, rendering what is missing."""
    root = (cache_dir or default_cache_dir()) / f"v{_CACHE_VERSION}-{scenario.key()}"
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        progress(f"street scenes cached in {root}")
        return root, SceneManifest.read(manifest_path)
    progress(f"locating faces in {len(scenario.photos())} walking photos")

    def locate_all() -> dict[Path, Box]:
        found = {}
        for photo in sorted(scenario.photos()):
            box = locate(read_photo(photo))
            if box is not None:
                found[photo] = box
        return found

    boxes = await anyio.to_thread.run_sync(locate_all)
    located = scenario.with_face_boxes(boxes)
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    limiter = anyio.CapacityLimiter(max(1, workers))
    clips: dict[str, ClipManifest] = {}
    done = 0

    async def one(spec: ClipSpec) -> None:
        nonlocal done
        clips[spec.name] = await anyio.to_process.run_sync(
            _render, spec, tmp, gallery_root, limiter=limiter, cancellable=True
        )
        done += 1
        progress(f"rendered {spec.name} ({done}/{len(located.clips)}, {spec.seconds:.0f} s)")

    progress(
        f"rendering {len(located.clips)} street scenes ({scenario.seconds:.0f} s each, "
        f"{workers} at a time; cached for the next run)"
    )
    begun = time.monotonic()

    async def heartbeat() -> None:
        while True:
            await anyio.sleep(10)
            progress(
                f"still rendering: {done}/{len(located.clips)} done, "
                f"{time.monotonic() - begun:.0f} s so far"
            )

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        async with anyio.create_task_group() as clips_tg:
            for spec in located.clips:
                clips_tg.start_soon(one, spec)
        tg.cancel_scope.cancel()
    manifest = SceneManifest(
        gallery=str(gallery_root), clips=[clips[c.name] for c in located.clips]
    )
    manifest.write(tmp / "manifest.json")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root, manifest
