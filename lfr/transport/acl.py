"""Who may use the embedded broker and for what, with Mosquitto's semantics, in process.

`BrokerUsers` holds users (a password hash each) and their topic ACL: `read` patterns a user
may subscribe within and receive from, `write` patterns it may publish to. It reads the very
files `lfr ops mosquitto` writes for Mosquitto (`passwd` in mosquitto_passwd's `$7$`/`$6$`
format, `acl` with `user` / `topic [read|write|readwrite|deny]` / `pattern` lines), so the
embedded broker and a production Mosquitto grant exactly the same. Anonymous access has no
place here: a client without a valid username and password is refused.

Subscriptions follow Mosquitto's rule: a filter is allowed when one `read` pattern covers
all of it (`lfr/s/zone/a/patrol/p-1/+` is inside `lfr/s/zone/a/patrol/p-1/#`; `lfr/s/#` is
inside nothing but `lfr/s/#` or wider). Every delivered message is checked again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BrokerUser",
    "BrokerUsers",
    "filter_within",
    "hash_password",
    "topic_matches",
    "verify_password",
]

log = logging.getLogger(__name__)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = 101) -> str:
    """mosquitto_passwd's `$7$` hash: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte key."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Check `password` against a mosquitto_passwd hash (`$7$` PBKDF2 or `$6$` SHA-512)."""
    try:
        parts = hashed.split("$")
        if len(parts) == 5 and parts[1] == "7":
            iterations = int(parts[2])
            salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
            got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(want))
            return hmac.compare_digest(got, want)
        if len(parts) == 4 and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.sha512(password.encode() + salt).digest()
            return hmac.compare_digest(got, want)
    except (ValueError, binascii.Error):
        return False
    return False


def topic_matches(pattern: str, topic: str) -> bool:
    """Whether a concrete `topic` matches a filter `pattern` (`+` one level, `#` the rest)."""
    if topic.startswith("$") and not pattern.startswith("$"):
        return False
    p, t = pattern.split("/"), topic.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(t):
            return False
        if level != "+" and level != t[i]:
            return False
    return len(p) == len(t)


def filter_within(subscription: str, pattern: str) -> bool:
    """Whether every topic the `subscription` filter can match is matched by `pattern`
    (Mosquitto's check of a SUBSCRIBE against a read ACL)."""
    s, p = subscription.split("/"), pattern.split("/")
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(s):
            return False
        want = s[i]
        if want == "#":
            return False  # the subscription reaches deeper than the pattern grants
        if level == "+":
            continue
        if want == "+" or want != level:
            return False
    return len(s) == len(p)


@dataclass(frozen=True)
class BrokerUser:
    """One broker user: a password hash and the topics it may read and write."""

    name: str
    password_hash: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


class BrokerUsers:
    """The embedded broker's users and ACL (see the module doc). Thread-safe enough for its
    use: the broker's loop reads it; changes replace whole entries."""

    def __init__(self, users: Iterable[BrokerUser] = ()) -> None:
        self._users: dict[str, BrokerUser] = {u.name: u for u in users}

    def __contains__(self, name: object) -> bool:
        return name in self._users

    def __len__(self) -> int:
        return len(self._users)

    def names(self) -> list[str]:
        return sorted(self._users)

    def get(self, name: str) -> BrokerUser | None:
        return self._users.get(name)

    def add(
        self,
        name: str,
        password: str,
        *,
        read: Iterable[str] = (),
        write: Iterable[str] = (),
    ) -> None:
        """Add (or replace) a user with a clear password (stored hashed)."""
        self.put(BrokerUser(name, hash_password(password), tuple(read), tuple(write)))

    def put(self, user: BrokerUser) -> None:
        if not user.name:
            raise ValueError("a broker user needs a name")
        self._users[user.name] = user

    def issue(self, name: str, *, read: Iterable[str] = (), write: Iterable[str] = ()) -> str:
        """Add `name` with a fresh random password and return the password."""
        password = secrets.token_urlsafe(24)
        self.add(name, password, read=read, write=write)
        return password

    def remove(self, name: str) -> bool:
        return self._users.pop(name, None) is not None

    # --- Mosquitto files -----------------------------------------------------------------

    @classmethod
    def from_mosquitto(cls, passwd: Path, acl: Path | None = None) -> BrokerUsers:
        """Users of a Mosquitto `password_file` with the grants of its `acl_file`."""
        users = cls()
        users.load_mosquitto(passwd, acl)
        return users

    def load_mosquitto(self, passwd: Path, acl: Path | None = None) -> None:
        """Add the users of `passwd` (a user absent from it can never log in) with the grants
        `acl` gives them (none if absent); `pattern` lines apply to every user (`%u`)."""
        hashes: dict[str, str] = {}
        for line in passwd.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, hashed = line.partition(":")
            if sep and name and hashed:
                hashes[name] = hashed
        grants: dict[str, dict[str, list[str]]] = {}
        patterns: list[tuple[str, str]] = []
        current: str | None = None
        for number, raw in enumerate(acl.read_text().splitlines() if acl else (), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            rest = rest.strip()
            if keyword == "user":
                current = rest
                continue
            if keyword not in ("topic", "pattern"):
                log.warning("%s:%d: %r is not understood; ignored", acl, number, keyword)
                continue
            access, _, topic = rest.partition(" ")
            if access not in ("read", "write", "readwrite", "deny"):
                access, topic = "readwrite", rest
            topic = topic.strip()
            if not topic:
                continue
            if keyword == "pattern":
                patterns.append((access, topic))
            elif current is not None:  # topics before any `user` are for anonymous: none
                for kind in ("read", "write") if access == "readwrite" else (access,):
                    grants.setdefault(current, {}).setdefault(kind, []).append(topic)
        for name, hashed in hashes.items():
            g = grants.get(name, {})
            read, write, deny = list(g.get("read", [])), list(g.get("write", [])), g.get("deny")
            for access, topic in patterns:
                if "%c" in topic:
                    log.warning(
                        "ACL pattern %r uses %%c (client id): not supported; ignored", topic
                    )
                    continue
                t = topic.replace("%u", name)
                if access in ("read", "readwrite"):
                    read.append(t)
                if access in ("write", "readwrite"):
                    write.append(t)
            self.put(BrokerUser(name, hashed, tuple(read), tuple(write), tuple(deny or ())))

    # --- decisions -----------------------------------------------------------------------

    def authenticate(self, name: str | None, password: str | None) -> bool:
        """Whether `name` exists and `password` is its password (anonymous: never)."""
        user = self._users.get(name or "")
        if user is None or not password:
            return False
        return verify_password(password, user.password_hash)

    def _denied(self, user: BrokerUser, topic: str) -> bool:
        return any(topic_matches(p, topic) or filter_within(topic, p) for p in user.deny)

    def may_publish(self, name: str | None, topic: str) -> bool:
        user = self._users.get(name or "")
        if user is None or "+" in topic or "#" in topic or self._denied(user, topic):
            return False
        return any(topic_matches(p, topic) for p in user.write)

    def may_subscribe(self, name: str | None, subscription: str) -> bool:
        user = self._users.get(name or "")
        if user is None or self._denied(user, subscription):
            return False
        return any(filter_within(subscription, p) for p in user.read)

    def may_receive(self, name: str | None, topic: str) -> bool:
        user = self._users.get(name or "")
        if user is None or self._denied(user, topic):
            return False
        return any(topic_matches(p, topic) for p in user.read)
