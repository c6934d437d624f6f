"""A photo is measured by its header before it is decoded: a small file claiming a huge
canvas (a decompression bomb) is refused at once with a message, not gigabytes and a 500."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path
from typing import Any, cast

import numpy as np
import PIL.Image
import pytest

from lfr.vision.errors import EnrolmentError
from lfr.vision.image import MAX_PIXELS, ImageTooLargeError, read_image
from lfr.watchlist.enrol import embed_photo


def _png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR is rewritten to claim `width` x `height` (CRC fixed)."""
    buf = io.BytesIO()
    PIL.Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize("side", [20_000, 40_000])
def test_a_bomb_is_refused_from_its_header(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(side, side))
    started = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="Mpx a photo may have"):
        read_image(path)
    assert time.perf_counter() - started < 1.0  # nothing was decoded
    with pytest.raises(EnrolmentError, match="scale it down"):
        embed_photo(cast(Any, None), path)  # refused before any model runs


def test_a_photo_within_the_limit_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.png"
    PIL.Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(path)
    image = read_image(path)
    assert image is not None and image.shape == (30, 40, 3)
    assert read_image(path, max_pixels=30 * 40) is not None
    with pytest.raises(ImageTooLargeError):
        read_image(path, max_pixels=30 * 40 - 1)
    assert MAX_PIXELS == 50_000_000
