"""The six scenarios. Each returns a JSON-able dict of its measurements and target verdicts;
each checks that every contender really did the work (object counts and sizes at the
destination) before its time counts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import baselines
from bench.measure import Summary, TreeMonitor, percentile
from bench.portal import Portal
from bench.servers import Dataset, S3Server, human_bytes, seed

MB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    repeats: int
    transfer: tuple[Dataset, ...]
    relay: Dataset
    memory: tuple[Dataset, ...]
    api_jobs: int
    api_clients: int
    api_seconds: int
    page_clients: int
    history_jobs: int
    history_days: int
    history_seconds: int
    concurrent_jobs: int
    progress: Dataset
    scale: tuple[int, ...]  # objects per bucket of the synthetic-server scenario
    fleet: Dataset  # one job on fleets of workers (bench/fleet.py)
    fleet_shard_objects: int  # TRANSFER_SHARD_OBJECTS for it: about 16 shards
    fleet_workers: tuple[int, ...]


FULL = Sizes(
    repeats=3,
    transfer=(Dataset("small", 2000, 64 * 1024), Dataset("large", 4, 256 * MB)),
    relay=Dataset("relay", 8, 128 * MB),
    memory=(Dataset("mem-10k", 10_000, 1024), Dataset("mem-100k", 100_000, 1024)),
    api_jobs=10_000,
    api_clients=50,
    api_seconds=30,
    page_clients=20,
    history_jobs=1_000_000,
    history_days=700,
    history_seconds=10,
    concurrent_jobs=200,
    progress=Dataset("progress", 5000, 16 * 1024),
    scale=(100_000, 1_000_000, 10_000_000),
    fleet=Dataset("fleet", 4000, 64 * 1024),
    fleet_shard_objects=250,
    fleet_workers=(1, 2, 4),
)
QUICK = Sizes(
    repeats=1,
    transfer=(Dataset("small", 300, 64 * 1024), Dataset("large", 2, 64 * MB)),
    relay=Dataset("relay", 4, 32 * MB),
    memory=(Dataset("mem-1k", 1000, 1024), Dataset("mem-5k", 5000, 1024)),
    api_jobs=10_000,
    api_clients=50,
    api_seconds=8,
    page_clients=20,
    history_jobs=100_000,
    history_days=70,
    history_seconds=4,
    concurrent_jobs=50,
    progress=Dataset("progress", 1000, 16 * 1024),
    scale=(10_000, 100_000),
    fleet=Dataset("fleet", 800, 64 * 1024),
    fleet_shard_objects=50,
    fleet_workers=(1, 2, 4),
)


@dataclass
class Context:
    portal: Portal
    a: S3Server  # the first provider
    b: S3Server  # the second provider (relay only)
    scratch: Path
    sizes: Sizes
    log: callable
    history_profile: Any = None  # the profile the API scenarios' job history belongs to


def check_copy(server: S3Server, bucket: str, prefix: str, expected: dict[str, int]) -> None:
    """The destination holds exactly the expected keys with the expected sizes."""
    found = server.listing(bucket, prefix)
    if found != expected:
        missing = len(set(expected) - set(found))
        wrong = sum(1 for k, v in expected.items() if k in found and found[k] != v)
        raise RuntimeError(
            f"s3://{bucket}/{prefix}: {len(found)} objects, {missing} missing, {wrong} wrong size"
        )


def same_bytes(a: S3Server, a_bucket: str, a_key: str, b: S3Server, b_bucket: str, b_key: str):
    def digest(server, bucket, key):
        body = server.client().get_object(Bucket=bucket, Key=key)["Body"]
        hasher = hashlib.sha256()
        for chunk in iter(lambda: body.read(MB), b""):
            hasher.update(chunk)
        return hasher.hexdigest()

    if digest(a, a_bucket, a_key) != digest(b, b_bucket, b_key):
        raise RuntimeError(f"s3://{b_bucket}/{b_key} differs from its source")


def _worker_branch(ctx: Context) -> TreeMonitor:
    return TreeMonitor(ctx.portal.worker.pid, branches=True)


def phase_timeline(portal: Portal, profile_id: int) -> dict[str, float]:
    """One job watched through the dashboard socket: seconds from the API call to the first
    message of each phase, to the final message, and to the API answering it finished."""
    marks: dict[str, float] = {}
    with portal.dashboard_socket() as socket, portal.client() as api_client:
        started = time.perf_counter()
        job = portal.start_job(api_client, profile_id)
        marks["API answered (job queued)"] = time.perf_counter() - started
        while True:
            message = json.loads(socket.recv(timeout=600))
            if message.get("job") != job["id"]:
                continue
            at = time.perf_counter() - started
            label = "finished" if message["final"] else message["phase"]
            marks.setdefault(label, at)
            if message["final"]:
                break
        portal.wait_job(api_client, job["id"])
        marks["seen finished by polling the API"] = time.perf_counter() - started
    return marks


# --- 1. Transfer time --------------------------------------------------------------------------


def transfer(ctx: Context) -> dict:
    portal, server = ctx.portal, ctx.a
    portal.start_worker(concurrency=2)
    endpoint = portal.endpoint("bench-a", server.url)
    server.create_bucket("dst")
    results = {}
    for dataset in ctx.sizes.transfer:
        expected = seed(server, "src", dataset, ctx.scratch)
        src, dst = f"s3://src/{dataset.name}/", f"s3://dst/{dataset.name}/"
        profiles = {
            verify: portal.profile(
                f"transfer {dataset.name} verify={verify}",
                endpoint,
                src,
                endpoint,
                dst,
                verify_after=verify,
            ).pk
            for verify in (True, False)
        }
        contenders = {
            "SyncPortal job": lambda p=profiles[True]: portal.run(p).seconds,
            "SyncPortal job, no verification": lambda p=profiles[False]: portal.run(p).seconds,
            "raw s5cmd cp": lambda s=src, d=dst: baselines.raw_s5cmd(server, s, d).seconds,
            "aws s3 sync": lambda s=src, d=dst: baselines.aws_sync(server, s, d).seconds,
            "traditional (download, then upload)": lambda s=src, d=dst: (
                baselines.traditional(
                    server, s, server, d, Path(tempfile.mkdtemp(dir=ctx.scratch))
                ).seconds
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for repeat in range(ctx.sizes.repeats):
            names = list(contenders)
            random.Random(repeat).shuffle(names)  # spread drift over every contender
            for name in names:
                server.empty_bucket("dst")
                seconds = contenders[name]()
                check_copy(server, "dst", f"{dataset.name}/", expected)
                times[name].append(seconds)
                ctx.log(f"  {dataset.name} #{repeat + 1} {name}: {seconds:.2f} s")
        server.empty_bucket("dst")
        timeline = phase_timeline(portal, profiles[True])
        check_copy(server, "dst", f"{dataset.name}/", expected)
        ctx.log(f"  {dataset.name} timeline: {timeline}")
        summaries = {name: Summary.of(values) for name, values in times.items()}
        portal_s = summaries["SyncPortal job"].median
        raw_s = summaries["raw s5cmd cp"].median
        traditional_s = summaries["traditional (download, then upload)"].median
        results[dataset.name] = {
            "dataset": dataset.describe(),
            "bytes": dataset.total_bytes,
            "seconds": {name: s.as_dict() for name, s in summaries.items()},
            "speedup_vs_traditional": traditional_s / portal_s,
            "overhead_vs_raw_s5cmd": portal_s / raw_s - 1,
            "portal_timeline": timeline,
            "targets": {
                "4x faster than traditional": traditional_s / portal_s >= 4,
                "within 10% of raw s5cmd": portal_s / raw_s <= 1.10,
            },
        }
        server.empty_bucket("dst")
    return results


# --- 2. Cross-endpoint relay -------------------------------------------------------------------


def relay(ctx: Context) -> dict:
    portal, a, b = ctx.portal, ctx.a, ctx.b
    portal.start_worker(concurrency=2)
    source = portal.endpoint("bench-relay-a", a.url)
    destination = portal.endpoint("bench-relay-b", b.url)
    dataset = ctx.sizes.relay
    expected = seed(a, "src", dataset, ctx.scratch)
    b.create_bucket("dst")
    src, dst = f"s3://src/{dataset.name}/", f"s3://dst/{dataset.name}/"
    profile = portal.profile("relay", source, src, destination, dst).pk
    keys = sorted(expected)
    runs: dict[str, list[dict]] = {"SyncPortal job (relay)": [], "s5cmd cat | s5cmd pipe": []}
    for repeat in range(ctx.sizes.repeats):
        for name in runs if repeat % 2 == 0 else reversed(list(runs)):
            b.empty_bucket("dst")
            if name.startswith("SyncPortal"):
                with _worker_branch(ctx) as monitor:
                    seconds = portal.run(profile).seconds
                run = {
                    "seconds": seconds,
                    "peak_rss": monitor.peak_branch_rss,
                    "peak_uss": monitor.peak_branch_uss,
                    "tree_peak_rss": monitor.peak_rss,
                    "write_bytes": monitor.branch_write_bytes,
                    "tree_write_bytes": monitor.write_bytes,
                    "writers": monitor.writes_by_process(),
                }
            else:
                measured = baselines.cat_pipe(a, keys, src, b, dst)
                run = {
                    "seconds": measured.seconds,
                    "peak_rss": measured.peak_rss,
                    "peak_uss": measured.peak_uss,
                    "write_bytes": measured.write_bytes,
                }
            check_copy(b, "dst", f"{dataset.name}/", expected)
            same_bytes(a, "src", f"{dataset.name}/{keys[0]}", b, "dst", f"{dataset.name}/{keys[0]}")
            run["mb_per_s"] = dataset.total_bytes / MB / run["seconds"]
            runs[name].append(run)
            ctx.log(
                f"  relay #{repeat + 1} {name}: {run['mb_per_s']:.0f} MB/s, "
                f"peak RSS {human_bytes(run['peak_rss'])}, wrote {run['write_bytes']} B "
                f"({run.get('writers', {})})"
            )
    out = {"dataset": dataset.describe(), "bytes": dataset.total_bytes, "runs": {}}
    for name, values in runs.items():
        out["runs"][name] = {
            field: Summary.of(v[field] for v in values).as_dict()
            for field in ("seconds", "mb_per_s", "peak_rss", "peak_uss", "write_bytes")
        }
        out["runs"][name]["writers"] = [v.get("writers", {}) for v in values]
        if "tree_write_bytes" in values[0]:
            tree = Summary.of(v["tree_write_bytes"] for v in values).as_dict()
            out["runs"][name]["tree_write_bytes"] = tree
    portal_runs = out["runs"]["SyncPortal job (relay)"]
    pipe_runs = out["runs"]["s5cmd cat | s5cmd pipe"]
    out["throughput_ratio"] = portal_runs["mb_per_s"]["median"] / pipe_runs["mb_per_s"]["median"]
    out["targets"] = {"0 bytes written locally": portal_runs["write_bytes"]["max"] == 0}
    b.empty_bucket("dst")
    return out


# --- 3. Memory ---------------------------------------------------------------------------------


def memory(ctx: Context) -> dict:
    portal, server = ctx.portal, ctx.a
    # One pool process: the worker side is the Celery parent, the process running the job and
    # the s5cmd it starts. "branch" is the job's process and s5cmd; "tree" adds the parent.
    portal.start_worker(concurrency=1)
    endpoint = portal.endpoint("bench-mem", server.url)
    server.create_bucket("dst")
    out: dict = {"datasets": {}}
    for dataset in ctx.sizes.memory:
        # The traditional path takes a quarter of an hour for 100,000 objects on the loopback
        # server: the largest set runs once, the others twice at most.
        repeats = 1 if dataset.count >= 50_000 else max(1, min(ctx.sizes.repeats, 2))
        expected = seed(server, "src", dataset, ctx.scratch)
        src, dst = f"s3://src/{dataset.name}/", f"s3://dst/{dataset.name}/"
        profile = portal.profile(f"memory {dataset.name}", endpoint, src, endpoint, dst).pk
        runs: dict[str, list[dict]] = {"SyncPortal sync job": [], "traditional": []}
        for repeat in range(repeats):
            for name in runs if repeat % 2 == 0 else reversed(list(runs)):
                server.empty_bucket("dst")
                if name == "traditional":
                    workdir = Path(tempfile.mkdtemp(dir=ctx.scratch))
                    measured = baselines.traditional(server, src, server, dst, workdir)
                    run = {
                        "seconds": measured.seconds,
                        "peak_rss": measured.peak_rss,
                        "peak_uss": measured.peak_uss,
                    }
                else:
                    with _worker_branch(ctx) as monitor:
                        seconds = portal.run(profile).seconds
                    run = {
                        "seconds": seconds,
                        "peak_rss": monitor.peak_branch_rss,
                        "peak_uss": monitor.peak_branch_uss,
                        "tree_peak_rss": monitor.peak_rss,
                        "tree_peak_uss": monitor.peak_uss,
                        "idle_uss": monitor.idle_branch_uss,
                    }
                check_copy(server, "dst", f"{dataset.name}/", expected)
                runs[name].append(run)
                ctx.log(
                    f"  {dataset.name} #{repeat + 1} {name}: peak RSS "
                    f"{human_bytes(run['peak_rss'])} (USS {human_bytes(run['peak_uss'])}), "
                    f"{run['seconds']:.1f} s"
                )
        out["datasets"][dataset.name] = {
            "dataset": dataset.describe(),
            "runs": {
                name: {field: Summary.of(v[field] for v in values).as_dict() for field in values[0]}
                for name, values in runs.items()
            },
        }
        server.empty_bucket("dst")
    names = [d.name for d in ctx.sizes.memory]
    first, last = (out["datasets"][n]["runs"] for n in (names[0], names[-1]))
    growth = (
        last["SyncPortal sync job"]["peak_rss"]["median"]
        - first["SyncPortal sync job"]["peak_rss"]["median"]
    )
    ratio = max(
        out["datasets"][n]["runs"]["SyncPortal sync job"]["peak_rss"]["median"]
        / out["datasets"][n]["runs"]["traditional"]["peak_rss"]["median"]
        for n in names
    )
    out["growth_bytes"] = growth
    out["worst_ratio_vs_traditional"] = ratio
    out["targets"] = {
        "flat (±50 MB) from smallest to largest": abs(growth) <= 50 * MB,
        "≤ 30% of traditional": ratio <= 0.30,
    }
    return out


# --- 4. API and pages under load, and a long job history -------------------------------------

WRK_SCRIPT = """
local first, last = FIRST, LAST
math.randomseed(SEED)
local template = "PATH"
request = function()
  local path = string.gsub(template, "{id}", tostring(math.random(first, last)))
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "errors": %d, "non2xx": %d, '
    .. '"p50": %f, "p95": %f, "p99": %f, "max": %f}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""

