"""A loopback RTSP server for clips, for tests, benchmarks and demos (not for production).

Runs the pure-Python `aio-rtsp-toolkit` file server in a child process, so it can be killed
and restarted like a real camera. `rtsp://127.0.0.1:<port>/<file>/play_count_0` loops the
file for ever, paced at real time. Run it alone with
`python -m lfr.video.rtsp_server DIR --port 8554`. With `lean=True` the child is the
packet-cached H.264 server of `rtsp_lean` instead: the camera benchmark serves many 1080p
streams from the cores it measures, and the toolkit costs about 0.03 of a core per stream.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from types import TracebackType

import anyio
import anyio.abc

__all__ = [
    "RtspClipServer",
    "free_port",
    "main",
]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtspClipServer:
    """Serves every clip under `directory` on `rtsp://127.0.0.1:<port>/`."""

    def __init__(
        self, directory: str | Path, port: int | None = None, *, lean: bool = False
    ) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.lean = lean
        self._process: anyio.abc.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def url(self, clip: str, *, loop: bool = True) -> str:
        suffix = "/play_count_0" if loop else ""
        return f"rtsp://127.0.0.1:{self.port}/{clip}{suffix}"

    async def start(self) -> None:
        """Start the server and wait until it accepts connections.

        :raises RuntimeError: it did not come up within 10 s.
        """
        module = "lfr.video.rtsp_lean" if self.lean else "lfr.video.rtsp_server"
        cmd = [sys.executable, "-m", module, str(self.directory)]
        cmd += ["--port", str(self.port)]
        self._process = await anyio.open_process(cmd, stdout=None, stderr=None)
        with anyio.move_on_after(10):
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", self.port)
                except OSError:
                    await anyio.sleep(0.05)
                    continue
                await stream.aclose()
                return
        await self.kill()
        raise RuntimeError(f"RTSP test server did not start on port {self.port}")

    async def kill(self) -> None:
        """Kill the server at once, as a camera losing power."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()

    async def __aenter__(self) -> RtspClipServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.kill()


def main() -> None:
    import argparse

    import aio_rtsp_toolkit.server as server

    parser = argparse.ArgumentParser(description="Serve video clips over RTSP on loopback.")
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=8554)
    args = parser.parse_args()

    class _Quiet:
        def __getattr__(self, name: str) -> object:
            return lambda *a, **k: None

    server.logger = _Quiet()
    anyio.run(server.serve, args.directory, "127.0.0.1", args.port, backend="asyncio")


if __name__ == "__main__":
    main()
