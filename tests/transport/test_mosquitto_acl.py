"""`lfr ops mosquitto` output run by a real Mosquitto: a patrol reads only its own topics."""

import json
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import anyio
import pytest
from typer.testing import CliRunner

from lfr.cli import app as cli
from lfr.transport.mosquitto import hash_password
from lfr.transport.mqtt import MqttConfig, MqttPublisher, subscribe
from schemas.messages import AlertMessage

MOSQUITTO = Path("/usr/sbin/mosquitto")
SITE_TOML = """
name = "town"
[[zones]]
name = "north-end"
[[zones]]
name = "london-road"
[[patrols]]
id = "p-1"
[[patrols]]
id = "p-2"
"""

pytestmark = pytest.mark.mosquitto


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def broker(tmp_path):
    assert MOSQUITTO.exists(), "install mosquitto (scripts/services.sh does)"
    (tmp_path / "site.toml").write_text(SITE_TOML)
    port = free_port()
    out = tmp_path / "mq"
    result = CliRunner().invoke(
        cli,
        [
            "ops",
            "mosquitto",
            "--site",
            str(tmp_path / "site.toml"),
            "--out",
            str(out),
            "--patrol-zone",
            "p-1=north-end",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    conf = (out / "mosquitto.conf").read_text() + "user root\n"
    (out / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen(
        [str(MOSQUITTO), "-c", str(out / "mosquitto.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(proc.stdout.read().decode())
            time.sleep(0.05)
    creds = json.loads((out / "credentials.json").read_text())
    yield port, creds, out
    proc.terminate()
    proc.wait(5)


def alert(patrol: str, zone: str = "north-end") -> AlertMessage:
    now = datetime.now(UTC)
    return AlertMessage(
        alert_id=f"a-{patrol}-{zone}",
        zone=zone,
        camera="ne-1",
        patrol_id=patrol,
        deployment_id="d-1",
        subject_label="Case 1",
        category="suspect",
        similarity=0.7,
        threshold=0.6,
        frame_at=now,
        raised_at=now,
        expires_at=now + timedelta(minutes=5),
    )


def test_files_are_private_and_hashed(broker):
    _, creds, out = broker
    for name in ("passwd", "acl", "credentials.json"):
        assert (out / name).stat().st_mode & 0o077 == 0
    passwd = (out / "passwd").read_text()
    assert "p-1:$7$101$" in passwd and creds["p-1"] not in passwd
    assert "topic read lfr/town/zone/north-end/patrol/p-1/#" in (out / "acl").read_text()


def test_hash_matches_mosquitto_format():
    h = hash_password("secret", salt=b"0" * 12)
    assert h.startswith("$7$101$MDAwMDAwMDAwMDAw$") and len(h.split("$")[-1]) == 88


async def test_patrol_reads_only_its_own_patrol_and_zone(broker):
    port, creds, _ = broker
    base = dict(port=port, site="town", protocol="5", session_expiry_s=0)
    pub = MqttPublisher(
        MqttConfig(
            **base, username="lfr-publisher", password=creds["lfr-publisher"], client_id="pub"
        )
    )
    p1 = MqttConfig(**base, username="p-1", password=creds["p-1"])
    got = []
    async with subscribe(p1, f"p-1-{uuid.uuid4().hex[:6]}", ["lfr/town/#"], clean=True) as msgs:
        async with anyio.create_task_group() as tg:
            await tg.start(pub.run)
            for m in (alert("p-2"), alert("p-1", "london-road"), alert("p-1")):
                await pub.publish(m)
            with anyio.fail_after(5):
                await pub.flush()
            with anyio.move_on_after(1.0):
                async for m in msgs:
                    got.append(m.message.alert_id)
            tg.cancel_scope.cancel()
    assert got == ["a-p-1-north-end"]


async def test_wrong_password_and_anonymous_are_refused(broker):
    port, _, _ = broker
    for user, password in (("p-1", "wrong"), (None, None)):
        cfg = MqttConfig(port=port, site="town", username=user, password=password)
        with pytest.raises(aiomqtt.MqttError):
            async with subscribe(cfg, "intruder", ["lfr/town/#"], clean=True):
                pass
