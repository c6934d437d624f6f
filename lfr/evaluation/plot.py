"""The DET curve and the genuine/impostor score histograms, drawn with matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from lfr.evaluation.metrics import det_curve

__all__ = ["plot_det"]


def plot_det(
    genuine: npt.NDArray[np.float64],
    impostor: npt.NDArray[np.float64],
    out: Path,
    *,
    title: str = "lfr face verification",
    threshold: float | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, fmr, fnmr = det_curve(genuine, impostor)
    floor_fmr = 1.0 / max(len(impostor), 1) / 2
    floor_fnmr = 1.0 / max(len(genuine), 1) / 2
    fig, (det, hist) = plt.subplots(1, 2, figsize=(12, 5))
    det.plot(np.maximum(fmr, floor_fmr), np.maximum(fnmr, floor_fnmr), lw=2)
    det.set_xscale("log")
    det.set_yscale("log")
    det.set_xlabel("false match rate (FMR)")
    det.set_ylabel("false non-match rate (FNMR)")
    det.set_title(f"DET ({len(genuine)} genuine, {len(impostor)} impostor pairs)")
    det.text(0.02, 0.02, "zero-error points drawn at half a pair", transform=det.transAxes)
    det.grid(True, which="both", alpha=0.3)
    bins = np.linspace(-0.3, 1.0, 66)
    hist.hist(impostor, bins=bins, alpha=0.6, density=True, label="impostor (different people)")
    hist.hist(genuine, bins=bins, alpha=0.6, density=True, label="genuine (same person)")
    if threshold is not None:
        hist.axvline(threshold, color="k", ls="--", label=f"chosen threshold {threshold:.3f}")
    from lfr.vision.threshold import DEFAULT_THRESHOLD

    hist.axvline(
        DEFAULT_THRESHOLD, color="r", ls=":", label=f"deployed default {DEFAULT_THRESHOLD:.2f}"
    )
    hist.set_xlabel("cosine similarity")
    hist.set_ylabel("density")
    hist.set_title("score distributions")
    hist.legend()
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
