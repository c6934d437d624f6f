"""`lfr eval`: accuracy figures of the face pipeline on labelled photos and real clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from lfr.cli.eval_video import video

__all__ = ["app", "calibrate", "faces"]

app = typer.Typer(help="Measure the face pipeline's error rates.", no_args_is_help=True)
app.command("video")(video)


def _progress(json_out: bool) -> Any:
    from lfr.cli._common import err_console

    def show(done: int, total: int) -> None:
        if done == total or done % max(20, total // 20) == 0:
            err_console.print(f"[dim]eval:[/] embedded {done}/{total} images")

    return show


def _show(result: dict[str, Any], json_out: bool) -> None:
    from lfr.cli._common import print_json

    if json_out:
        print_json(result)
        return
    for key, value in result.items():
        if isinstance(value, float):
            typer.echo(f"{key:34} {value:.6g}")
        elif not isinstance(value, dict | list):
            typer.echo(f"{key:34} {value}")
    for row in result.get("sweep", []):
        cells = [f"threshold {row['threshold']:.2f}", f"FMR {row['fmr']['rate']:.2e}"]
        cells += [
            f"{key.replace('_', ' ')} {value['rate']:.3g}"
            for key, value in row.items()
            if key.startswith(("fpir", "tpir")) and value["rate"] is not None
        ]
        typer.echo("  ".join(cells))


@app.command("faces")
def faces(
    directory: Annotated[
        Path, typer.Argument(help="folder of <identity>/<image> (+ _singletons/)")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    pairs: Annotated[
        Path | None,
        typer.Option(help="CSV same_person,file1,file2 (paths relative to DIR's parent)"),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="write the DET curve and histograms (PNG)")
    ] = None,
    groups: Annotated[
        Path | None, typer.Option(help="CSV identity,group: per-group figures")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="threshold of the per-group headline figures and the plot's marker "
            "(default: the shipped threshold for groups, FAR 1e-3 for the plot)"
        ),
    ] = None,
    impostors: Annotated[int, typer.Option(help="impostor pairs sampled without --pairs")] = 10_000,
    seed: Annotated[int, typer.Option(help="seed of the impostor sample")] = 0,
) -> None:
    """Verification (TAR at FAR, EER) and identification (rank-1, FNIR at FPIR) figures.

    A photo with no detectable face is a failure to acquire and counts as a non-match."""
    from lfr.cli._common import face_pipeline, fail
    from lfr.evaluation import evaluate_faces

    pipeline = face_pipeline()
    try:
        result = evaluate_faces(
            pipeline,
            directory,
            pairs_file=pairs,
            impostors=impostors,
            seed=seed,
            plot=plot,
            groups_file=groups,
            threshold=threshold,
            progress=_progress(json_out),
        )
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    _show(result, json_out)


@app.command("calibrate")
def calibrate(
    directory: Annotated[
        Path, typer.Argument(help="folder of <identity>/<image> (+ _singletons/)")
    ],
    impostors: Annotated[
        Path | None,
        typer.Option(
            help="folder of single photos of other people (default: "
            "$LFR_SHARED/calibration/lfw_singletons when it exists)"
        ),
    ] = None,
    target_fpir: Annotated[
        float, typer.Option(help="false positive identification rate per search")
    ] = 1e-3,
    watchlist_size: Annotated[
        list[int] | None,
        typer.Option(help="entries on the watchlist (repeat; the largest sets the proposal)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the folds and filler entries")] = 0,
    rotations: Annotated[
        int, typer.Option(help="rounds of non-mated searches, fresh folds and fillers each")
    ] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Measure FMR, FPIR and TPIR (one and three enrolment photos) over a threshold sweep,
    on watchlists padded to size with singleton filler entries; propose the lowest
    threshold whose measured FPIR meets the target. Progress goes to stderr."""
    from lfr.cli._common import face_pipeline, fail
    from lfr.config import settings
    from lfr.evaluation import calibrate as run_calibrate

    sizes = watchlist_size or [100, 1_000]
    if not 0 < target_fpir < 1 or min(sizes) < 1 or rotations < 1:
        fail("--target-fpir must be in (0, 1), --watchlist-size and --rotations at least 1")
    if impostors is None:
        default = settings().shared / "calibration" / "lfw_singletons"
        impostors = default if default.is_dir() else None
    pipeline = face_pipeline()
    try:
        result = run_calibrate(
            pipeline,
            directory,
            impostors=impostors,
            target_fpir=target_fpir,
            watchlist_sizes=sizes,
            seed=seed,
            rotations=rotations,
            progress=_progress(json_out),
        )
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    _show(result, json_out)
