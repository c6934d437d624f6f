"""Embedding: batching of aligned crops, the embedder's input normalisation, L2 norm."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["embed_batched", "embedder_input", "l2_normalise"]

Array = npt.NDArray[np.float32]


def embedder_input(aligned: npt.NDArray[np.uint8]) -> Array:
    """N x 112 x 112 x 3 RGB uint8 -> N x 3 x 112 x 112 float32, (x - 127) / 128."""
    return ((aligned.astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2).copy()


def l2_normalise(vectors: Array) -> Array:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Array = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def embed_batched(run: Callable[[Array], Array], tensors: Array, max_batch: int) -> Array:
    """Run the embedder over `tensors` in batches of at most `max_batch`, L2-normalised."""
    if len(tensors) == 0:
        return np.zeros((0, 512), dtype=np.float32)
    parts = [run(tensors[i : i + max_batch]) for i in range(0, len(tensors), max_batch)]
    tensors.fill(0)  # the crops' pixels, overwritten once used
    out = l2_normalise(np.concatenate(parts).astype(np.float32))
    for part in parts:
        part.fill(0)
    return out
