"""onnxruntime sessions tuned for a small CPU box, and flush-to-zero on the calling thread.

Denormal floats make the embedder several times slower (shared/MODELS.md). Sessions get
`session.set_denormal_as_zero`, no spinning (several sessions share two cores) and a fixed
number of intra-op threads; the thread that calls `run` also participates in the work, so
it gets the FTZ/DAZ bits of its MXCSR register set through `flush_denormals_on_this_thread`.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["RuntimeConfig", "flush_denormals_on_this_thread", "make_session"]


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """How each onnxruntime session runs. One pipeline shared by cameras uses one config."""

    intra_op_threads: int = 2
    allow_spinning: bool = False
    denormal_as_zero: bool = True


def make_session(path: Path, config: RuntimeConfig) -> onnxruntime.InferenceSession:
    """An inference session on the CPU; `run` on it is thread-safe (onnxruntime's guarantee)."""
    import onnxruntime as ort

    from lfr.vision.errors import ModelError

    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if config.allow_spinning else "0"
    )
    if config.denormal_as_zero:
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(
            f"cannot load model {path}: {exc}; run `lfr models verify` to check the pack"
        ) from exc


# x86-64: stmxcsr [rsp-4]; or dword [rsp-4], 0x8040 (FTZ | DAZ); ldmxcsr [rsp-4]; ret
_FTZ_DAZ_CODE = bytes.fromhex("0fae5c24fc814c24fc408000000fae5424fcc3")
_local = threading.local()
_setter: Any = None
_setter_lock = threading.Lock()


def _make_setter() -> Any:
    global _setter
    with _setter_lock:
        if _setter is None:
            if platform.machine().lower() not in {"x86_64", "amd64"}:
                _setter = False
                return _setter
            try:
                page = mmap.mmap(
                    -1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
                )
                page.write(_FTZ_DAZ_CODE)
                address = ctypes.addressof(ctypes.c_char.from_buffer(page))
                fn = ctypes.CFUNCTYPE(None)(address)
                _setter = (page, fn)  # keep the page alive with the function
            except (OSError, ValueError, PermissionError):
                _setter = False  # W^X systems: the session option still covers ORT's threads
    return _setter


def flush_denormals_on_this_thread() -> bool:
    """Set flush-to-zero and denormals-are-zero for the current thread (once per thread).

    Returns whether the flags are set; on non-x86 machines or W^X systems it returns False
    and only onnxruntime's own threads run with them.
    """
    if getattr(_local, "done", False):
        return True
    setter = _make_setter()
    if not setter:
        return False
    setter[1]()
    _local.done = True
    return True
