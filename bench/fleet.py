"""The `fleet` scenario: one job of the same data on 1, 2 and 4 worker processes.

A job larger than `TRANSFER_SHARD_OBJECTS` objects is cut into shards that any worker runs
(docs/engine.md, "Shards"). This runs one such job (about 16 shards) on fleets of 1, 2 and 4
Celery worker processes, each with one slot, and reports: the wall time (API call to the job
seen finished), the scaling efficiency T1 / (n * Tn), the CPU used by the S3 server (moto, one
Python process: on a machine of two cores it is the likely bottleneck) and by the workers, the
overhead around each shard from the shards' own timestamps, and how the shards spread over the
workers (`JobShard.worker`).

A portal whose job makes no shard rows (a build without sharding) is reported as
"not sharded", with its wall times, rather than failing.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

from bench.servers import seed, wait_until

# The repository (bench.portal has it too, but imports httpx: the arithmetic below is tested
# without the bench extra installed).
BASE_DIR = Path(__file__).resolve().parent.parent

FLEETS = (1, 2, 4)
# The share of one core above which a process is named the bottleneck.
SATURATED = 0.85


def efficiency(seconds: dict[int, float]) -> dict[int, float]:
    """Scaling efficiency of each fleet size n: T1 / (n * Tn); 1.0 is perfect scaling. Needs
    the time on one worker (T1); sizes without a time are left out."""
    one = seconds.get(1)
    if not one:
        return {}
    return {n: one / (n * t) for n, t in sorted(seconds.items()) if t}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def shard_overhead(shards: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The time around the shards, from their timestamps (`created_at`, `started_at`,
    `finished_at`, datetimes or None, and `worker`):

    - `queued_to_start_s`: median from a shard being cut to its start (waiting for a slot
      under the caps, the broker, the claim);
    - `finish_to_next_start_s`: median, on one worker, from a shard's end to that worker's
      next shard's start (the per-shard cost a worker pays between ranges);
    - `run_s`: median time a shard ran.
    Shards without a start or an end count only where they have what is needed."""
    shards = list(shards)
    waits, runs, gaps = [], [], []
    by_worker: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for shard in shards:
        created, started, finished = shard["created_at"], shard["started_at"], shard["finished_at"]
        if created and started:
            waits.append((started - created).total_seconds())
        if started and finished:
            runs.append((finished - started).total_seconds())
            by_worker[shard.get("worker") or ""].append(shard)
    for runs_of_one in by_worker.values():
        runs_of_one.sort(key=lambda shard: shard["started_at"])
        for before, after in itertools.pairwise(runs_of_one):
            gaps.append(max(0.0, (after["started_at"] - before["finished_at"]).total_seconds()))
    return {
        "shards": len(shards),
        "queued_to_start_s": _median(waits),
        "finish_to_next_start_s": _median(gaps),
        "run_s": _median(runs),
    }


def distribution(workers: Iterable[str]) -> dict[str, int]:
    """Shards per worker (`host:pid:id` of the last attempt), most first; "" is "none yet"."""
    counts = Counter(worker or "(none)" for worker in workers)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def bottleneck(cpu_share: dict[str, float], *, cores: int, load: float | None = None) -> str:
    """Names what limited the run from each part's CPU time over the wall time (in cores):
    a single-process part (moto) near one core, else the machine's cores all busy, else the
    machine's other processes (a load average well above its cores while this used little),
    else neither (waiting: the broker, the database, the per-shard overhead)."""
    moto = cpu_share.get("moto", 0.0)
    total = sum(cpu_share.values())
    if moto >= SATURATED:
        return f"the S3 server (moto, one process): {moto:.0%} of a core"
    if total >= SATURATED * cores:
        return f"the machine's {cores} cores: {total:.2f} cores busy"
    if load is not None and load > 1.5 * cores:
        return f"other processes on the machine (load {load:.1f} on {cores} cores)"
    return f"neither the S3 server nor the CPUs ({total:.2f} of {cores} cores busy): waiting"


def _cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        # With the children it reaped (s5cmd runs, pool processes): a process that ends
        # between two readings still counts, in its parent.
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class Fleet:
    """`n` Celery worker processes with one slot each, with the shard settings in their
    environment; stopped on exit."""

    def __init__(self, portal, n: int, env: dict[str, str]):
        self.portal, self.n, self.env = portal, n, env
        self.workers = []

    def __enter__(self) -> Fleet:
        from syncportal.celery import app

        for index in range(self.n):
            argv = [sys.executable, "-m", "celery", "-A", "syncportal", "worker", "-l", "WARNING"]
            argv += ["--concurrency", "1", "-n", f"fleet{index + 1}of{self.n}@%h"]
            log = open(self.portal.var_dir / "worker.log", "ab")
            self.workers.append(
                self.portal.processes.start(
                    f"fleet-{index + 1}", argv, cwd=BASE_DIR, env=self.env, stdout=log, stderr=log
                )
            )

        def all_answer() -> bool:
            replies = app.control.ping(timeout=1.0)
            names = {name for reply in replies for name in reply}
            return sum(name.startswith("fleet") and f"of{self.n}@" in name for name in names) >= (
                self.n
            )

        wait_until(all_answer, f"{self.n} fleet workers", timeout=120)
        return self

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(_tree(worker.pid)) for worker in self.workers)

    def __exit__(self, *exc) -> None:
        for worker in self.workers:
            self.portal.processes.stop(worker, grace=30)


