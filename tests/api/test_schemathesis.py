"""Schemathesis against the served OpenAPI document, every operation with a token of every role
(officer, supervisor, watchlist_manager, auditor, engineer) and with none: no 5xx ever; for the
roles allowed each response is as documented and invalid input a clear 4xx, the others are
refused (401/403) before anything else. The watchlist routes run on a real store (with a
stand-in for the face models that finds no face), so they answer more than "no store".

About 1,500 requests: a handful of examples per (operation, role), more for the allowed ones.
"""

import json
import os
import queue
import threading
from pathlib import Path

import anyio
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.api.server import serve_http
from lfr.api.watchlists import StoreWatchlistService
from lfr.store.sqlite import SqliteEventStore
from lfr.vault import BiometricVault
from lfr.video.whip import WhipIngest
from tests.api.site import LogSite, window
from tests.api.test_roles import ALL, MATRIX


class _NoFace:
    """The face pipeline as enrolment uses it, finding no face in any photo (so an upload is
    refused with 422 without the model pack)."""

    class _Analysis:
        faces: tuple = ()

        def forget(self) -> None:
            pass

    def analyse_subject(self, image, box=None, *, apply_gate=False):
        return self._Analysis(), None


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    data = tmp_path_factory.mktemp("schemathesis")
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()

    async def main() -> None:
        store = await SqliteEventStore.open(data / "events.sqlite")
        vault = BiometricVault.for_data_dir(data)
        key = load_or_create_api_key(data)
        site = LogSite(store)
        start, end = window()
        await site.authorise_deployment(
            "north-end",
            starts_at=start,
            ends_at=end,
            watchlist_version="v1",
            threshold=0.6,
            legal_basis="PACE",
            reason="test",
            authorised_by="supervisor-1",
        )
        await site.check_in("p-7", zone="north-end", officers=("officer-1", "officer-2"))
        crop = await vault.put(b"\xff\xd8crop", "alert_crop")
        await site.raise_alert("north-end", ("p-7",), crop_ref=crop)
        watchlists = StoreWatchlistService(
            data / "watchlist",
            store=store,
            vault=vault,
            pipeline=_NoFace(),  # type: ignore[arg-type]
        )
        app = create_app(
            store=store,
            verifier=TokenVerifier(AuthConfig(), key.public_key()),
            data_dir=data,
            site=site,
            vault=vault,
            watchlists_service=watchlists,
            whip_router=WhipIngest(["ne-1"]).router,
        )
        async with anyio.create_task_group() as tg:
            url = await tg.start(serve_http, app, "127.0.0.1", 0)
            ready.put((url, TokenIssuer(key)))
            await anyio.to_thread.run_sync(stop.wait)
            tg.cancel_scope.cancel()
        vault.close()
        await store.aclose()

    thread = threading.Thread(target=anyio.run, args=(main,), daemon=True)
    thread.start()
    yield ready.get(timeout=30)
    stop.set()
    thread.join(15)


DOC = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(str(DOC))
RAW = json.loads(DOC.read_text())["paths"]
OPERATIONS = [r.ok() for r in SCHEMA.get_all_operations() if r.ok().path != "/api/alerts/stream"]


def has_invalid_input(raw: dict) -> bool:
    """An operation whose only inputs are free-text path segments has no invalid input."""
    if "requestBody" in raw and "application/json" in raw["requestBody"]["content"]:
        return True
    for param in raw.get("parameters", []):
        schema = param.get("schema", {})
        if (
            param["in"] != "path"
            or set(schema) - {"type", "title"}
            or schema.get("type") != "string"
        ):
            return True
    return False


ALLOWED = {(m, p): roles for m, p, _, roles in MATRIX}
#: examples per (operation, mode, allowed role); a refused role gets a quarter. CI runs 8
#: (about 15 s on 2 cores); LFR_SCHEMATHESIS_EXAMPLES=200 hunts harder.
EXAMPLES = int(os.environ.get("LFR_SCHEMATHESIS_EXAMPLES", "8"))
CASES = [
    (op, mode, role)
    for op in OPERATIONS
    for role in (*ALL, None)
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE
    or (
        role in ALLOWED[(op.method.upper(), op.path)]
        and has_invalid_input(RAW[op.path][op.method.lower()])
    )
]
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


def _refused(ctx, response, case) -> None:
    """A role that may not act is told so (401 without a token, 403 with the wrong one)."""
    assert response.status_code in (401, 403), (
        f"{case.method} {case.path} answered {response.status_code}, not 401/403"
    )


@pytest.mark.parametrize(
    ("operation", "mode", "role"),
    CASES,
    ids=[
        f"{o.method.upper()} {o.path} {m.value} {r.value if r else 'anonymous'}"
        for o, m, r in CASES
    ],
)
def test_api_answers_as_documented(operation, mode, role, live_api):
    url, issuer = live_api
    headers = {}
    if role is not None:
        token = issuer.issue(
            "officer-1" if role is Role.OFFICER else f"{role.value}-1",
            role,
            patrol_id="p-7" if role is Role.OFFICER else None,
        )
        headers["Authorization"] = f"Bearer {token}"
    allowed = role in ALLOWED[(operation.method.upper(), operation.path)]
    run_checks = CHECKS if allowed else [checks.not_a_server_error, _refused]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES if allowed else max(1, EXAMPLES // 4),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        case.call_and_validate(base_url=url, headers=headers, checks=run_checks, timeout=10)

    run()
