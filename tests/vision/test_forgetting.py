"""Non-matches are forgotten: no crop byte or embedding value in files, logs or spans."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from lfr.telemetry import TelemetryConfig, setup_telemetry, span_breaches
from lfr.vision.threshold import DEFAULT_THRESHOLD
from lfr.vision.types import Frame
from lfr.watchlist import WatchlistEntry, WatchlistStore
from lfr.watchlist.enrol import embed_photo
from tests.vision.conftest import photo

PASSERS_BY = [
    "John_Simm/1.jpg",
    "John_Salley/2.jpg",
    "Kaley_Cuoco/1.png",
    "Mark_Zuckerberg/1.jpg",
    "Jennifer_Aniston/2.jpg",
    "Kit_Harington/1.jpg",
]


def _fragments(crop: np.ndarray, embedding: np.ndarray) -> list[bytes]:
    """Byte patterns that would betray a crop or an embedding if they were written out."""
    raw = crop.tobytes()
    middle = len(raw) // 2
    values = embedding[:4]
    return [
        raw[middle : middle + 48],
        embedding.astype("<f4").tobytes()[:32],
        embedding.astype("<f8").tobytes()[:32],
        ", ".join(f"{v:.4f}" for v in values).encode(),
        " ".join(f"{v:.4f}" for v in values).encode(),
        repr(float(values[0])).encode(),
    ]


def test_non_matching_faces_leave_nothing_behind(pipeline, faces_dir, tmp_path: Path, caplog):
    caplog.set_level(logging.DEBUG)
    telemetry = setup_telemetry(TelemetryConfig(exporter="memory"))
    try:
        store = WatchlistStore(tmp_path / "data" / "watchlist", "test")
        store.add(
            WatchlistEntry(
                entry_id="obama",
                label="Barack Obama",
                category="wanted_by_police",
                legal_basis="test",
                image_source="test",
                added_by="test",
                expires_at=datetime.now(UTC) + timedelta(days=1),
                embedding=embed_photo(pipeline, faces_dir / "Barack_Obama" / "1.jpg"),
            )
        )
        store.publish("test")
        gallery = store.load()

        secrets: list[bytes] = []
        faces = 0
        for index, name in enumerate(PASSERS_BY):
            frame = Frame(photo(name), index, index / 25, datetime.now(UTC), 0)
            analysis = pipeline.analyse(frame, gallery)
            kept = []
            for face in analysis.faces:
                if not face.passed_quality:
                    continue
                assert face.best is not None and face.best.similarity < DEFAULT_THRESHOLD
                secrets += _fragments(face.crop, face.embedding)
                kept += [face.crop, face.embedding]
                faces += 1
            analysis.forget()  # what the camera actor does with a non-match
            assert all(not array.any() for array in kept), "forget() must overwrite"
            assert all(f.crop is None and f.embedding is None for f in analysis.faces)
        assert faces >= len(PASSERS_BY) - 1

        telemetry.force_flush()
        spans = [s for s in telemetry.finished_spans() if s.name == "vision.analyse"]
        assert len(spans) == len(PASSERS_BY)
        assert span_breaches(spans) == []
        span_text = "\n".join(str(dict(s.attributes or {})) for s in spans).encode()

        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert files, "the watchlist store should have written its tables"
        stored = b"".join(p.read_bytes() for p in files)
        logged = caplog.text.encode()
        for secret in secrets:
            assert secret not in stored
            assert secret not in logged
            assert secret not in span_text
    finally:
        telemetry.shutdown()
