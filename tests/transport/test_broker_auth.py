"""The embedded amqtt broker enforces what the production Mosquitto does: per-user passwords
(anonymous and wrong passwords refused) and the per-patrol ACL that `lfr ops mosquitto`
writes (an officer reads only its own patrol's topics in its zone and writes nothing; only
lfr-publisher publishes alerts and zone states). All on loopback."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import anyio
import pytest

from lfr.store.memory import InMemoryEventStore
from lfr.transport.acl import BrokerUsers, filter_within, topic_matches
from lfr.transport.broker import (
    BrokerError,
    EmbeddedBroker,
    EmbeddedBrokerConfig,
)
from lfr.transport.mosquitto import plan_users, write_files
from lfr.transport.mqtt import MqttPublisher
from lfr.transport.services import AlertServicesConfig, run_alert_services
from lfr.transport.topics import Topics, encode
from schemas.messages import AlertMessage, ZoneStateMessage

SITE = "town"
T = Topics(SITE)


def _alert(zone: str, patrol: str, label: str = "Case 1") -> AlertMessage:
    now = datetime.now(UTC)
    return AlertMessage(
        alert_id=f"al-{uuid.uuid4().hex[:8]}",
        zone=zone,
        camera="cam-1",
        patrol_id=patrol,
        deployment_id="dep-1",
        subject_label=label,
        category="wanted_by_police",
        similarity=0.9,
        threshold=0.6,
        frame_at=now,
        raised_at=now,
        expires_at=now + timedelta(minutes=5),
    )


def _state(zone: str, armed: bool) -> ZoneStateMessage:
    return ZoneStateMessage(
        zone=zone,
        armed=armed,
        reason="deployment_active" if armed else "no_deployment",
        deployment_id="dep-1" if armed else None,
        patrols_on_duty=("p-1",) if armed else (),
        updated_at=datetime.now(UTC),
    )


@pytest.fixture
def auth_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """What `lfr ops mosquitto --out` writes: p-1 pinned to north-end, p-2 to london-road."""
    users = plan_users(SITE, ["p-1", "p-2"], {"p-1": "north-end", "p-2": "london-road"})
    write_files(tmp_path / "mqtt", users)
    return tmp_path / "mqtt", {u.name: u.password for u in users}


@asynccontextmanager
async def broker_with(auth: Path) -> AsyncIterator[EmbeddedBroker]:
    config = EmbeddedBrokerConfig(tcp_port=0, ws_port=None, auth_dir=auth)
    async with EmbeddedBroker(config, site=SITE) as broker:
        yield broker


def client(
    broker: EmbeddedBroker,
    user: str | None,
    password: str | None,
    client_id: str | None = None,
    *,
    clean: bool = True,
) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        broker.tcp_port,
        username=user,
        password=password,
        identifier=client_id or f"t-{uuid.uuid4().hex[:8]}",
        protocol=aiomqtt.ProtocolVersion.V311,
        clean_session=clean,
        timeout=5,
    )


async def _granted(c: aiomqtt.Client, topic: str) -> int:
    result = await c.subscribe(topic, qos=1)
    (code,) = result
    return int(code.value if hasattr(code, "value") else code)


async def _collect(c: aiomqtt.Client, seconds: float) -> list[aiomqtt.Message]:
    got: list[aiomqtt.Message] = []
    with anyio.move_on_after(seconds):
        async for m in c.messages:
            got.append(m)
    return got


@pytest.mark.blocking_ok("the fixture writes the Mosquitto files directly")
async def test_anonymous_and_wrong_passwords_are_refused(auth_dir):
    auth, creds = auth_dir
    async with broker_with(auth) as broker:
        for user, password in [
            (None, None),
            ("p-1", None),
            ("p-1", "wrong"),
            ("p-1", creds["p-2"]),
            ("nobody", "x"),
            ("lfr-publisher", creds["lfr-publisher"]),  # the file's: the service's own wins
        ]:
            with pytest.raises(aiomqtt.MqttError):
                async with client(broker, user, password):
                    pass
        async with client(broker, "p-1", creds["p-1"]):
            pass
        assert broker.credentials is not None
        async with client(broker, "lfr-publisher", broker.credentials.publisher):
            pass


@pytest.mark.blocking_ok("the fixture writes the Mosquitto files directly")
async def test_an_officer_reads_only_its_own_patrol_in_its_zone(auth_dir):
    auth, creds = auth_dir
    async with broker_with(auth) as broker:
        async with client(broker, "p-1", creds["p-1"]) as p1:
            refused = [
                T.patrol_filter("london-road", "p-2"),
                T.alert("london-road", "p-2"),
                T.patrol_filter("london-road", "p-1"),  # its own patrol, but not its zone
                f"{T.root}/#",
                "#",
                f"{T.root}/zone/+/patrol/+/alert",
                f"{T.root}/zone/north-end/patrol/+/alert",
            ]
            for topic in refused:
                assert await _granted(p1, topic) == 0x80, topic
            assert await _granted(p1, T.patrol_filter("north-end", "p-1")) == 1
            assert await _granted(p1, T.all_zone_states()) == 1
            pub = MqttPublisher(broker.client_config("lfr-publisher"))
            async with anyio.create_task_group() as tg:
                await tg.start(pub.run)
                theirs = await pub.publish(_alert("london-road", "p-2", "Case 2"))
                mine = await pub.publish(_alert("north-end", "p-1", "Case 1"))
                with anyio.fail_after(5):
                    await theirs.done.wait()
                    await mine.done.wait()
                got = await _collect(p1, 1.0)
                tg.cancel_scope.cancel()
    assert [str(m.topic) for m in got] == [T.alert("north-end", "p-1")]


@pytest.mark.blocking_ok("the fixture writes the Mosquitto files directly")
async def test_an_officer_cannot_forge_an_alert_or_a_retained_zone_state(auth_dir):
    auth, creds = auth_dir
    async with broker_with(auth) as broker:
        api = broker.client_config("lfr-api")
        pub = MqttPublisher(broker.client_config("lfr-publisher"))
        async with (
            client(broker, "lfr-api", api.password) as reader,
            anyio.create_task_group() as tg,
        ):
            assert await _granted(reader, f"{T.root}/#") == 1
            await tg.start(pub.run)
            armed = await pub.publish(_state("north-end", True))
            with anyio.fail_after(5):
                await armed.done.wait()
            async with client(broker, "p-1", creds["p-1"]) as p1:
                forged_state = encode(_state("north-end", False))
                await p1.publish(T.zone_state("north-end"), forged_state, qos=1, retain=True)
                forged = encode(_alert("north-end", "p-1", "Innocent Person"))
                await p1.publish(T.alert("north-end", "p-1"), forged, qos=1)
                await p1.publish(T.alert("london-road", "p-2"), forged, qos=1)
            # the service user can: its message arrives, the forged ones never did
            real = await pub.publish(_alert("north-end", "p-1", "Case 1"))
            with anyio.fail_after(5):
                await real.done.wait()
            got = await _collect(reader, 1.0)
            tg.cancel_scope.cancel()
        payloads = [json.loads(m.payload) for m in got]  # type: ignore[arg-type]
        assert [p.get("subject_label") for p in payloads if "alert_id" in p] == ["Case 1"]
        assert all(p["armed"] for p in payloads if "armed" in p)
        # the retained state a device connecting now is told is still the service's
        async with client(broker, "p-2", creds["p-2"]) as late:
            assert await _granted(late, T.zone_state("north-end")) == 1
            retained = await _collect(late, 1.0)
        # (amqtt may hand a retained message over twice; every copy is the service's)
        assert retained and all(json.loads(m.payload)["armed"] for m in retained)  # type: ignore[arg-type]


@pytest.mark.blocking_ok("the fixture writes the Mosquitto files directly")
async def test_a_client_id_of_anothers_persistent_session_is_refused(auth_dir):
    auth, creds = auth_dir
    async with broker_with(auth) as broker:
        async with client(broker, "p-1", creds["p-1"], "phone-1", clean=False) as p1:
            assert await _granted(p1, T.patrol_filter("north-end", "p-1")) == 1
        with pytest.raises(aiomqtt.MqttError):
            async with client(broker, "p-2", creds["p-2"], "phone-1", clean=False):
                pass
        for user, password in ((None, None), ("p-1", "wrong")):  # refused before any session
            with pytest.raises(aiomqtt.MqttError):  # is touched: this one is not deleted
                async with client(broker, user, password, "phone-1", clean=True):
                    pass
        # the session is still p-1's: it gets what was queued for it while offline
        pub = MqttPublisher(broker.client_config("lfr-publisher"))
        async with anyio.create_task_group() as tg:
            await tg.start(pub.run)
            out = await pub.publish(_alert("north-end", "p-1", "Queued"))
            with anyio.fail_after(5):
                await out.done.wait()
            async with client(broker, "p-1", creds["p-1"], "phone-1", clean=False) as p1:
                got = await _collect(p1, 1.0)
            tg.cancel_scope.cancel()
        assert [json.loads(m.payload)["subject_label"] for m in got] == ["Queued"]  # type: ignore[arg-type]


@pytest.mark.blocking_ok("the test reads the credentials file directly")
async def test_service_credentials_are_made_once_private_and_kept(tmp_path):
    auth = tmp_path / "mqtt"
    async with broker_with(auth) as first:
        creds = first.credentials
    service = auth / "service.json"
    assert service.stat().st_mode & 0o777 == 0o600
    async with broker_with(auth) as again:
        assert again.credentials == creds
        # no passwd file: only lfr's own users exist
        assert again.users.names() == ["lfr-api", "lfr-publisher"]
    os.chmod(service, 0o644)
    with pytest.raises(BrokerError, match="chmod 600"):
        async with broker_with(auth):
            pass


async def test_alert_services_authenticate_and_issue_device_credentials():
    """`run_alert_services` on the embedded broker: the publisher and the API log in with the
    service users; a device issued credentials for p-1 reads only p-1's topics."""
    store = InMemoryEventStore()
    config = AlertServicesConfig(
        site=SITE, embedded=EmbeddedBrokerConfig(tcp_port=0, ws_port=None), relay=False
    )
    async with anyio.create_task_group() as tg:
        alerts = await tg.start(run_alert_services, store, config)
        assert alerts.broker is not None
        assert alerts.client_config.username == "lfr-api" and alerts.client_config.password
        assert alerts.publisher.config.username == "lfr-publisher"
        device = alerts.device_config("p-1", "north-end")
        assert device.username == "p-1" and device.password
        async with client(alerts.broker, "p-1", device.password) as p1:
            assert await _granted(p1, T.patrol_filter("north-end", "p-1")) == 1
            assert await _granted(p1, T.patrol_filter("london-road", "p-2")) == 0x80
            for patrol in ("p-1", "p-2"):
                out = await alerts.publisher.publish(_alert("north-end", patrol))
                with anyio.fail_after(5):
                    await out.done.wait()
            got = await _collect(p1, 1.0)
        assert alerts.publisher.connected
        tg.cancel_scope.cancel()
    assert [str(m.topic) for m in got] == [T.alert("north-end", "p-1")]