# What the tables in the portal hold, for the database size per 10,000 jobs.
JOB_TABLES = (
    "transfers_job",
    "transfers_jobsample",
    "transfers_jobfailure",
    "transfers_jobmanifest",
    "transfers_jobmanifestchunk",
)


def _history_profile(ctx: Context):
    """The profile (and endpoint) the generated history belongs to, made once per run."""
    if getattr(ctx, "history_profile", None) is None:
        portal = ctx.portal
        endpoint = portal.endpoint("bench-api", ctx.a.url)
        ctx.history_profile = portal.profile(
            "api history", endpoint, "s3://src/x/", endpoint, "s3://dst/x/"
        )
    return ctx.history_profile


def _insert_jobs(ctx: Context, count: int) -> tuple[int, int]:
    """`count` finished jobs of one profile, as years of history would leave them."""
    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from transfers.models import Job
    from transfers.specs import snapshot_options

    portal = ctx.portal
    profile = _history_profile(ctx)
    options = snapshot_options(profile)  # what a real run stores (the job page reads it)
    now = timezone.now()
    rng = random.Random(7)
    states = ["succeeded"] * 8 + ["partial", "failed"]
    jobs = []
    for n in range(count):
        started = now - timezone.timedelta(minutes=10 * (count - n))
        objects = rng.randint(1, 100_000)
        jobs.append(
            Job(
                team=portal.team,
                profile=profile,
                profile_name=profile.name,
                options=options,
                state=rng.choice(states),
                trigger="schedule",
                triggered_by=portal.user,
                plan={
                    "route": "server-side copy",
                    "mode": "copy",
                    "objects_to_copy": objects,
                    "bytes_to_copy": objects * 65536,
                    "objects_to_delete": 0,
                    "objects_unchanged": 0,
                    "objects_rejected": 0,
                    "sample_to_copy": [],
                    "sample_to_delete": [],
                    "sample_rejected": [],
                },
                objects_total=objects,
                bytes_total=objects * 65536,
                objects_done=objects,
                bytes_done=objects * 65536,
                throughput_bps=rng.randint(10**6, 10**9),
                started_at=started,
                finished_at=started + timezone.timedelta(seconds=rng.randint(1, 3600)),
                command="s5cmd --json run",
            )
        )
    created = Job.objects.bulk_create(jobs, batch_size=1000)
    # auto_now_add stamped every row with now: spread them over time like real history.
    Job.objects.filter(profile=profile).update(created_at=F("started_at"))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE transfers_job")
    ids = [job.pk for job in created]
    return min(ids), max(ids)


