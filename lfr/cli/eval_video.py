"""`lfr eval video`: watchlisted people found (or missed) in real clips, and false alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["video"]


def video(
    clip: Annotated[
        Path | None, typer.Argument(help="a video file (MP4, GIF, ...); omit with --all")
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="CSV start_s,end_s,person (default: <clip>.truth.csv beside it; without "
            "one, nobody is expected and every alert is false)"
        ),
    ] = None,
    watchlist: Annotated[
        Path | None,
        typer.Option(help="folder of <identity>/<photo> (default: refs/ beside the clip)"),
    ] = None,
    distractors: Annotated[
        Path | None,
        typer.Option(
            help="flat folder of photos of other people, each added to the watchlist "
            "(default: $LFR_SHARED/calibration/lfw_singletons when it exists)"
        ),
    ] = None,
    no_distractors: Annotated[
        bool, typer.Option("--no-distractors", help="the watchlist folder's people only")
    ] = False,
    distractor_limit: Annotated[
        int | None, typer.Option(help="at most this many distractor photos")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="similarity threshold (default: the shipped default)")
    ] = None,
    fps: Annotated[float, typer.Option(help="frames analysed per second, as a camera")] = 10.0,
    realtime: Annotated[
        bool, typer.Option(help="play the clip at its own pace (frames may be dropped)")
    ] = False,
    all_clips: Annotated[
        bool,
        typer.Option("--all", help="every clip with a .truth.csv under $LFR_SHARED/video"),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Run clips through the production camera path and judge the alerts against truth files.

    Per watchlisted person: found or missed, time to first alert, best similarity. An alert
    for anyone who is not both in the truth file and on the watchlist is a false alert."""
    from lfr.cli._common import err_console, face_pipeline, fail, plain, print_json
    from lfr.config import settings
    from lfr.evaluation.video import build_gallery, clips_with_truth, read_truth, run_clips
    from lfr.vision.threshold import DEFAULT_THRESHOLD

    if all_clips == (clip is not None):
        fail("give one CLIP, or --all for every clip with a truth file under $LFR_SHARED/video")
    if all_clips:
        video_dir = settings().shared / "video"
        clips: list[tuple[Path, Path | None]] = list(clips_with_truth(video_dir))
        if not clips:
            fail(f"no <clip>.truth.csv with its clip in {video_dir}; set LFR_SHARED")
        base = video_dir
    else:
        assert clip is not None
        if not clip.is_file():
            fail(f"{clip} is not a file; give a video file (MP4, GIF, ...)")
        beside = clip.with_name(f"{clip.stem}.truth.csv")
        truth_file = truth or (beside if beside.is_file() else None)
        if truth is not None and not truth.is_file():
            fail(f"truth file {truth} does not exist")
        clips = [(clip, truth_file)]
        base = clip.parent
    watchlist = watchlist or base / "refs"
    if not watchlist.is_dir():
        fail(f"watchlist folder {watchlist} does not exist; give --watchlist DIR")
    if distractors is None and not no_distractors:
        default = settings().shared / "calibration" / "lfw_singletons"
        distractors = default if default.is_dir() else None
    elif no_distractors:
        distractors = None
    if distractors is not None and not distractors.is_dir():
        fail(f"distractor folder {distractors} does not exist")
    try:
        truths = {c: read_truth(t) if t is not None else [] for c, t in clips}
    except ValueError as exc:
        fail(str(exc))

    pipeline = face_pipeline()
    err_console.print(
        f"[dim]eval video:[/] enrolling {plain(watchlist)}"
        + (f" and distractors from {plain(distractors)}" if distractors else "")
        + " ..."
    )

    def enrolled(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            err_console.print(f"[dim]eval video:[/] distractors {done}/{total}")

    gallery, listed = build_gallery(
        pipeline, watchlist, distractors, distractor_limit=distractor_limit, progress=enrolled
    )
    if not listed:
        fail(f"nobody could be enrolled from {watchlist}: expected <identity>/<photo> folders")
    err_console.print(f"[dim]eval video:[/] watchlist of {len(gallery)} ({len(listed)} people)")
    used = DEFAULT_THRESHOLD if threshold is None else threshold

    def progress(result: Any) -> None:
        row = result.as_dict()
        err_console.print(
            f"[dim]eval video:[/] {row['clip']}: {row['found']}/{row['watchlisted']} found, "
            f"{row['wrong_alerts']} false alert(s), {row['seconds']} s"
        )

    results = run_clips(
        pipeline,
        [(c, truths[c]) for c, _ in clips],
        gallery,
        listed,
        threshold=used,
        fps=fps,
        realtime=realtime,
        progress=progress,
    )
    from lfr.evaluation.video import summary

    total = summary(results)
    total["threshold"] = used
    total["watchlist_size"] = len(gallery)
    if json_out:
        print_json({"summary": total, "clips": [r.as_dict() for r in results]})
    else:
        _table(results, total)
    if any(r.error for r in results):
        for r in results:
            if r.error:
                err_console.print(f"[bold red]error:[/] {plain(r.clip)}: {plain(r.error)}")
        raise typer.Exit(1)


def _table(results: Any, total: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"lfr eval video at threshold {total['threshold']}")
    for column in ("clip", "person", "result", "first alert", "to alert", "alert sim", "best"):
        table.add_column(column)
    for result in results:
        for person in result.watchlisted:
            row = person.as_dict()
            table.add_row(
                Text(result.clip),
                Text(person.person),
                "[green]found[/]" if person.found else "[red]missed[/]",
                _s(row["first_alert_s"]),
                _s(row["time_to_first_alert_s"]),
                _sim(row["alert_similarity"]),
                _sim(row["best_similarity"]),
            )
        for wrong in result.wrong:
            table.add_row(
                Text(result.clip),
                Text(wrong["label"]),
                "[bold red]false alert[/]",
                _s(wrong["stream_time_s"]),
                "",
                _sim(wrong["similarity"]),
                "",
            )
    console = Console()
    console.print(table)
    console.print(
        f"found {total['found']} of {total['watchlisted']} watchlisted people in "
        f"{total['clips']} clip(s); {total['wrong_alerts']} false alert(s); watchlist of "
        f"{total['watchlist_size']}"
    )


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _sim(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
