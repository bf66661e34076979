"""What a run did, object by object, is kept on disk as it happens (the run's journal), never
as sets of keys in memory: the manifest made from it has today's lines in today's order, and a
run of hundreds of thousands of objects does not grow the memory of the process running it."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

from transfers.engine import S3Location
from transfers.engine.journal import Journal
from transfers.engine.keyset import KeySet
from transfers.engine.listing import ObjectInfo
from transfers.engine.locations import EndpointConfig
from transfers.engine.manifest import ManifestEntry
from transfers.engine.planning import COPY, DELETE, SKIP, Route, plan_listings

TARGET = S3Location(EndpointConfig("", "key", "secret"), "bucket", "")


def mirror_plan(source, destination):
    return plan_listings(
        lambda: iter(source),
        lambda: iter(destination),
        route=Route.SERVER_SIDE,
        mode="mirror",
        compare="size_only",
        target=TARGET,
    )


def reference_manifest(plan, copied: set, deleted: set, failures: dict) -> list[ManifestEntry]:
    """The manifest as it was made from in-memory sets (the oracle)."""
    entries = [
        ManifestEntry(d.key, "copied", d.size, d.etag)
        for d in plan.decisions(COPY)
        if d.key in copied
    ]
    entries += [ManifestEntry(d.key, "skipped", d.size, d.etag) for d in plan.decisions(SKIP)]
    entries += [
        ManifestEntry(d.key, "deleted", d.size, d.etag)
        for d in plan.decisions(DELETE)
        if d.key in deleted
    ]
    known = {d.key: d for d in plan.decisions()}
    for (key, operation), error in sorted(failures.items()):
        decision = known.get(key)
        if decision is not None and (decision.kind == DELETE) != (operation == "delete"):
            decision = None
        entries.append(
            ManifestEntry(
                key,
                "failed",
                decision.size if decision else None,
                decision.etag if decision else "",
                operation=operation,
                error=error,
            )
        )
    return entries


def test_the_manifest_from_the_journal_is_the_one_the_sets_made():
    rng = random.Random(12)
    keys = sorted(
        {"".join(rng.choice("ab/.é") for _ in range(rng.randint(1, 6))) for _ in range(400)}
    )
    source = [
        (k, ObjectInfo(len(k), f"{n:032x}")) for n, k in enumerate(keys) if rng.random() < 0.8
    ]
    destination = [
        (k, ObjectInfo(len(k) + rng.randint(0, 1), "")) for k in keys if rng.random() < 0.5
    ]
    plan = mirror_plan(source, destination)
    copies, deletes = list(plan.keys(COPY)), list(plan.keys(DELETE))
    copied = set(rng.sample(copies, len(copies) // 2))
    deleted = set(rng.sample(deletes, len(deletes) // 2))
    failures = {(k, "copy"): f"copy of {k} failed" for k in copies if k not in copied}
    failures |= {(k, "delete"): "denied" for k in deletes if k not in deleted}
    failures |= {(k, "verify"): "size differs" for k in rng.sample(sorted(copied), 5)}
    failures[("not/planned", "verify")] = "missing"

    journal = Journal(run_size=16)  # many runs on disk, merged
    events = [("copied", k) for k in copied] + [("deleted", k) for k in deleted]
    events += [("failed", *item) for item in failures.items()]
    rng.shuffle(events)

    def record(share):
        for event in share:
            if event[0] == "copied":
                journal.copied(event[1])
            elif event[0] == "deleted":
                journal.deleted([event[1]])
            else:
                (key, operation), error = event[1], event[2]
                journal.failed(key, operation, error)

    threads = [threading.Thread(target=record, args=(events[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    from transfers.engine.manifest import Manifest

    assert list(Manifest(plan=plan, journal=journal)) == reference_manifest(
        plan, copied, deleted, failures
    )
    assert list(journal.failed_keys()) == sorted({key for key, _ in failures})
    assert journal.failure_count == len(failures)


def test_a_key_failed_twice_the_same_way_is_listed_once_with_its_first_error():
    plan = mirror_plan([("a", ObjectInfo(1, "")), ("b", ObjectInfo(2, ""))], [])
    journal = Journal()
    journal.failed("b", "copy", "first")
    journal.failed("b", "copy", "second")
    journal.copied("a")
    from transfers.engine.manifest import Manifest

    assert [(e.key, e.action, e.error) for e in Manifest(plan=plan, journal=journal)] == [
        ("a", "copied", ""),
        ("b", "failed", "first"),
    ]


# A run recording its copies and failures, then making its result and manifest, in a process
# of its own so that its peak RSS is its own.
MANY_COPIES = """
import json, resource, sys, threading
from transfers.engine import S3Location
from transfers.engine.journal import Journal
from transfers.engine.listing import ObjectInfo
from transfers.engine.locations import EndpointConfig
from transfers.engine.planning import Route, plan_listings
from transfers.engine.progress import ProgressTracker
from transfers.engine.runner import Outcome, _Run
from transfers.engine.spec import TransferSpec

N = int(sys.argv[1])
TARGET = S3Location(EndpointConfig("", "key", "secret"), "bucket", "")

def key(n):
    return f"dataset/2026/part-{n:07d}.parquet"

plan = plan_listings(
    lambda: ((key(n), ObjectInfo(1000 + n % 7, "")) for n in range(N)), None,
    route=Route.SERVER_SIDE, mode="copy", compare="size_only", target=TARGET,
)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run = _Run(
    TransferSpec(source=TARGET, destination=TARGET), ProgressTracker(None), threading.Event(),
    Journal(run_size=20_000),
)
run.plan = plan
for i in range(N):
    n = (i * 7919) % N  # a permutation: completions come in no key order
    if n % 100 == 7:
        run.fail(key(n), "copy", "timeout")
    else:
        run.journal.copied(key(n))
result = run.result(Outcome.PARTIAL)
lines = copied = 0
for entry in result.manifest:
    lines += 1
    copied += entry.action == "copied"
print(json.dumps({
    "lines": lines, "copied": copied, "failed": result.objects_failed, "error": result.error,
    "rss_before_kib": before,
    "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
"""


def test_a_run_of_hundreds_of_thousands_of_objects_keeps_no_set_of_their_keys():
    """The run records every copy (in an order of its own, as threads finish them) and a
    failure in a hundred, then makes its result and manifest; its memory hardly grows (a set
    of the copied keys alone takes about 35 MB here)."""
    root = str(Path(__file__).resolve().parents[2])
    n = 300_000
    result = subprocess.run(
        [sys.executable, "-c", MANY_COPIES, str(n)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    measured = json.loads(result.stdout)
    assert (measured["lines"], measured["copied"], measured["failed"]) == (
        n,
        n - n // 100,
        n // 100,
    )
    assert measured["error"].startswith(f"{n // 100} object(s) failed ({n // 100} to copy); ")
    grown_mib = (measured["rss_peak_kib"] - measured["rss_before_kib"]) / 1024
    assert grown_mib < 12, measured


def test_a_key_set_on_disk_answers_membership_from_any_thread():
    keys = KeySet(f"k{n}" for n in range(0, 20_000, 2))
    keys.add(["k1", "k2"])  # k2 again
    found = []

    def ask(start):
        found.append(sum(f"k{n}" in keys for n in range(start, 20_000, 4)))

    threads = [threading.Thread(target=ask, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(found) == 10_001 and len(keys) == 10_001
    assert 3 not in keys and "k3" not in keys
    keys.close()