# --- the ACL rules themselves ------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub", "pattern", "inside"),
    [
        ("lfr/s/zone/a/patrol/p/+", "lfr/s/zone/a/patrol/p/#", True),
        ("lfr/s/zone/a/patrol/p/alert", "lfr/s/zone/+/patrol/p/#", True),
        ("lfr/s/zone/+/state", "lfr/s/zone/+/state", True),
        ("lfr/s/zone/a/state", "lfr/s/zone/+/state", True),
        ("lfr/s/#", "lfr/s/zone/+/state", False),
        ("lfr/s/zone/+/patrol/p/#", "lfr/s/zone/a/patrol/p/#", False),
        ("#", "lfr/s/#", False),
        ("lfr/s/zone/a/patrol/p/#", "lfr/s/zone/a/patrol/p/alert", False),
        ("lfr/s/zone/a/patrol/p", "lfr/s/zone/a/patrol/p/#", True),
        ("lfr/s/zone/a", "lfr/s/zone/a/state", False),
    ],
)
def test_subscription_must_lie_inside_a_read_pattern(sub, pattern, inside):
    assert filter_within(sub, pattern) is inside


def test_topic_matching():
    assert topic_matches("lfr/s/zone/+/state", "lfr/s/zone/a/state")
    assert not topic_matches("lfr/s/zone/+/state", "lfr/s/zone/a/patrol/p/alert")
    assert topic_matches("lfr/s/#", "lfr/s")
    assert not topic_matches("#", "$SYS/broker/uptime")