def _table_bytes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
            [list(JOB_TABLES)],
        )
        return dict(cursor.fetchall())


def _wrk(url: str, header: str, path: str, clients: int, seconds: int, ids, where) -> dict:
    script = where / "wrk-request.lua"
    text = WRK_SCRIPT.replace("FIRST", str(ids[0])).replace("LAST", str(ids[1]))
    script.write_text(text.replace("SEED", str(clients)).replace("PATH", path))
    threads = max(1, min(2, clients))
    result = subprocess.run(
        [
            *("wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s"),
            *("--timeout", "10s", "-H", header, "-s", str(script), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = result.stdout.strip().splitlines()[-1]
    data = json.loads(line)
    data["rps"] = data["requests"] / data["seconds"]
    return data


def _httpx_load(url: str, header: str, path: str, clients: int, seconds: int, ids) -> dict:
    """Fallback load generator when wrk is not installed (heavier: shares the 2 cores)."""
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    name, _, value = header.partition(": ")

    def client_loop(n: int):
        nonlocal errors
        rng = random.Random(n)
        with httpx.Client(base_url=url, headers={name: value}, timeout=60) as client:
            while time.monotonic() < stop:
                target = path.replace("{id}", str(rng.randint(*ids)))
                began = time.perf_counter()
                response = client.get(target)
                took = (time.perf_counter() - began) * 1000
                with lock:
                    latencies.append(took)
                    errors += response.status_code != 200

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client_loop, range(clients)))
    elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "errors": 0,
        "non2xx": errors,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=0.0),  # none answered in a short warm-up on a busy machine
        "rps": len(latencies) / elapsed,
    }


