"""Private nats-server processes for the fault suite: each on a free loopback port with its own
JetStream store folder (kept across restarts), alone or as one node of a cluster; started,
killed (any signal) and started again on the same port and folder; a cluster's nodes also
serve the monitoring endpoint (`jsz`: the meta leader, each node's own copy of a stream). Never
the system's server on 4222."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """One nats-server with JetStream on `port`, its store in `folder/store` (and, given
    `cluster_port` and `routes`, one node of the cluster `cluster`; with `monitor`, its HTTP
    monitoring endpoint on `http_port`)."""

    def __init__(
        self,
        folder: Path,
        name: str,
        *,
        cluster: str | None = None,
        cluster_port: int | None = None,
        routes: list[int] | None = None,
        monitor: bool = False,
    ) -> None:
        self.name = name
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.conf = folder / "nats.conf"
        store = folder / "store"
        text = (
            f'server_name: "{name}"\n'
            "listen: 127.0.0.1:%d\n"
            "jetstream {\n"
            f'  store_dir: "{store}"\n'
            "  max_memory_store: 64MB\n"
            "  max_file_store: 1GB\n"
            "}\n"
        ) % self.port
        self.http_port: int | None = None
        if monitor:
            self.http_port = free_port()
            text += f"http: 127.0.0.1:{self.http_port}\n"
        if cluster is not None:
            assert cluster_port is not None and routes is not None
            text += (
                "cluster {\n"
                f'  name: "{cluster}"\n'
                f"  listen: 127.0.0.1:{cluster_port}\n"
                "  routes: [%s]\n"
                "}\n"
            ) % ", ".join(f"nats://127.0.0.1:{p}" for p in routes)
        self.conf.write_text(text)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, timeout: float = 15.0) -> None:
        """Start it and wait until it listens for clients."""
        assert not self.running
        log = (self.folder / f"server-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()  # the child holds its own copy
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start: {self.log_tail()}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not listen: {self.log_tail()}") from None
                time.sleep(0.02)

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop it with `sig` (SIGKILL: no shutdown at all) and wait until it is gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def jsz(self, **query: str) -> dict[str, Any]:
        """This node's `/jsz` monitoring document (`meta_cluster.leader`; with
        `accounts="true", streams="true"`, its own copy of each stream and that copy's state)."""
        assert self.http_port is not None, "started without monitor=True"
        args = "&".join(f"{k}={v}" for k, v in query.items())
        url = f"http://127.0.0.1:{self.http_port}/jsz?{args}"
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (loopback http)
            doc: dict[str, Any] = json.loads(answer.read())
        return doc

    def log_tail(self, n: int = 2000) -> str:
        logs = sorted(self.folder.glob("server-*.log"))
        return logs[-1].read_text(errors="replace")[-n:] if logs else ""


def cluster(folder: Path, size: int = 3, name: str = "lfrfault") -> list[NatsServer]:
    """`size` nodes of one cluster (not started), every node routing to every other, each
    with its monitoring endpoint."""
    cports = [free_port() for _ in range(size)]
    return [
        NatsServer(
            folder / f"n{i + 1}",
            f"n{i + 1}",
            cluster=name,
            cluster_port=cports[i],
            routes=[p for j, p in enumerate(cports) if j != i],
            monitor=True,
        )
        for i in range(size)
    ]
