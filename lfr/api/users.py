"""The site's users and the tokens issued to them: who may call the API, and revocation.

A signed token alone proves only that the site once issued it. With a `UserStore` the
verifier also asks, on every request, whether its user is still on the site and its `jti`
was issued here and not revoked, so `lfr users remove` or `lfr users revoke` takes effect at
once, without rotating the signing key for everyone. The store is `<data_dir>/users.sqlite`
(names, roles, patrols and zones; token ids and expiry, never the tokens themselves).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lfr.errors import ConfigError, LfrError

__all__ = ["USERS_FILE", "TokenRevokedError", "User", "UserStore"]

USERS_FILE = "users.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    patrol TEXT,
    zone TEXT,
    added_at TEXT NOT NULL,
    removed_at TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    jti TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES users (name),
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS tokens_name ON tokens (name);
"""


class TokenRevokedError(LfrError):
    """The token's user was removed, or the token revoked or never issued by this site."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    patrol: str | None
    zone: str | None
    added_at: str
    removed_at: str | None
    active_tokens: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class UserStore:
    """Users and token ids in one SQLite file; safe to call from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"{self.path}: the user store cannot be opened ({exc}); check the data "
                "directory, or move the file aside and add the users again"
            ) from exc
        self._lock = threading.Lock()

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> UserStore:
        return cls(Path(data_dir) / USERS_FILE)

    def close(self) -> None:
        self._conn.close()

    def add(self, name: str, role: str, *, patrol: str | None, zone: str | None) -> None:
        """Add `name` (or update their role, patrol and zone, and bring them back if removed)."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO users (name, role, patrol, zone, added_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET role=excluded.role, patrol=excluded.patrol, "
                "zone=excluded.zone, removed_at=NULL",
                (name, role, patrol, zone, _now()),
            )

    def record_token(self, jti: str, name: str, expires_at: datetime) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO tokens (jti, name, issued_at, expires_at) VALUES (?, ?, ?, ?)",
                (jti, name, _now(), expires_at.astimezone(UTC).isoformat(timespec="seconds")),
            )

    def remove(self, name: str) -> int:
        """Remove `name` and revoke their tokens; return how many tokens were revoked.

        :raises KeyError: no such user.
        """
        now = _now()
        with self._lock:
            cur = self._conn.execute(
                "UPDATE users SET removed_at=? WHERE name=? AND removed_at IS NULL", (now, name)
            )
            if cur.rowcount == 0:
                raise KeyError(name)
            return self._conn.execute(
                "UPDATE tokens SET revoked_at=? WHERE name=? AND revoked_at IS NULL", (now, name)
            ).rowcount

    def revoke(self, jti: str) -> bool:
        """Revoke one token; False when it was unknown or already revoked."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE tokens SET revoked_at=? WHERE jti=? AND revoked_at IS NULL", (_now(), jti)
            )
            return cur.rowcount == 1

    def users(self) -> list[User]:
        now = _now()
        with self._lock:
            rows = self._conn.execute(
                "SELECT u.name, u.role, u.patrol, u.zone, u.added_at, u.removed_at, "
                "(SELECT COUNT(*) FROM tokens t WHERE t.name = u.name AND t.revoked_at IS NULL "
                "AND t.expires_at > ?) FROM users u ORDER BY u.name",
                (now,),
            ).fetchall()
        return [User(*r) for r in rows]

    def check(self, jti: object, name: str, role: str) -> None:
        """Accept a verified token only if this site issued it to `name`, who is still here
        with `role`, and it is not revoked.

        :raises TokenRevokedError: otherwise, saying which.
        """
        if not isinstance(jti, str) or not jti:
            raise TokenRevokedError("the token has no id (jti); ask for a new one")
        with self._lock:
            row = self._conn.execute(
                "SELECT t.name, t.revoked_at, u.role, u.removed_at FROM tokens t "
                "JOIN users u ON u.name = t.name WHERE t.jti = ?",
                (jti,),
            ).fetchone()
        if row is None:
            raise TokenRevokedError("the token was not issued by this site's user store")
        owner, revoked_at, current_role, removed_at = row
        if owner != name:
            raise TokenRevokedError("the token's id belongs to another user")
        if removed_at is not None:
            raise TokenRevokedError(f"user {name!r} was removed at {removed_at}")
        if revoked_at is not None:
            raise TokenRevokedError(f"the token was revoked at {revoked_at}")
        if current_role != role:
            raise TokenRevokedError(
                f"user {name!r} is now {current_role!r}, not {role!r}; ask for a new token"
            )
