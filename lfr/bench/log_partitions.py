"""`lfr bench log --engine nats --partitions N`: the partitioned log's aggregate append rate,
N writer processes each appending to its own partition at once, against one process alone.

Each writer is a process of its own (`python -m lfr.bench.log_partitions`), as a node is: it
generates its share of a synthetic town-centre day, opens its partition through the
production path (`open_configured_store` with `[store] partition`), says it is ready, and on
the parent's word appends its batches, then reports the wall-clock interval it spent. The
aggregate rate is all events over the span from the first start to the last end. Then every
partition and the signed heads statements are verified (`lfr audit verify --partition all`'s
code), and the bench's streams deleted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

__all__ = ["run_partitioned_bench"]

_READY = "ready"


def _worker(argv: list[str]) -> None:
    """One writer: `--url U --base B --partition P --events N --batch B --seed S`."""
    import anyio

    args = dict(zip(argv[::2], argv[1::2], strict=True))

    async def main() -> None:
        from lfr.store import StoreConfigAdapter, open_configured_store
        from lfr.testing.logs import synthetic_log

        batches = list(
            synthetic_log(
                int(args["--events"]),
                batch=int(args["--batch"]),
                seed=int(args["--seed"]),
                zone=args["--partition"],
                deployment_id=f"d-{args['--partition']}",
            )
        )
        config = StoreConfigAdapter.validate_python(
            {
                "engine": "nats",
                "url": args["--url"],
                "stream": args["--base"],
                "partition": args["--partition"],
            }
        )
        store = await open_configured_store(config)
        print(_READY, flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)  # the parent's word: go
        t0 = time.time()
        for stream, events in batches:
            await store.append(stream, events)
        t1 = time.time()
        await store.aclose()
        n = sum(len(e) for _, e in batches)
        print(json.dumps({"events": n, "t0": t0, "t1": t1}), flush=True)

    anyio.run(main)


def _run_round(url: str, base: str, partitions: list[str], per: int, batch: int) -> dict[str, Any]:
    """Start one writer per partition, wait until all are ready, start them together."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lfr.bench.log_partitions",
                *("--url", url, "--base", base, "--partition", name),
                *("--events", str(per), "--batch", str(batch), "--seed", str(i + 1)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, name in enumerate(partitions)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != _READY:
                raise RuntimeError(f"a partition writer did not start (exit {p.wait()})")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        for p in procs:
            assert p.stdout is not None
            reports.append(json.loads(p.stdout.readline()))
            if p.wait(timeout=120) != 0:
                raise RuntimeError(f"a partition writer failed (exit {p.returncode})")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    n = sum(r["events"] for r in reports)
    span = max(r["t1"] for r in reports) - min(r["t0"] for r in reports)
    return {
        "events": n,
        "seconds": round(span, 3),
        "append_eps": round(n / span, 1),
        "per_writer_eps": [round(r["events"] / (r["t1"] - r["t0"]), 1) for r in reports],
    }


async def _drop(url: str, bases: list[str]) -> None:
    from lfr.store.nats import connect

    nc = await connect(url, connect_attempts=1)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            name = info.config.name or ""
            if any(name.startswith(f"{b}-") for b in bases):
                await js.delete_stream(name)
    finally:
        await nc.close()


def run_partitioned_bench(
    url: str, *, partitions: int, events: int, batch: int, keep: bool
) -> dict[str, Any]:
    """One writer alone on one partition, then `partitions` writers at once on as many, each
    appending the same share (`events` / `partitions`); the partitioned log verified."""
    import anyio

    from lfr.store.partitions import verify_partitions

    per = max(batch, events // partitions)
    tag = uuid.uuid4().hex[:10].upper()
    single_base, multi_base = f"LFR_BENCH_P1_{tag}", f"LFR_BENCH_P{partitions}_{tag}"
    names = [f"p{i + 1}" for i in range(partitions)]
    print(f"one writer, one partition: {per} events", file=sys.stderr)
    single = _run_round(url, single_base, ["p1"], per, batch)
    print(f"{partitions} writers, {partitions} partitions: {per} events each", file=sys.stderr)
    multi = _run_round(url, multi_base, names, per, batch)
    print("verifying every partition and the heads statements", file=sys.stderr)
    verified = verify_partitions(url, multi_base)
    if not keep:
        anyio.run(_drop, url, [single_base, multi_base])
    return {
        "engine": f"nats {url}",
        "nproc": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "batch": batch,
        "partitions": partitions,
        "single_partition": single,
        "partitioned": multi,
        "x_single_partition": round(multi["append_eps"] / single["append_eps"], 2),
        "verified": verified.ok,
        "verified_events": verified.events,
        "heads_statements": verified.statements,
        "heads_root": verified.heads_root,
        "problems": verified.problems,
        "log": multi_base if keep else None,
    }


if __name__ == "__main__":
    _worker(sys.argv[1:])
