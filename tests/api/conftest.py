"""An API over a real SQLite log and vault, with tokens for every role."""

from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.store.sqlite import SqliteEventStore
from lfr.vault import BiometricVault
from lfr.video.whip import WhipIngest
from tests.api.site import LogSite


@dataclass
class Env:
    app: object
    client: httpx.AsyncClient
    store: SqliteEventStore
    site: LogSite
    vault: BiometricVault
    issuer: TokenIssuer
    data_dir: Path

    def token(self, role: Role | str, name: str | None = None, **kw) -> str:
        role = Role(role)
        return self.issuer.issue(name or f"{role.value}-1", role, **kw)

    def headers(self, role, name=None, **kw) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, name, **kw)}"}


@pytest.fixture
async def api(tmp_path):
    store = await SqliteEventStore.open(tmp_path / "events.sqlite")
    vault = await BiometricVault.open(tmp_path)
    key = await anyio.to_thread.run_sync(load_or_create_api_key, tmp_path)
    config = AuthConfig()
    issuer = TokenIssuer(key, config)
    site = LogSite(store)
    app = await anyio.to_thread.run_sync(
        lambda: create_app(
            store=store,
            verifier=TokenVerifier(config, key.public_key()),
            data_dir=tmp_path,
            site=site,
            vault=vault,
            whip_router=WhipIngest(["ne-1"]).router,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lfr.test") as client:
        yield Env(app, client, store, site, vault, issuer, tmp_path)
    vault.close()
    await store.aclose()