def test_mosquitto_files_with_patterns_and_deny(tmp_path):
    from lfr.transport.acl import hash_password

    (tmp_path / "passwd").write_text(f"alice:{hash_password('a')}\nbob:{hash_password('b')}\n")
    (tmp_path / "acl").write_text(
        "topic read lfr/anonymous/#\n"  # before any user: anonymous, never granted
        "user alice\ntopic readwrite lfr/a/#\ntopic deny lfr/a/secret\n"
        "user bob\ntopic lfr/b/#\n"
        "pattern read lfr/home/%u/#\n"
    )
    users = BrokerUsers.from_mosquitto(tmp_path / "passwd", tmp_path / "acl")
    assert users.authenticate("alice", "a") and not users.authenticate("alice", "b")
    assert not users.authenticate(None, None) and not users.authenticate("carol", "")
    assert users.may_publish("alice", "lfr/a/x") and not users.may_publish("alice", "lfr/a/secret")
    assert users.may_subscribe("bob", "lfr/b/+") and users.may_publish("bob", "lfr/b/x")
    assert users.may_receive("bob", "lfr/home/bob/x") and not users.may_receive(
        "bob", "lfr/home/alice/x"
    )
    assert not users.may_receive("alice", "lfr/anonymous/x")
    assert not users.may_publish("alice", "lfr/a/+")  # no wildcards in a topic name


@pytest.mark.blocking_ok("the test reads the generated files directly")
def test_generated_mosquitto_conf_is_tls_or_loopback_only(tmp_path):
    users = plan_users(SITE, ["p-1"])
    plain = write_files(tmp_path / "plain", users, port=1883, ws_port=8083)
    assert plain.conf is not None
    text = plain.conf.read_text()
    assert "listener 1883 127.0.0.1" in text and "listener 8083 127.0.0.1" in text
    assert "0.0.0.0" not in text and "allow_anonymous false" in text
    assert plain.warnings and "127.0.0.1" in plain.warnings[0]
    assert "# WARNING:" in text

    exposed = write_files(tmp_path / "exposed", users, port=1883, bind="0.0.0.0")
    assert exposed.warnings and "in clear" in exposed.warnings[0]

    tls = (tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem")
    secure = write_files(tmp_path / "tls", users, port=8883, tls=tls)
    assert secure.conf is not None and secure.warnings == ()
    text = secure.conf.read_text()
    assert "listener 8883 0.0.0.0" in text and "certfile" in text