def _shards_of(job_id: int) -> list[dict[str, Any]]:
    from transfers.models import JobShard

    return list(
        JobShard.objects.filter(job_id=job_id)
        .order_by("seq")
        .values("seq", "state", "worker", "attempts", "created_at", "started_at", "finished_at")
    )


def _restart_web(portal, env: dict[str, str]) -> None:
    """The web process with `env` (shards may be cut where the job is started)."""
    if portal.web is not None:
        portal.processes.stop(portal.web)
    portal.env = env
    portal.start_web(workers=2)


def run(ctx) -> dict[str, Any]:
    from bench.scenarios import check_copy

    portal, server, sizes = ctx.portal, ctx.a, ctx.sizes
    dataset, shard_objects = sizes.fleet, sizes.fleet_shard_objects
    if portal.worker is not None:  # the scenarios' own worker would take shards too
        portal.processes.stop(portal.worker, grace=30)
        portal.worker = None
    settings = {
        "TRANSFER_SHARD_OBJECTS": str(shard_objects),
        "TRANSFER_SHARDS_PER_JOB": "64",
        "TRANSFER_SHARDS_PER_TEAM": "64",
    }
    base_env = dict(portal.env)
    env = {**base_env, **settings}
    _restart_web(portal, env)
    endpoint = portal.endpoint("bench-fleet", server.url)
    expected = seed(server, "src", dataset, ctx.scratch)
    server.create_bucket("dst")
    src, dst = f"s3://src/{dataset.name}/", f"s3://dst/{dataset.name}/"
    profile = portal.profile("fleet", endpoint, src, endpoint, dst, verify_after=False).pk
    cores = psutil.cpu_count() or 1
    moto = psutil.Process(server.process.pid)
    out: dict[str, Any] = {
        "dataset": dataset.describe(),
        "bytes": dataset.total_bytes,
        "shard_objects": shard_objects,
        "cores": cores,
        "fleets": {},
    }
    seconds: dict[int, list[float]] = {}
    try:
        for n in sizes.fleet_workers:
            with Fleet(portal, n, env) as fleet:
                for _ in range(sizes.repeats):
                    server.empty_bucket("dst")
                    moto_before, fleet_before = _cpu_seconds([moto]), fleet.cpu_seconds()
                    started = time.perf_counter()
                    run_ = portal.run(profile)
                    wall = time.perf_counter() - started
                    cpu = {
                        "moto": (_cpu_seconds([moto]) - moto_before) / wall,
                        "workers": (fleet.cpu_seconds() - fleet_before) / wall,
                    }
                    load = os.getloadavg()[0]
                    check_copy(server, "dst", f"{dataset.name}/", expected)
                    seconds.setdefault(n, []).append(run_.seconds)
                    shards = _shards_of(run_.job["id"])
                    entry = {
                        "seconds": run_.seconds,
                        "cpu_cores": cpu,
                        "load_average": load,
                        "bottleneck": bottleneck(cpu, cores=cores, load=load),
                        "sharded": bool(shards),
                    }
                    if shards:
                        entry["overhead"] = shard_overhead(shards)
                        entry["distribution"] = distribution(s["worker"] for s in shards)
                        entry["attempts"] = sum(s["attempts"] for s in shards)
                    else:
                        entry["note"] = "not sharded: the job made no shard rows"
                    out["fleets"].setdefault(str(n), []).append(entry)
                    ctx.log(
                        f"  fleet of {n}: {run_.seconds:.2f} s, moto {cpu['moto']:.0%} of a "
                        f"core, {len(shards) or 'no'} shards over "
                        f"{len(entry.get('distribution', {}))} workers"
                    )
    finally:
        server.empty_bucket("dst")
        _restart_web(portal, base_env)
    medians = {n: statistics.median(values) for n, values in seconds.items()}
    out["seconds"] = {str(n): t for n, t in medians.items()}
    out["efficiency"] = {str(n): e for n, e in efficiency(medians).items()}
    out["sharded"] = any(e["sharded"] for runs in out["fleets"].values() for e in runs)
    if not out["sharded"]:
        out["note"] = "not sharded: no run made shard rows (a portal without sharding)"
    return out


def table(out: dict[str, Any]) -> list[str]:
    """The report's lines for this scenario (bench/report.py)."""
    lines = [
        f"One job of {out['dataset']}, shards of {out['shard_objects']:,} objects, on fleets "
        f"of worker processes (one slot each), {out['cores']} cores:",
        "",
        "| workers | seconds | efficiency | moto CPU | workers CPU | shards | per worker | "
        "queued→start | finish→next start | bottleneck |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, runs in out["fleets"].items():
        last = runs[-1]
        overhead = last.get("overhead", {})

        def s(value):
            return "—" if value is None else f"{value:.2f} s"

        spread = ", ".join(str(c) for c in last.get("distribution", {}).values()) or "—"
        lines.append(
            f"| {n} | {out['seconds'][n]:.2f} | {out['efficiency'].get(n, float('nan')):.2f} | "
            f"{last['cpu_cores']['moto']:.0%} | {last['cpu_cores']['workers']:.2f} cores | "
            f"{overhead.get('shards', 'not sharded')} | {spread} | "
            f"{s(overhead.get('queued_to_start_s'))} | "
            f"{s(overhead.get('finish_to_next_start_s'))} | {last['bottleneck']} |"
        )
    if not out.get("sharded"):
        lines += ["", out.get("note", "not sharded")]
    return lines
