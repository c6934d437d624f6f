"""The promises of lfr checked on a recorded log (used by the state machine and stories)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from schemas.envelope import Envelope


def arming_at(log: list[Envelope], zone: str, seq: int) -> str | None:
    """The deployment a zone is armed with just after global position `seq` (None: disarmed)."""
    armed: str | None = None
    for env in log:
        if env.seq > seq:
            break
        if env.stream != f"zone:{zone}":
            continue
        if env.type == "DeploymentArmed":
            armed = env.payload["deployment_id"]
        elif env.type == "DeploymentDisarmed":
            armed = None
    return armed


def check_log(log: list[Envelope], *, cooldown_s: float = 60.0) -> None:
    """Raise AssertionError naming the first broken promise."""
    # Streams are gapless and no event is stored twice.
    versions: dict[str, int] = defaultdict(int)
    ids: set[str] = set()
    for i, env in enumerate(log, start=1):
        assert env.seq == i, f"global seq gap at {i}"
        versions[env.stream] += 1
        assert env.stream_version == versions[env.stream], f"version gap in {env.stream}"
        assert str(env.event_id) not in ids, f"event {env.event_id} stored twice"
        ids.add(str(env.event_id))

    armed: dict[str, str | None] = defaultdict(lambda: None)
    matches: dict[str, dict] = {}
    raised: dict[str, dict] = {}
    last_alert: dict[tuple[str, str], object] = {}
    confirmations: dict[str, set[str]] = defaultdict(set)
    match_ids_alerted: set[str] = set()
    for env in log:
        p = env.payload
        if env.type == "DeploymentArmed":
            assert armed[p["zone"]] is None, f"{p['zone']} armed twice"
            armed[p["zone"]] = p["deployment_id"]
            assert p["patrols_on_duty"], "armed with no patrol on duty"
        elif env.type == "DeploymentDisarmed":
            armed[p["zone"]] = None
        elif env.type in ("FaceMatched", "FrameDiscarded"):
            assert armed[p["zone"]] == p["deployment_id"], (
                f"{env.type} on {p['camera']} at seq {env.seq} while {p['zone']} is "
                f"armed with {armed[p['zone']]!r}"
            )
            if env.type == "FaceMatched":
                matches[p["match_id"]] = p
        elif env.type == "AlertRaised":
            m = matches.get(p["match_id"])
            assert m is not None, f"alert {p['alert_id']} has no earlier match"
            assert (m["entry_id"], m["camera"], m["deployment_id"]) == (
                p["entry_id"],
                p["camera"],
                p["deployment_id"],
            )
            assert p["match_id"] not in match_ids_alerted, "one match alerted twice"
            match_ids_alerted.add(p["match_id"])
            key = (p["zone"], p["entry_id"])
            before = last_alert.get(key)
            if before is not None:
                gap = env.occurred_at - before  # type: ignore[operator]
                assert gap >= timedelta(seconds=cooldown_s), (
                    f"{p['entry_id']} alerted twice in {p['zone']} within {gap}"
                )
            last_alert[key] = env.occurred_at
            raised[p["alert_id"]] = p
        elif env.type in ("AlertDispatched", "AlertEscalated"):
            assert p["alert_id"] in raised, f"{env.type} of unknown alert {p['alert_id']}"
        elif env.type == "AlertAdjudicated":
            assert p["alert_id"] in raised
            if p["verdict"] == "confirmed":
                confirmations[p["alert_id"]].add(p["officer"])
        elif env.type == "EngagementRecorded":
            a, b = p["confirmed_by"]
            assert a != b, "engagement confirmed by one officer twice"
            assert {a, b} <= confirmations[p["alert_id"]], "engagement without two confirmations"
