"""`lfr serve --config site.toml` runs the site's actors and the API writes through them: a
supervisor authorises a deployment, an officer checks in, the zone arms."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from typer.testing import CliRunner

from lfr.cli import app
from lfr.store.sqlite import SqliteLog
from lfr.watchlist import WatchlistStore
from lfr.watchlist.entry import WatchlistEntry

ROOT = Path(__file__).resolve().parents[2]
SITE = """
name = "smoke"
[vision]
recogniser = "scripted"
decider = "per_frame"
crop_vault = false
[[zones]]
name = "north-end"
[[cameras]]
id = "ne-1"
zone = "north-end"
source = "scripted:,,"
analyse_fps = 5
[[patrols]]
id = "p-1"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(data: Path, name: str, role: str, *extra: str) -> str:
    r = CliRunner().invoke(
        app, ["users", "add", name, "--role", role, "--data-dir", str(data), "--json", *extra]
    )
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["token"]


def _published_watchlist(data: Path) -> str:
    store = WatchlistStore(data / "watchlist")
    vec = np.random.default_rng(7).standard_normal(512).astype(np.float32)
    store.add(
        WatchlistEntry(
            "e-1",
            "Case 7",
            "suspect",
            "PACE",
            "custody record 7",
            "supervisor-1",
            datetime.now(UTC) + timedelta(days=7),
            vec / np.linalg.norm(vec),
        )
    )
    return store.publish("manager-1").version


def test_serve_with_a_site_config_acts_through_the_actors(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "site.toml").write_text(SITE)
    version = _published_watchlist(data)
    sup = {"Authorization": "Bearer " + _token(data, "Sgt Patel", "supervisor")}
    off = {"Authorization": "Bearer " + _token(data, "PC Khan", "officer", "--patrol", "p-1")}
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from lfr.cli import main; main()", "serve"]
        + ["--config", str(tmp_path / "site.toml"), "--data-dir", str(data)]
        + ["--port", str(port), "--broker-port", "0", "--broker-ws-port", "0"],
        env=dict(os.environ),
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:  # wait for the server to listen (startup, not a timed assertion)
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                try:
                    client.get("/api/me", headers=sup)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "lfr serve did not start"
                    time.sleep(0.2)
            now = datetime.now(UTC)
            body = {
                "starts_at": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
                "watchlist_version": "not-published",
                "legal_basis": "PACE s.24",
                "reason": "wanted offenders seen in the town centre",
            }
            r = client.post("/api/zones/north-end/deployments", headers=sup, json=body)
            assert r.status_code == 409 and r.json()["code"] == "watchlist_unknown", r.text
            r = client.post(
                "/api/zones/north-end/deployments",
                headers=sup,
                json=body | {"watchlist_version": version},
            )
            assert r.status_code == 201, r.text
            deployment = r.json()["deployment_id"]
            r = client.post(
                "/api/patrols/p-1/check-in",
                headers=off,
                json={"zone": "north-end", "officers": ["PC Khan", "PC Jones"]},
            )
            assert r.status_code == 204, r.text
            (zone,) = client.get("/api/zones", headers=sup).json()
            assert zone["armed"] and zone["deployment_id"] == deployment
            assert zone["patrols_on_duty"] == ["p-1"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "site running" in err
    log = SqliteLog(data / "events.sqlite", read_only=True)
    try:
        types = [e.type for e in log.read_all()]
    finally:
        log.close()
    for t in ("DeploymentAuthorised", "PatrolCheckedIn", "DeploymentArmed"):
        assert t in types, types
