"""`FacePipeline`: detect, gate, align, embed and search one frame (the `Recogniser`).

Pixels and embeddings of passers-by live only in the returned `FrameAnalysis` (the caller
forgets them) and in local buffers that are overwritten before this module returns; no
biometric value is logged or put in a span here. One pipeline is safe to call from several
worker threads at once (onnxruntime sessions are thread-safe and the pipeline keeps no
per-call state), so cameras can share one through `FacePipeline.shared()`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from lfr.vision.align import align
from lfr.vision.detect import Detection, DetectorConfig
from lfr.vision.models import FaceModels, ModelClock
from lfr.vision.quality import QualityGate
from lfr.vision.runtime import RuntimeConfig
from lfr.vision.subject import SubjectChoice, choose_subject
from lfr.vision.types import (
    Box,
    Candidate,
    FaceResult,
    Frame,
    FrameAnalysis,
    Gallery,
    Image,
)

__all__ = ["FacePipeline", "PipelineConfig"]


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Everything that shapes a pipeline; equal configs share one pipeline."""

    model_dir: Path | None = None
    #: a folder with a user-supplied InsightFace-style pack; None = the default pack
    insightface_dir: Path | None = None
    runtime: RuntimeConfig = RuntimeConfig()
    detector: DetectorConfig = DetectorConfig()
    gate: QualityGate = QualityGate()
    max_batch: int = 16


