"""Test-wide settings: asyncio as the only anyio backend, and no blocking call in the loop.

`blockbuster` (as anyio's own tests use it) fails any test in which code of lfr, actors or
schemas makes a blocking call (file or socket I/O, `time.sleep`, a lock wait, SQLite)
on the event loop's thread: such work belongs in `anyio.to_thread.run_sync`.
"""

import base64
import ctypes
import mmap
import os
import platform
from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "blocking_ok(reason): the test body itself calls blocking APIs on the loop (a CLI, "
        "a SQLite file, a LanceDB table) to inspect what the code under test left behind",
    )
    config.addinivalue_line("markers", "faults: the fault suite (tests/faults): real processes")


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    if request.node.get_closest_marker("blocking_ok") is not None:
        yield None
        return
    with blockbuster_ctx(scanned_modules=["lfr", "actors", "schemas"]) as bb:
        # an in-memory view database touches no disk: building one is CPU work only
        for name in bb.functions:
            if name.startswith("sqlite3."):
                bb.functions[name].can_block_in("lfr/projections/projector.py", "in_memory")
        # aiortc's RTCPeerConnection.close() joins its own helper threads
        for name in ("threading.Lock.acquire", "threading.Lock.acquire_lock"):
            bb.functions[name].can_block_in("lfr/video/whip.py", "end")
        yield bb


# x86-64: stmxcsr [rsp-4]; and dword [rsp-4], ~0x8040 (clear FTZ | DAZ); ldmxcsr [rsp-4]; ret
_IEEE_CODE = bytes.fromhex("0fae5c24fc816424fcbf7fffff0fae5424fcc3")
_ieee_page: list[object] = []


def _ieee_floats() -> None:
    """Clear flush-to-zero and denormals-are-zero on this thread (x86-64 only)."""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return
    if not _ieee_page:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        page.write(_IEEE_CODE)
        fn = ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
        _ieee_page.extend((page, fn))
    _ieee_page[1]()  # type: ignore[operator]


@pytest.fixture(autouse=True)
def ieee_floats() -> None:
    """Each test starts with IEEE floats on the main thread. The face pipeline sets FTZ/DAZ
    on every thread that runs it (`lfr.vision.runtime`); a test running it on the main
    thread would leave them set for the tests after it, and hypothesis refuses to generate
    floats then (schemathesis). The pipeline sets them again where it runs next."""
    from lfr.vision import runtime

    _ieee_floats()
    runtime._local.done = False


@pytest.fixture(scope="session", autouse=True)
def vault_kek() -> Iterator[bytes]:
    """A fresh key-encryption key for the biometric vault, outside any data dir (in the
    environment, as `LFR_VAULT_KEK`), so every vault opens with no setup. One per session,
    not per test: module-scoped fixtures (the demo run, the live API) build vaults that their
    tests open again. A test wanting another KEK sets its own with `monkeypatch`."""
    kek = os.urandom(32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFR_VAULT_KEK", base64.b64encode(kek).decode())
        mp.delenv("LFR_VAULT_KEK_FILE", raising=False)
        yield kek


@pytest.fixture(scope="session", autouse=True)
def checkpoint_key() -> Iterator[bytes]:
    """A fresh checkpoint signing key for the event logs, outside any data dir (in the
    environment, as `LFR_CHECKPOINT_KEY`), as `vault_kek` gives the vault its KEK. A test
    wanting another key sets its own with `monkeypatch`."""
    seed = os.urandom(32)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LFR_CHECKPOINT_KEY", base64.b64encode(seed).decode())
        mp.delenv("LFR_CHECKPOINT_KEY_FILE", raising=False)
        yield seed


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def model_pack():
    """The verified default model pack's folder, pulled (npm pack) on first use."""
    from lfr.config import settings
    from lfr.vision.pack import pull_pack

    return pull_pack(settings().model_dir).root
