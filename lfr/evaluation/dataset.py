"""Face evaluation sets: `<identity>/<image>` folders, `_singletons/`, and pairs files."""

from __future__ import annotations

import csv
import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

from lfr.vision.image import IMAGE_SUFFIXES

__all__ = ["FaceSet", "Pair", "images_in", "load_face_set", "read_pairs"]


@dataclass(frozen=True, slots=True)
class Pair:
    same: bool
    a: Path
    b: Path


@dataclass(slots=True)
class FaceSet:
    root: Path
    identities: dict[str, list[Path]]  # only identities with >= 1 image, sorted
    singletons: list[Path]
    excluded: list[Path] = field(default_factory=list)  # manifest says: not in genuine pairs

    def identity_of(self, path: Path) -> str | None:
        for identity, paths in self.identities.items():
            if path in paths:
                return identity
        return None

    @property
    def images(self) -> list[Path]:
        return [p for paths in self.identities.values() for p in paths] + self.singletons

    def genuine_pairs(self) -> list[Pair]:
        out = []
        for paths in self.identities.values():
            usable = [p for p in paths if p not in self.excluded]
            out += [Pair(True, a, b) for a, b in itertools.combinations(usable, 2)]
        return out

    def impostor_pairs(self, count: int, seed: int) -> list[Pair]:
        """A seeded sample of pairs of different people (singletons included)."""
        labelled = [(i, p) for i, ps in self.identities.items() for p in ps]
        labelled += [(f"_single:{p.name}", p) for p in self.singletons]
        every = [(a, b) for (ia, a), (ib, b) in itertools.combinations(labelled, 2) if ia != ib]
        rng = random.Random(seed)
        chosen = every if count >= len(every) else rng.sample(every, count)
        return [Pair(False, a, b) for a, b in chosen]


def images_in(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: (len(p.stem), p.stem),  # 1, 2, ..., 10 in human order
    )


def load_face_set(root: Path) -> FaceSet:
    """Read DIR; a `manifest.csv` with `file` and `note` columns may exclude files from
    genuine pairs (a note containing "exclude", e.g. a mirrored duplicate).
    """
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of <identity>/<image> sub-folders")
    identities = {}
    singletons: list[Path] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name == "_singletons":
            singletons = images_in(folder)
        elif not folder.name.startswith((".", "_")):
            images = images_in(folder)
            if images:
                identities[folder.name] = images
    excluded = []
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if "exclude" in (row.get("note") or "").lower() and row.get("file"):
                    excluded.append(root / row["file"])
    return FaceSet(root, identities, singletons, excluded)


def read_pairs(path: Path, root: Path) -> list[Pair]:
    """`same_person,file1,file2` rows, files relative to the face folder's parent."""
    truthy = {"1", "true", "yes", "y", "same"}
    falsy = {"0", "false", "no", "n", "different"}
    out = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        needed = {"same_person", "file1", "file2"}
        if not reader.fieldnames or not needed <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns same_person,file1,file2")
        for line, row in enumerate(reader, start=2):
            flag = row["same_person"].strip().lower()
            if flag not in truthy | falsy:
                raise ValueError(f"{path}:{line}: same_person must be 1/0, got {flag!r}")
            out.append(Pair(flag in truthy, root.parent / row["file1"], root.parent / row["file2"]))
    return out
