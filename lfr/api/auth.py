"""Who is calling: Ed25519-signed JWTs (embedded default) or an external OIDC issuer, and roles.

    officer              their own patrol's alerts and images; acknowledge, adjudicate, engage
    supervisor           authorises and cancels deployments, checks patrols in/out, sees alerts
    watchlist_manager    builds, publishes and removes watchlist entries
    auditor              reads and verifies the log and its reports; changes nothing
    engineer             telemetry and health only: never a biometric image or a subject label

Every request carries `Authorization: Bearer <token>`; a missing or bad token is 401 with
`WWW-Authenticate: Bearer`, a valid token without the role is 403. The embedded issuer's
private key lives in `<data_dir>/api_ed25519.pem` and never leaves the site.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from fastapi import Depends, HTTPException, Request, status

from lfr.api.users import TokenRevokedError, UserStore
from lfr.errors import ConfigError, LfrError

__all__ = [
    "AuthConfig",
    "AuthError",
    "Principal",
    "Role",
    "TokenIssuer",
    "TokenVerifier",
    "authenticate",
    "load_or_create_api_key",
    "require",
    "require_zone",
    "roles",
]

KEY_FILE = "api_ed25519.pem"
DEFAULT_TTL_S = 12 * 3600


class Role(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    WATCHLIST_MANAGER = "watchlist_manager"
    AUDITOR = "auditor"
    ENGINEER = "engineer"


class AuthError(LfrError):
    """A token is missing, malformed, expired, or not signed by a trusted issuer (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    name: str
    role: Role
    patrol_id: str | None = None
    zone: str | None = None

    @property
    def display(self) -> str:
        return self.name


@dataclass(frozen=True)
class AuthConfig:
    """Embedded issuer (default) or an external OIDC issuer (`oidc_issuer` + `oidc_jwks_url`)."""

    issuer: str = "lfr"
    audience: str = "lfr-api"
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_audience: str | None = None
    oidc_role_claim: str = "lfr_role"
    oidc_algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    leeway_s: int = 30


def load_or_create_api_key(data_dir: Path, *, create: bool = True) -> Ed25519PrivateKey:
    """The embedded issuer's signing key, created (mode 0600) on first use.

    :raises ConfigError: the file is missing and `create` is false, or is not an Ed25519 key.
    """
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        if not create:
            raise ConfigError(f"{path} does not exist: run `lfr users add` or `lfr serve` first")
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 private key; move it aside to make a new one")
    return loaded


@dataclass
class TokenIssuer:
    """Signs tokens for the embedded default (`lfr users add`)."""

    key: Ed25519PrivateKey
    config: AuthConfig = field(default_factory=AuthConfig)

    def issue(
        self,
        name: str,
        role: Role | str,
        *,
        patrol_id: str | None = None,
        zone: str | None = None,
        ttl_s: int = DEFAULT_TTL_S,
        jti: str | None = None,
    ) -> str:
        """A signed token; `jti` names it for revocation (`UserStore.record_token`)."""
        role = Role(role)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "aud": self.config.audience,
            "sub": name,
            "role": role.value,
            "iat": now,
            "nbf": now - 1,
            "exp": now + ttl_s,
            "jti": jti or uuid.uuid4().hex,
        }
        if patrol_id is not None:
            claims["patrol"] = patrol_id
        if zone is not None:
            claims["zone"] = zone
        return jwt.encode(claims, self.key, algorithm="EdDSA")


class TokenVerifier:
    """Checks a bearer token and turns it into a `Principal`.

    Given the site's `users` (the embedded issuer), a token must also name a user still on
    the site, with the role it claims, and an unrevoked `jti` this site issued."""

    def __init__(
        self,
        config: AuthConfig,
        public_key: Ed25519PublicKey | None = None,
        *,
        users: UserStore | None = None,
    ) -> None:
        self.config = config
        self.users = users
        self._public_key = public_key
        self._jwks: Any = None
        if config.oidc_issuer is not None:
            if not config.oidc_jwks_url:
                raise ConfigError("oidc_issuer is set but oidc_jwks_url is not: give both")
            self._jwks = jwt.PyJWKClient(config.oidc_jwks_url, cache_keys=True)
        elif public_key is None:
            raise ConfigError("no token issuer configured: give the embedded key or an OIDC issuer")

    def verify(self, token: str) -> Principal:
        """:raises AuthError: the token does not verify."""
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=list(self.config.oidc_algorithms),
                    issuer=self.config.oidc_issuer,
                    audience=self.config.oidc_audience or self.config.audience,
                    leeway=self.config.leeway_s,
                    options={"require": ["exp", "iss", "sub"]},
                )
                role_claim = claims.get(self.config.oidc_role_claim)
            else:
                assert self._public_key is not None
                claims = jwt.decode(
                    token,
                    self._public_key,
                    algorithms=["EdDSA"],
                    issuer=self.config.issuer,
                    audience=self.config.audience,
                    leeway=self.config.leeway_s,
                    options={"require": ["exp", "iss", "sub", "aud"]},
                )
                role_claim = claims.get("role")
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid bearer token: {exc}") from exc
        try:
            role = Role(str(role_claim))
        except ValueError as exc:
            raise AuthError(f"token carries no known lfr role (got {role_claim!r})") from exc
        if self.users is not None and self._jwks is None:
            try:
                self.users.check(claims.get("jti"), str(claims["sub"]), role.value)
            except TokenRevokedError as exc:
                raise AuthError(f"token no longer valid: {exc}") from exc
        patrol = claims.get("patrol")
        zone = claims.get("zone")
        return Principal(
            name=str(claims["sub"]),
            role=role,
            patrol_id=str(patrol) if patrol is not None else None,
            zone=str(zone) if zone is not None else None,
        )


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticate(request: Request) -> Principal:
    """The caller of this request (FastAPI dependency).

    :raises HTTPException: 401 when the token is missing or invalid.
    """
    verifier: TokenVerifier = request.app.state.verifier
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorised("sign in: send `Authorization: Bearer <token>`")
    try:
        return verifier.verify(token.strip())
    except AuthError as exc:
        raise _unauthorised(str(exc)) from exc


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting only `roles` (403 otherwise)."""
    allowed = frozenset(roles)

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role.value!r} may not do this; it needs one of: {names}",
            )
        return principal

    dependency.__name__ = "require_" + "_".join(sorted(r.value for r in allowed))
    return dependency


def require_zone(principal: Principal, zone: str) -> None:
    """A token that names a zone acts only in that zone (403 otherwise); one naming none
    (a force-wide supervisor) acts in any.

    :raises HTTPException: 403 naming the token's zone.
    """
    if principal.zone is not None and principal.zone != zone:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"your token is for zone {principal.zone!r}, not {zone!r}",
        )


def roles(names: Iterable[str]) -> tuple[Role, ...]:
    return tuple(Role(n) for n in names)
