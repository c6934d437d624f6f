# One module past 450 lines on purpose: the witness's record, its file and HTTP forms, the
# checks against them and the signers' publishing to them are one format that must agree
# with itself.
"""Witnesses: an append-only record, outside the log's own storage, of every signed checkpoint
the log published, each checked against the one before and countersigned.

Whoever controls the log's files (and even its signing key) can rewrite them and re-sign; what
they cannot do is make a witness forget the checkpoints it already countersigned. A witness
accepts a checkpoint of a log only when it is signed by the key it first saw that log use and
an RFC 9162 consistency proof shows its tree extends the newest one it witnessed; then it
appends a countersigned entry. `lfr audit verify --witness FILE` checks the log against every
entry: each witnessed checkpoint must still be in the log, and the log's tree at that size must
have the witnessed root, so a rewritten, re-signed, truncated or forked log fails.

The file witness (`FileWitness`) is NDJSON, one line each, never rewritten:

    {"format": "lfr.witness.v1", "witness_key": PEM, "created_at": ...}    the header
    {"kind": "lfr.witnessed.v1", "checkpoint": {...}, "log_key": PEM, "from_size": m,
     "consistency": [hex, ...], "witnessed_at": ..., "witness_key_id": ..., "signature": hex}
    {"kind": "lfr.witness-refusal.v1", ...}   a checkpoint signed by the log's key that
                                               contradicts what was witnessed: evidence

It is a file the auditor controls (another disk, host or account; `chattr +a`), with its own
Ed25519 key (default `<file>.key`). `HttpWitness` reaches the same witness run as a separate
process (`lfr audit witness serve FILE`), where its key stays with the auditor.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreError
from lfr.store.hashchain import format_time
from lfr.store.merkle import verify_consistency

__all__ = [
    "FileWitness",
    "HttpWitness",
    "Witness",
    "WitnessEntry",
    "WitnessError",
    "WitnessFile",
    "WitnessRefusedError",
    "checkpoint_of_document",
    "note_witness_outcome",
    "open_witness",
    "proof_start",
    "read_witness_file",
    "serve_witness",
    "witnesses_of",
]

_log = logging.getLogger("lfr.store.witness")
_MAX_BODY = 1 << 20  # a submission: a checkpoint, a key and log2(n) hashes

WITNESS_FORMAT = "lfr.witness.v1"
WITNESSED_KIND = "lfr.witnessed.v1"
REFUSAL_KIND = "lfr.witness-refusal.v1"


class WitnessError(StoreError):
    """A witness could not be reached or read, or its file is damaged."""


class WitnessRefusedError(WitnessError):
    """The witness refused a checkpoint (wrong key, bad signature, or not consistent with what
    it witnessed before)."""


def _sign_message(kind: str, fields: dict[str, Any]) -> bytes:
    return orjson.dumps({"kind": kind, **fields}, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class WitnessEntry:
    """One line of a witness: a checkpoint it countersigned, or one it refused (`refused`
    names why; such a checkpoint is signed by the log's key yet contradicts the record)."""

    checkpoint: ckpt.Checkpoint
    log_key: str
    from_size: int
    consistency: tuple[str, ...]
    witnessed_at: str
    witness_key_id: str
    signature: str = ""
    refused: str | None = None

    @property
    def kind(self) -> str:
        return REFUSAL_KIND if self.refused is not None else WITNESSED_KIND

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "checkpoint": self.checkpoint.to_dict(),
            "log_key": self.log_key,
            "from_size": self.from_size,
            "consistency": list(self.consistency),
            "witnessed_at": self.witnessed_at,
            "witness_key_id": self.witness_key_id,
        }
        if self.refused is not None:
            out["refused"] = self.refused
        return out

    def message(self) -> bytes:
        return _sign_message(self.kind, self._fields())

    def signed(self, key: Ed25519PrivateKey) -> WitnessEntry:
        return WitnessEntry(
            self.checkpoint,
            self.log_key,
            self.from_size,
            self.consistency,
            self.witnessed_at,
            self.witness_key_id,
            key.sign(self.message()).hex(),
            self.refused,
        )

    def verify(self, key: Ed25519PublicKey) -> bool:
        if self.witness_key_id != ckpt.key_id(key):
            return False
        try:
            key.verify(bytes.fromhex(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._fields(), "signature": self.signature}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WitnessEntry:
        refused = data.get("refused") if data.get("kind") == REFUSAL_KIND else None
        return cls(
            checkpoint=ckpt.Checkpoint.from_dict(data["checkpoint"]),
            log_key=str(data["log_key"]),
            from_size=int(data["from_size"]),
            consistency=tuple(str(h) for h in data["consistency"]),
            witnessed_at=str(data["witnessed_at"]),
            witness_key_id=str(data["witness_key_id"]),
            signature=str(data["signature"]),
            refused=None if refused is None else str(refused),
        )


def checkpoint_of_document(doc: Any) -> ckpt.Checkpoint:
    """The checkpoint in a document: a checkpoint itself (`lfr audit checkpoint`), a witness
    entry, or an inclusion proof.

    :raises ValueError: none in it.
    """
    if isinstance(doc, dict) and isinstance(doc.get("checkpoint"), dict):
        doc = doc["checkpoint"]
    if not isinstance(doc, dict):
        raise ValueError("not a checkpoint")
    try:
        return ckpt.Checkpoint.from_dict(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a checkpoint ({exc!r})") from exc


# --- the witness's policy --------------------------------------------------------------------


@dataclass
class _LogState:
    log_key: str
    latest: WitnessEntry


def _judge(
    state: _LogState | None, cp: ckpt.Checkpoint, log_key_pem: str, from_size: int, proof: list[str]
) -> str | None:
    """None when `cp` may be countersigned; else why not. Raises `WitnessRefusedError` for a
    submission that proves nothing against the log (wrong key, bad signature, stale base)."""
    if state is not None and state.log_key != log_key_pem:
        raise WitnessRefusedError(
            f"checkpoint of log {cp.log_id} offered with another public key than the one "
            "this witness saw it use first; a log's key cannot change"
        )
    try:
        key = ckpt.load_public_key(log_key_pem)
    except StoreError as exc:
        raise WitnessRefusedError(f"the log's public key is unreadable ({exc})") from exc
    if cp.key_id != ckpt.key_id(key) or not cp.verify(key):
        raise WitnessRefusedError(
            f"the checkpoint of tree size {cp.tree_size} is not signed by the log's key"
        )
    if state is None:
        return None
    last = state.latest.checkpoint
    if cp.tree_size < last.tree_size:
        return (
            f"tree size {cp.tree_size} is smaller than the {last.tree_size} witnessed at "
            f"{state.latest.witnessed_at}: the log was truncated or rolled back"
        )
    if cp.tree_size == last.tree_size:
        if cp.root != last.root:
            return (
                f"another root for tree size {cp.tree_size} than the one witnessed at "
                f"{state.latest.witnessed_at}: the log was rewritten"
            )
        return None
    if from_size != last.tree_size:
        raise WitnessRefusedError(
            f"the consistency proof starts at tree size {from_size}, but this witness last saw "
            f"{last.tree_size}: ask for the witness's latest checkpoint and prove from there"
        )
    try:
        nodes = [bytes.fromhex(h) for h in proof]
        ok = verify_consistency(
            last.tree_size,
            cp.tree_size,
            bytes.fromhex(last.root),
            bytes.fromhex(cp.root),
            nodes,
        )
    except ValueError:
        ok = False
    if not ok:
        return (
            f"tree size {cp.tree_size} is not consistent with tree size {last.tree_size} "
            f"witnessed at {state.latest.witnessed_at}: the log was rewritten"
        )
    return None


class Witness(Protocol):
    """Where a log publishes its signed checkpoints (see the module docstring)."""

    name: str

    def latest(self, log_id: str) -> ckpt.Checkpoint | None:
        """The newest checkpoint of `log_id` this witness countersigned (None: never saw it)."""
        ...

    def submit(
        self, checkpoint: ckpt.Checkpoint, log_key_pem: str, from_size: int, proof: list[str]
    ) -> WitnessEntry:
        """Offer `checkpoint` with a consistency proof from `from_size` (the witness's latest);
        return the countersigned entry.

        :raises WitnessRefusedError: refused (recorded when it contradicts the record).
        :raises WitnessError: the witness is unreachable or damaged.
        """
        ...


# --- publishing (the engines' signers) -------------------------------------------------------


def proof_start(
    witness_name: str,
    held: ckpt.Checkpoint | None,
    newest: ckpt.Checkpoint,
    published: dict[str, ckpt.Checkpoint],
) -> int | None:
    """Where the consistency proof offering `newest` to a witness that holds `held` starts
    (0: it holds nothing of this log); None when it holds `newest` already (noted in
    `published`, witness name -> newest checkpoint it holds).

    :raises StoreError: the witness holds a larger tree than `newest` (the log was truncated
        or restored from an old backup), or another checkpoint of the same tree size.
    """
    if held is None:
        return 0
    if held.tree_size > newest.tree_size:
        raise StoreError(
            f"the witness {witness_name} holds tree size {held.tree_size}, more than this "
            f"log's newest checkpoint ({newest.tree_size}): the log was truncated or "
            "restored from an old backup"
        )
    if held.tree_size == newest.tree_size:
        published[witness_name] = held
        if held != newest:
            raise StoreError(
                f"the witness {witness_name} holds another checkpoint of tree size "
                f"{held.tree_size} than this log"
            )
        return None
    return held.tree_size


def note_witness_outcome(
    errors: dict[str, str],
    witness_name: str,
    newest: ckpt.Checkpoint,
    exc: StoreError | None,
    logger: logging.Logger,
) -> None:
    """Remember how offering `newest` to a witness went (`exc`: None when it went through)
    in `errors` (witness name -> its last error), and say so on `logger`: a refusal as an
    error (the witness holds a checkpoint this log contradicts), any other failure as a
    warning when it is not the one last seen, and the first success after a failure as
    the witness being reachable again. A signer retries while `errors` is not empty."""
    if exc is None:
        if errors.pop(witness_name, None) is not None:
            logger.warning("witness %s reachable again", witness_name)
        return
    first = errors.get(witness_name) != str(exc)
    errors[witness_name] = str(exc)
    if isinstance(exc, WitnessRefusedError):
        logger.error("checkpoint of tree size %d: %s", newest.tree_size, exc)
    elif first:
        logger.warning("checkpoint not witnessed (will retry): %s", exc)


# --- the file witness ------------------------------------------------------------------------


@dataclass
class WitnessFile:
    """A witness file as read: its key, and its entries in order."""

    path: Path
    witness_key: Ed25519PublicKey
    created_at: str
    entries: list[WitnessEntry] = field(default_factory=list)

    def of_log(self, log_id: str) -> list[WitnessEntry]:
        return [e for e in self.entries if e.checkpoint.log_id == log_id and e.refused is None]

    def refusals_of(self, log_id: str) -> list[WitnessEntry]:
        return [e for e in self.entries if e.checkpoint.log_id == log_id and e.refused is not None]


def _parse_lines(path: Path, data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(header, entry documents, bytes consumed); a last line without its newline is a write
    in progress and is left for later."""
    end = data.rfind(b"\n") + 1
    lines = data[:end].splitlines()
    if not lines:
        raise WitnessError(f"{path}: an empty witness file (no header)")
    try:
        docs = [orjson.loads(line) for line in lines if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise WitnessError(f"{path}: a line is not JSON ({exc}): the file was damaged") from exc
    header = docs[0]
    if not isinstance(header, dict) or header.get("format") != WITNESS_FORMAT:
        raise WitnessError(f"{path}: not an lfr witness file (format {WITNESS_FORMAT} expected)")
    return header, docs[1:], end


def read_witness_file(path: Path, witness_key: Ed25519PublicKey | None = None) -> WitnessFile:
    """Read and check a witness file: every entry must carry a valid countersignature by
    `witness_key` (default: the key the header names).

    :raises WitnessError: unreadable, not a witness file, or an entry that does not verify.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WitnessError(f"cannot read the witness file {path} ({exc.strerror})") from exc
    header, docs, _ = _parse_lines(path, data)
    try:
        recorded = ckpt.load_public_key(str(header["witness_key"]))
    except (KeyError, StoreError) as exc:
        raise WitnessError(f"{path}: the header's witness key is unreadable ({exc})") from exc
    key = witness_key or recorded
    out = WitnessFile(path, key, str(header.get("created_at", "")))
    for i, doc in enumerate(docs, start=2):
        try:
            entry = WitnessEntry.from_dict(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise WitnessError(f"{path} line {i}: not a witness entry ({exc!r})") from exc
        if not entry.verify(key):
            raise WitnessError(
                f"{path} line {i}: the witness's countersignature does not verify (key "
                f"{ckpt.key_id(key)}): the witness file was altered"
            )
        out.entries.append(entry)
    return out


class FileWitness:
    """A witness kept in an append-only file (see the module docstring); safe for several
    processes (each submission holds an exclusive lock on the file). Blocking: call it from
    a worker thread."""

    def __init__(self, path: Path, key_path: Path | None = None) -> None:
        self.path = Path(path).expanduser()
        self.key_path = (
            Path(key_path) if key_path is not None else self.path.with_name(self.path.name + ".key")
        )
        self.name = str(self.path)
        self._key: Ed25519PrivateKey | None = None
        self._offset = 0
        self._logs: dict[str, _LogState] = {}

    def _signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            try:
                self._key = ckpt.load_or_create_signing_key(self.key_path, create=True)
            except (OSError, StoreError) as exc:
                raise WitnessError(f"the witness key {self.key_path}: {exc}") from exc
        return self._key

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The witness file, created with its header if new, locked exclusively."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise WitnessError(f"cannot open the witness file {self.path} ({exc})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size == 0:
                key = self._signing_key()
                header = {
                    "format": WITNESS_FORMAT,
                    "witness_key": ckpt.public_key_pem(key.public_key()),
                    "created_at": format_time(datetime.now(UTC)),
                }
                self._write(fd, header)
            yield fd
        except OSError as exc:
            raise WitnessError(f"the witness file {self.path}: {exc}") from exc
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _write(fd: int, doc: dict[str, Any]) -> None:
        os.write(fd, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n")
        os.fsync(fd)

    def _catch_up(self, fd: int) -> None:
        """Read the lines appended since the last look (by this or another process)."""
        size = os.fstat(fd).st_size
        if size == self._offset:
            return
        data = os.pread(fd, size, 0)
        header, docs, end = _parse_lines(self.path, data)
        mine = ckpt.public_key_pem(self._signing_key().public_key())
        if header.get("witness_key") != mine:
            raise WitnessError(
                f"{self.path}: this witness file was started with another key than "
                f"{self.key_path}; give the witness its own key"
            )
        self._logs.clear()
        for doc in docs:
            try:
                entry = WitnessEntry.from_dict(doc)
            except (KeyError, TypeError, ValueError) as exc:
                raise WitnessError(f"{self.path}: a damaged entry ({exc!r})") from exc
            if entry.refused is None:
                self._logs[entry.checkpoint.log_id] = _LogState(entry.log_key, entry)
        self._offset = end

    def latest(self, log_id: str) -> ckpt.Checkpoint | None:
        with self._locked() as fd:
            self._catch_up(fd)
        state = self._logs.get(log_id)
        return state.latest.checkpoint if state is not None else None

    def submit(
        self, checkpoint: ckpt.Checkpoint, log_key_pem: str, from_size: int, proof: list[str]
    ) -> WitnessEntry:
        with self._locked() as fd:
            self._catch_up(fd)
            state = self._logs.get(checkpoint.log_id)
            why = _judge(state, checkpoint, log_key_pem, from_size, proof)
            if why is None and state is not None and state.latest.checkpoint == checkpoint:
                return state.latest  # already witnessed
            key = self._signing_key()
            entry = WitnessEntry(
                checkpoint=checkpoint,
                log_key=log_key_pem,
                from_size=from_size,
                consistency=tuple(proof),
                witnessed_at=format_time(datetime.now(UTC)),
                witness_key_id=ckpt.key_id(key.public_key()),
                refused=why,
            ).signed(key)
            self._write(fd, entry.to_dict())
            self._offset = os.fstat(fd).st_size
            if why is not None:
                raise WitnessRefusedError(f"the witness {self.path} refused: {why}")
            self._logs[checkpoint.log_id] = _LogState(log_key_pem, entry)
            return entry


# --- the HTTP witness (a separate process: `lfr audit witness serve`) --------------------------


class HttpWitness:
    """A witness run as its own process over HTTP (`lfr audit witness serve FILE`):
    `GET <url>/latest/<log_id>` and `POST <url>/checkpoints`. Blocking (urllib)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.name = self.url
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = orjson.dumps(body) if body is not None else None
        req = urllib.request.Request(  # noqa: S310 (an operator-configured http(s) URL)
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                return orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = orjson.loads(exc.read()).get("detail", "")
            except (orjson.JSONDecodeError, AttributeError):
                detail = ""
            if exc.code == 404 and method == "GET":
                return None
            if exc.code == 409:
                raise WitnessRefusedError(f"the witness {self.url} refused: {detail}") from exc
            raise WitnessError(f"the witness {self.url} answered {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
            raise WitnessError(f"the witness {self.url} is unreachable ({exc})") from exc

    def latest(self, log_id: str) -> ckpt.Checkpoint | None:
        doc = self._call("GET", f"/latest/{log_id}")
        return None if doc is None else checkpoint_of_document(doc)

    def submit(
        self, checkpoint: ckpt.Checkpoint, log_key_pem: str, from_size: int, proof: list[str]
    ) -> WitnessEntry:
        doc = self._call(
            "POST",
            "/checkpoints",
            {
                "checkpoint": checkpoint.to_dict(),
                "log_key": log_key_pem,
                "from_size": from_size,
                "consistency": proof,
            },
        )
        try:
            return WitnessEntry.from_dict(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise WitnessError(f"the witness {self.url} answered no entry ({exc!r})") from exc


def open_witness(
    target: str, *, key_path: Path | None = None, data_dir: Path | None = None
) -> Witness:
    """The witness a site config names: an http(s) URL, else a file path (refused inside
    `data_dir`: a witness kept with the log is no witness).

    :raises WitnessError: a file witness inside the data directory.
    """
    if target.startswith(("http://", "https://")):
        return HttpWitness(target)
    path = Path(target).expanduser().resolve()
    if data_dir is not None and path.is_relative_to(Path(data_dir).resolve()):
        raise WitnessError(
            f"the witness file {path} is inside the data directory {data_dir}: whoever can "
            "rewrite the log could rewrite it too; keep it where the auditor controls it"
        )
    if key_path is not None and data_dir is not None:
        if Path(key_path).expanduser().resolve().is_relative_to(Path(data_dir).resolve()):
            raise WitnessError(f"the witness key {key_path} is inside the data directory")
    return FileWitness(path, key_path)


def witnesses_of(targets: Sequence[str], **kw: Any) -> list[Witness]:
    return [open_witness(t, **kw) for t in targets]


def serve_witness(witness: FileWitness, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP server (not started: call `serve_forever`) for `HttpWitness` clients; one
    submission at a time (the file's lock serialises them anyway)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, doc: Any) -> None:
            body = orjson.dumps(doc)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            prefix = "/latest/"
            if not self.path.startswith(prefix):
                self._answer(404, {"detail": "GET /latest/<log_id>"})
                return
            try:
                with lock:
                    cp = witness.latest(self.path[len(prefix) :])
            except WitnessError as exc:
                self._answer(503, {"detail": str(exc)})
                return
            if cp is None:
                self._answer(404, {"detail": "this witness never saw that log"})
            else:
                self._answer(200, cp.to_dict())

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/checkpoints":
                self._answer(404, {"detail": "POST /checkpoints"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= _MAX_BODY:
                    raise ValueError(f"a body of 1 to {_MAX_BODY} bytes")
                doc = orjson.loads(self.rfile.read(length))
                cp = ckpt.Checkpoint.from_dict(doc["checkpoint"])
                proof = [str(h) for h in doc["consistency"]]
                args = (cp, str(doc["log_key"]), int(doc["from_size"]), proof)
            except (KeyError, TypeError, ValueError) as exc:
                self._answer(400, {"detail": f"not a checkpoint submission ({exc})"})
                return
            try:
                with lock:
                    entry = witness.submit(*args)
            except WitnessRefusedError as exc:
                self._answer(409, {"detail": str(exc)})
                return
            except WitnessError as exc:
                self._answer(503, {"detail": str(exc)})
                return
            self._answer(200, entry.to_dict())

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            _log.info("witness %s: " + format, self.address_string(), *args)

    return ThreadingHTTPServer((host, port), Handler)