def _web_cpu_seconds(portal: Portal) -> float:
    """User + system CPU the web server's processes (uvicorn and its workers) have used."""
    import psutil

    root = psutil.Process(portal.web.pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _load(ctx: Context, header: str, path: str, clients: int, seconds: int, ids) -> dict:
    """A short warm-up, then the measured run, from wrk if installed (else httpx), with the CPU
    the web processes spent per answered request (what throughput is bound by on a shared
    machine: other load stretches latencies, much less the CPU a request needs)."""
    url = ctx.portal.url
    run = _wrk if shutil.which("wrk") else _httpx_load
    extra = (ctx.scratch,) if run is _wrk else ()
    run(url, header, path, clients, 2, ids, *extra)
    cpu = _web_cpu_seconds(ctx.portal)
    data = run(url, header, path, clients, seconds, ids, *extra)
    data["web_cpu_ms"] = (_web_cpu_seconds(ctx.portal) - cpu) * 1000 / max(1, data["requests"])
    return data


def _log_run(ctx: Context, name: str, data: dict) -> None:
    ctx.log(
        f"  {name}: p50 {data['p50']:.1f} ms, p95 {data['p95']:.1f} ms, "
        f"p99 {data['p99']:.1f} ms, {data['rps']:.0f} req/s, "
        f"{data.get('web_cpu_ms', 0):.2f} ms web CPU a request, "
        f"{data['errors'] + data['non2xx']} errors"
    )


# Before this work (2026-11-25, same harness and machine): the job list and detail at 50 clients.
BASELINE_RPS = {"job list": 137, "job detail": 318}


def api(ctx: Context) -> dict:
    """The job list and detail against the ceiling, and the pages, with 10,000 jobs stored."""
    portal = ctx.portal
    if portal.worker is not None:  # nothing else runs while the API is measured
        portal.processes.stop(portal.worker)
        portal.worker = None
    before = _table_bytes()
    ids = _insert_jobs(ctx, ctx.sizes.api_jobs)
    after = _table_bytes()
    stored = ctx.sizes.api_jobs
    generator = "wrk" if shutil.which("wrk") else "httpx"
    token = f"Authorization: Bearer {portal.token}"
    cookie = f"Cookie: {portal.session_cookie()}"
    routes = {
        "ceiling": (token, "/api/v1/bench/ceiling"),
        "job list": (token, "/api/v1/jobs?limit=50"),
        "job detail": (token, "/api/v1/jobs/{id}"),
    }
    pages = {
        "dashboard page": (cookie, "/"),
        "jobs page": (cookie, "/jobs/"),
        "job page": (cookie, "/jobs/{id}/"),
    }
    out: dict = {
        "jobs_stored": ctx.sizes.api_jobs,
        "generator": generator,
        "results": {},
        "bytes_per_10k_jobs": {
            table: round((after.get(table, 0) - before.get(table, 0)) * 10_000 / stored)
            for table in JOB_TABLES
        },
    }
    with portal.client() as check:  # the routes answer what they should before being loaded
        listed = check.get("/jobs", params={"limit": 50, "count": "exact"}).json()
        assert listed["count"] >= ctx.sizes.api_jobs and len(listed["items"]) == 50
        assert check.get(f"/jobs/{ids[1]}").json()["id"] == ids[1]
        assert check.get("/bench/ceiling").json() == {"ok": True, "items": []}
    with portal_session(portal, cookie) as browser:
        for _, path in pages.values():
            response = browser.get(path.replace("{id}", str(ids[1])))
            assert response.status_code == 200, (path, response.status_code)
    seconds = ctx.sizes.api_seconds
    for clients in (1, ctx.sizes.api_clients):
        for name, (header, path) in routes.items():
            data = _load(ctx, header, path, clients, seconds, ids)
            key = f"{name}, {clients} client{'s' if clients > 1 else ''}"
            out["results"][key] = data
            _log_run(ctx, key, data)
    for name, (header, path) in pages.items():
        key = f"{name}, {ctx.sizes.page_clients} clients"
        out["results"][key] = data = _load(ctx, header, path, ctx.sizes.page_clients, seconds, ids)
        _log_run(ctx, key, data)
    loaded = {
        name: out["results"][f"{name}, {ctx.sizes.api_clients} clients"]
        for name in ("ceiling", "job list", "job detail")
    }
    ceiling = loaded["ceiling"]["rps"]
    out["of_ceiling"] = {name: loaded[name]["rps"] / ceiling for name in ("job list", "job detail")}
    out["vs_before"] = {name: loaded[name]["rps"] / BASELINE_RPS[name] for name in BASELINE_RPS}
    page_runs = [v for k, v in out["results"].items() if " page, " in k]
    out["targets"] = {
        "p95 < 200 ms at 50 clients (list, detail)": all(
            loaded[name]["p95"] < 200 for name in BASELINE_RPS
        ),
        "no errors": all(v["errors"] + v["non2xx"] == 0 for v in out["results"].values()),
        ">= 3x the throughput of 2026-11-25 (list, detail)": all(
            ratio >= 3 for ratio in out["vs_before"].values()
        ),
        "job list >= 0.5 of the ceiling": out["of_ceiling"]["job list"] >= 0.5,
        "pages p95 < 300 ms at 20 clients": all(v["p95"] < 300 for v in page_runs),
    }
    return out


@contextlib.contextmanager
def portal_session(portal: Portal, cookie: str):
    import httpx

    name, _, value = cookie.partition(": ")
    with httpx.Client(base_url=portal.url, headers={name: value}, timeout=60) as client:
        yield client


def _plans(portal: Portal, paths: dict[str, str]) -> dict[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of every query each route makes, captured in this process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {portal.token}")
    plans: dict[str, list[str]] = {}
    for name, path in paths.items():
        client.get(path)  # the token's lookup is then remembered, as in the web processes
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200, path
        plans[name] = []
        for query in queries.captured_queries:
            sql = query["sql"]
            if sql.startswith("EXPLAIN"):  # the count estimate: a plan, no rows read
                plans[name].append(f"-- count estimate: {sql[:60]}...")
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                lines = [row[0] for row in cursor.fetchall()]
            plans[name].append(f"-- {sql}\n" + "\n".join(lines))
    return plans


def history(ctx: Context) -> dict:
    """The job routes at 1 client with a million jobs stored (generated straight into
    PostgreSQL), the plans of their queries, and what history costs in disk."""
    from django.db import connection
    from django.utils import timezone

    from bench.history import generate_jobs
    from syncportal.pagination import _encode_at
    from transfers.models import Job

    portal = ctx.portal
    if portal.worker is not None:
        portal.processes.stop(portal.worker)
        portal.worker = None
    base = _history_profile(ctx)
    profiles = [(base.pk, base.name)]
    for n in range(9):
        extra = portal.profile(
            f"history {n}", base.source_endpoint, f"s3://src/h{n}/", base.destination_endpoint,
            f"s3://dst/h{n}/",
        )  # fmt: skip
        profiles.append((extra.pk, extra.name))
    stored = Job.objects.count()
    oldest = Job.objects.order_by("created_at").values_list("created_at", flat=True).first()
    end = (oldest or timezone.now()) - timezone.timedelta(minutes=1)
    count = ctx.sizes.history_jobs - stored
    before = _table_bytes()
    began = time.monotonic()
    with connection.cursor() as cursor:
        generate_jobs(cursor, team_id=portal.team.pk, profiles=profiles, count=count, end=end,
                      days=ctx.sizes.history_days)  # fmt: skip
    generated_seconds = time.monotonic() - began
    after = _table_bytes()
    ctx.log(f"  generated {count:,} jobs in {generated_seconds:.0f} s")
    last = Job.objects.latest("pk").pk
    first = Job.objects.earliest("pk").pk
    middle = (first + last) // 2
    middle_at = Job.objects.filter(pk=middle).values_list("created_at", flat=True).get()
    day = middle_at.replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = (
        day.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (day + timezone.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    cursor = _encode_at(middle_at, middle)
    routes = {
        "first page": "/api/v1/jobs?limit=50",
        "state=failed": "/api/v1/jobs?limit=50&state=failed",
        f"profile={profiles[3][0]}": f"/api/v1/jobs?limit=50&profile={profiles[3][0]}",
        "one-day date range": f"/api/v1/jobs?limit=50&created_after={since}&created_before={until}",
        "cursor page half-way down": f"/api/v1/jobs?limit=50&cursor={cursor}",
        "job detail (random)": "/api/v1/jobs/{id}",
    }
    token = f"Authorization: Bearer {portal.token}"
    out: dict = {
        "jobs_stored": Job.objects.count(),
        "generated_seconds": generated_seconds,
        "generator": "wrk" if shutil.which("wrk") else "httpx",
        "results": {},
        "bytes_per_10k_jobs": {
            table: round((after.get(table, 0) - before.get(table, 0)) * 10_000 / count)
            for table in JOB_TABLES
        },
        "table_bytes": after,
    }
    with portal.client() as check:
        for path in routes.values():
            response = check.get(path.replace("{id}", str(middle)).removeprefix("/api/v1"))
            assert response.status_code == 200, (path, response.text[:300])
    for name, path in routes.items():
        data = _load(ctx, token, path, 1, ctx.sizes.history_seconds, (first, last))
        out["results"][name] = data
        _log_run(ctx, name, data)
    out["plans"] = _plans(portal, {k: v.replace("{id}", str(middle)) for k, v in routes.items()})
    scans = [name for name, plans in out["plans"].items()
             if any("Seq Scan on transfers_job " in plan for plan in plans)]  # fmt: skip
    out["routes_scanning_the_table"] = scans
    oldest_jobs = list(Job.objects.order_by("created_at").values_list("pk", flat=True)[:100])
    out["samples"] = _sample_bytes(oldest_jobs)
    out["targets"] = {
        "p95 < 50 ms at 1 client": all(v["p95"] < 50 for v in out["results"].values()),
        "no errors": all(v["errors"] + v["non2xx"] == 0 for v in out["results"].values()),
        "no query scans the job table": not scans,
    }
    return out


def _sample_bytes(job_ids: list[int]) -> dict:
    """Bytes per stored JobSample (rows and index), from 1,000 samples for each of `job_ids`
    (the oldest jobs) written straight in, and what the retention command leaves of them."""
    import io

    from django.core.management import call_command
    from django.db import connection

    from transfers.models import JobSample

    before = _table_bytes()["transfers_jobsample"]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO transfers_jobsample (job_id, t, objects_done, bytes_done) "
            "SELECT j.id, j.started_at + make_interval(secs => s), s * 10, s * 655360 "
            "FROM transfers_job j, generate_series(1, 1000) s "
            "WHERE j.id = ANY(%s)",
            [job_ids],
        )
        cursor.execute("VACUUM ANALYZE transfers_jobsample")
    rows = JobSample.objects.count()
    size = _table_bytes()["transfers_jobsample"] - before
    began = time.monotonic()
    call_command("prune_job_history", stdout=io.StringIO())
    return {
        "rows": rows,
        "bytes_per_sample": size / rows,
        "left_after_pruning": JobSample.objects.count(),
        "pruning_seconds": time.monotonic() - began,
    }


# --- 5. Concurrency ----------------------------------------------------------------------------


def concurrency(ctx: Context) -> dict:
    portal, server = ctx.portal, ctx.a
    worker_processes = 4  # as deploy/ runs a worker (compose.yaml, k8s/worker.yaml)
    portal.start_worker(concurrency=worker_processes)
    endpoint = portal.endpoint("bench-concurrency", server.url)
    dataset = Dataset("concurrency", 5, 4096)
    expected = seed(server, "src", dataset, ctx.scratch)
    server.create_bucket("dst")
    count = ctx.sizes.concurrent_jobs
    profiles = [
        portal.profile(
            f"concurrent {n:03d}",
            endpoint,
            f"s3://src/{dataset.name}/",
            endpoint,
            f"s3://dst/concurrent/{n:03d}/",
        ).pk
        for n in range(count)
    ]

    def submit(profile_id: int) -> int:
        with portal.client() as api:
            return portal.start_job(api, profile_id)["id"]

    started = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        job_ids = list(pool.map(submit, profiles))
    submitted = time.perf_counter() - started
    with portal.client() as api:
        jobs = [portal.wait_job(api, job_id, timeout=3600) for job_id in job_ids]
    wall = time.perf_counter() - started
    states: dict[str, int] = {}
    for job in jobs:
        states[job["state"]] = states.get(job["state"], 0) + 1
    complete = 0
    for n in range(count):
        if server.listing("dst", f"concurrent/{n:03d}/") == expected:
            complete += 1

    def seconds(a: str, b: str) -> float:
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()

    queued = [seconds(j["created_at"], j["started_at"]) for j in jobs if j["started_at"]]
    running = [seconds(j["started_at"], j["finished_at"]) for j in jobs if j["finished_at"]]
    end_to_end = [seconds(j["created_at"], j["finished_at"]) for j in jobs if j["finished_at"]]
    out = {
        "jobs": count,
        "worker_processes": worker_processes,
        "objects_per_job": f"{dataset.count} × {human_bytes(dataset.size)}",
        "submit_seconds": submitted,
        "wall_seconds": wall,
        "jobs_per_minute": count / wall * 60,
        "states": states,
        "distinct_jobs": len(set(job_ids)),
        "destinations_complete": complete,
        "queued_seconds": _distribution(queued),
        "run_seconds": _distribution(running),
        "end_to_end_seconds": _distribution(end_to_end),
        # With N pool processes, a job's time in the queue is mostly waiting for its turn:
        # what the portal adds per job is the wall time beyond N jobs' run time in parallel.
        "overhead_per_job_seconds": wall / count * worker_processes
        - statistics.median(running or [0]),
    }
    out["targets"] = {
        "all succeeded": states.get("succeeded", 0) == count,
        "none lost": len(set(job_ids)) == count and complete == count,
    }
    ctx.log(
        f"  {count} jobs: {states}, wall {wall:.1f} s, queued p50 "
        f"{out['queued_seconds']['p50']:.1f} s, run p50 {out['run_seconds']['p50']:.2f} s"
    )
    server.empty_bucket("dst")
    return out


def _distribution(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


# --- 6. Live-progress latency ------------------------------------------------------------------


def progress(ctx: Context) -> dict:
    portal, server = ctx.portal, ctx.a
    portal.start_worker(concurrency=2)
    endpoint = portal.endpoint("bench-progress", server.url)
    dataset = ctx.sizes.progress
    expected = seed(server, "src", dataset, ctx.scratch)
    server.create_bucket("dst")
    profile = portal.profile(
        "progress",
        endpoint,
        f"s3://src/{dataset.name}/",
        endpoint,
        f"s3://dst/{dataset.name}/",
    ).pk
    oldest: list[float] = []  # per message: the earliest completion it is the first to report
    newest: list[float] = []  # per message: the latest one
    messages = 0
    for repeat in range(ctx.sizes.repeats):
        server.empty_bucket("dst")
        with portal.dashboard_socket() as socket:
            with portal.client() as api_client:
                job = portal.start_job(api_client, profile)
            while True:
                message = json.loads(socket.recv(timeout=120))
                received = time.time()
                if message.get("job") != job["id"]:
                    continue
                messages += 1
                if message.get("first_completed_at"):
                    first = datetime.fromisoformat(message["first_completed_at"]).timestamp()
                    last = datetime.fromisoformat(message["last_completed_at"]).timestamp()
                    oldest.append((received - first) * 1000)
                    newest.append((received - last) * 1000)
                if message.get("final"):
                    if message["state"] != "succeeded":
                        raise RuntimeError(f"progress job {message['state']}: {message['error']}")
                    break
        check_copy(server, "dst", f"{dataset.name}/", expected)
        ctx.log(f"  progress #{repeat + 1}: {len(oldest)} stamped messages so far")
    out = {
        "dataset": dataset.describe(),
        "messages": messages,
        "stamped_messages": len(oldest),
        "oldest_completion_ms": _distribution(oldest),
        "newest_completion_ms": _distribution(newest),
        "samples_ms": {"oldest": oldest, "newest": newest},
    }
    out["targets"] = {"p95 < 500 ms": out["oldest_completion_ms"]["p95"] < 500}
    server.empty_bucket("dst")
    return out


# --- 8. Jobs of any size, against the synthetic S3 server ---------------------------------------


def scale(ctx: Context) -> dict:
    """The engine's sync, listing and one-object job beside raw s5cmd (bench/scale.py)."""
    from bench import scale as measured

    return measured.run(ctx.sizes.scale, ctx.sizes.repeats, ctx.log)


# --- 9. One job across a fleet of workers -------------------------------------------------------


def fleet(ctx: Context) -> dict:
    """One sharded job on 1, 2 and 4 worker processes (bench/fleet.py)."""
    from bench import fleet as measured

    return measured.run(ctx)


SCENARIOS = {
    "transfer": transfer,
    "relay": relay,
    "memory": memory,
    "api": api,
    "history": history,
    "concurrency": concurrency,
    "progress": progress,
    "scale": scale,
    "fleet": fleet,
}