class FacePipeline:
    """Implements `Recogniser` over any `FaceModels` pack."""

    _shared: ClassVar[dict[PipelineConfig, FacePipeline]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, models: FaceModels, gate: QualityGate | None = None) -> None:
        self.models = models
        self.gate = gate or QualityGate()

    @classmethod
    def from_pack(cls, config: PipelineConfig | None = None) -> FacePipeline:
        """A pipeline on the verified default pack (settings().model_dir unless given).

        :raises ModelError: the pack is missing or fails verification.
        """
        from lfr.config import settings

        config = config or PipelineConfig()
        models: FaceModels
        if config.insightface_dir is not None:
            from lfr.vision.insightface import InsightFaceModels

            models = InsightFaceModels(
                config.insightface_dir, runtime=config.runtime, max_batch=config.max_batch
            )
        else:
            from lfr.vision.faceplugin import FacepluginModels

            models = FacepluginModels(
                config.model_dir or settings().model_dir,
                runtime=config.runtime,
                detector=config.detector,
                max_batch=config.max_batch,
            )
        return cls(models, config.gate)

    @staticmethod
    def config_from_env(model_dir: Path | None = None) -> PipelineConfig:
        """The config `LFR_VISION_*` settings describe (pack, threads, tiling)."""
        from lfr.vision.settings import VisionSettings

        env = VisionSettings()
        if env.pack == "insightface" and env.insightface_dir is None:
            from lfr.vision.errors import ModelError

            raise ModelError(
                "LFR_VISION_PACK=insightface needs LFR_VISION_INSIGHTFACE_DIR, a folder with "
                "the SCRFD and ArcFace ONNX files"
            )
        return PipelineConfig(
            model_dir=model_dir,
            insightface_dir=env.insightface_dir if env.pack == "insightface" else None,
            runtime=RuntimeConfig(intra_op_threads=env.intra_op_threads),
            detector=DetectorConfig(tiling=env.tiling),
        )

    @classmethod
    def shared(cls, config: PipelineConfig | None = None) -> FacePipeline:
        """One pipeline per config per process, for every camera that asks."""
        config = config or PipelineConfig()
        with cls._shared_lock:
            pipeline = cls._shared.get(config)
            if pipeline is None:
                pipeline = cls._shared[config] = cls.from_pack(config)
            return pipeline

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        """Every face of the frame with its best watchlist candidate (any similarity).

        Emits one `vision.analyse` span with counts and stage times only.
        """
        from opentelemetry import trace

        tracer = trace.get_tracer("lfr.vision")
        with tracer.start_as_current_span("vision.analyse") as span:
            analysis = self.analyse_image(frame.image, gallery, frame_index=frame.index)
            if span.is_recording():
                span.set_attribute("lfr.frame.index", frame.index)
                span.set_attribute("lfr.faces.seen", analysis.faces_seen)
                span.set_attribute("lfr.faces.below_quality", analysis.faces_below_quality)
                span.set_attribute("lfr.watchlist.version", gallery.version)
                for stage, ms in analysis.stage_ms.items():
                    span.set_attribute(f"lfr.vision.{stage}_ms", round(ms, 3))
            return analysis

    def analyse_image(
        self,
        image: Image,
        gallery: Gallery | None = None,
        *,
        frame_index: int = 0,
        apply_gate: bool = True,
        subject: bool | Box = False,
    ) -> FrameAnalysis:
        """Like `analyse` on a bare RGB image; `apply_gate=False` embeds every face found.

        `subject=True` (or a box x1, y1, x2, y2 to look in) keeps only the photo's subject
        under `lfr.vision.subject`'s rule, ambiguous or not; `analyse_subject` also says
        whether it was a guess.
        """
        analysis, _ = self._analyse(image, gallery, frame_index, apply_gate, subject)
        return analysis

    def analyse_subject(
        self, image: Image, box: Box | None = None, *, apply_gate: bool = False
    ) -> tuple[FrameAnalysis, SubjectChoice]:
        """The photo's subject alone (no face, or one), and how the rule chose it.

        Only the subject is aligned and embedded: the other faces of the photo never are.
        """
        analysis, choice = self._analyse(
            image, None, 0, apply_gate, box if box is not None else True
        )
        assert choice is not None  # a subject was asked for
        return analysis, choice

    def _analyse(
        self,
        image: Image,
        gallery: Gallery | None,
        frame_index: int,
        apply_gate: bool,
        subject: bool | Box,
    ) -> tuple[FrameAnalysis, SubjectChoice | None]:
        clock = ModelClock()
        start = time.perf_counter()
        detections = self.models.detect(image, clock)
        choice: SubjectChoice | None = None
        if subject is not False:
            height, width = image.shape[:2]
            within = None if subject is True else subject
            choice = choose_subject([d.box for d in detections], width, height, within=within)
            detections = [detections[choice.index]] if choice.index is not None else []
        t_detect = time.perf_counter()
        self.models.locate_points(image, detections, clock)
        t_points = time.perf_counter()
        faces, aligned = self._gate(image, detections, apply_gate)
        t_gate = time.perf_counter()
        passed = [i for i, f in enumerate(faces) if f.passed_quality]
        if passed:
            batch = np.stack([aligned[i] for i in passed])
            vectors = self.models.embed(batch, clock)
            batch.fill(0)
        else:
            vectors = np.zeros((0, 512), dtype=np.float32)
        t_embed = time.perf_counter()
        candidates: list[Candidate | None] = (
            gallery.search(vectors)
            if gallery is not None and len(vectors)
            else [None] * len(passed)
        )
        t_search = time.perf_counter()
        for row, i in enumerate(passed):
            faces[i].embedding = vectors[row].copy()
            faces[i].crop = aligned[i]
            faces[i].best = candidates[row]
        for i, crop in enumerate(aligned):
            if not faces[i].passed_quality:
                crop.fill(0)
        vectors.fill(0)
        ms = 1000.0
        stage_ms = {
            "detect": (t_detect - start) * ms,
            "keypoints": (t_points - t_detect) * ms,
            "align_quality": (t_gate - t_points) * ms,
            "embed": (t_embed - t_gate) * ms,
            "search": (t_search - t_embed) * ms,
            "total": (time.perf_counter() - start) * ms,
            "model": clock.total * ms,
        }
        for stage, seconds in clock.seconds.items():
            stage_ms[f"model_{stage}"] = seconds * ms
        return FrameAnalysis(frame_index=frame_index, faces=faces, stage_ms=stage_ms), choice

    def _gate(
        self, image: Image, detections: list[Detection], apply_gate: bool
    ) -> tuple[list[FaceResult], list[Image]]:
        faces: list[FaceResult] = []
        aligned: list[Image] = []
        for det in detections:
            assert det.points5 is not None  # locate_points filled it
            crop = align(image, det.points5)
            score = self.gate.assess(det.size_px, det.points5, crop)
            faces.append(
                FaceResult(
                    box=det.box,
                    size_px=det.size_px,
                    quality=score.score,
                    passed_quality=score.passed or not apply_gate,
                )
            )
            aligned.append(crop)
        return faces, aligned
