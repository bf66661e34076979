"""Peak RSS and time of planning N synthetic objects: the in-memory planner the portal had
(both listings read into dicts, then diffed; kept in the tests as the oracle) against the
streamed one, given listings in key order (as ListObjectsV2 returns them) or a source out of
order (sorted on disk). No S3: the listings are generated.

    .venv/bin/python bench/planning_memory.py 100000 1000000

Each measurement runs in a process of its own; RSS is the growth of its peak over the
interpreter with everything imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ONE = """
import json, resource, sys, time
from tests.transfers.planning_reference import reference_plan
from transfers.engine.listing import ObjectInfo
from transfers.engine.locations import EndpointConfig, S3Location
from transfers.engine.planning import Route, plan_listings

planner, n = sys.argv[1], int(sys.argv[2])
MD5 = "0123456789abcdef" * 2

def source():
    # A store that lists out of order: the same keys, by a stride that wraps around.
    order = (i * 7919 % n for i in range(n)) if planner == "streamed-unsorted" else range(n)
    for i in order:
        yield f"dataset/part-{i:09d}.parquet", ObjectInfo(1000 + i % 7, MD5, 1_700_000_000.0)

def destination():  # 1 in 10 missing, 1 in 7 of the rest of another size, 1 in 100 extra
    for i in range(n):
        if i % 10:
            size = 1000 + i % 7 - (i % 7 == 3)
            yield f"dataset/part-{i:09d}.parquet", ObjectInfo(size, MD5, 1_800_000_000.0)
        if i % 100 == 5:
            yield f"dataset/part-{i:09d}.zzz", ObjectInfo(1, MD5, 1_600_000_000.0)

options = dict(route=Route.SERVER_SIDE, mode="mirror", compare="size_mtime",
               target=S3Location(EndpointConfig("", "k", "s"), "bucket", "copy/"))
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = peak()
wall, cpu = time.monotonic(), time.process_time()
if planner == "in-memory":
    plan = reference_plan(dict(source()), dict(destination()), **options)
    counts = (len(plan.to_copy), len(plan.to_delete), plan.unchanged,
              sorted(plan.to_copy)[:20], sorted(plan.to_delete)[:20])
    copies = len(plan.to_copy)
else:
    plan = plan_listings(source, destination, **options)
    summary = plan.summary()
    counts = (summary.objects_to_copy, summary.objects_to_delete, summary.objects_unchanged,
              summary.sample_to_copy, summary.sample_to_delete)
    copies = sum(1 for _ in plan.decisions("copy"))  # what the copy step reads back
print(json.dumps({
    "planner": planner, "objects": n,
    "rss_growth_mib": round((peak() - before) / 1024, 1), "rss_peak_mib": round(peak() / 1024),
    "wall_s": round(time.monotonic() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
    "to_copy": counts[0], "to_delete": counts[1], "unchanged": counts[2], "read_back": copies,
}))
"""


def measure(planner: str, n: int) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", ONE, planner, str(n)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


def main(sizes: list[int]) -> None:
    print("| objects | planner | peak RSS (growth while planning) | wall | CPU |")
    print("|---|---|---|---|---|")
    for n in sizes:
        results = [measure(p, n) for p in ("in-memory", "streamed", "streamed-unsorted")]
        for r in results:
            assert (r["to_copy"], r["to_delete"], r["unchanged"]) == (
                results[0]["to_copy"],
                results[0]["to_delete"],
                results[0]["unchanged"],
            )
            print(
                f"| {n:,} | {r['planner']} | {r['rss_peak_mib']} MiB (+{r['rss_growth_mib']} MiB)"
                f" | {r['wall_s']} s | {r['cpu_s']} s |"
            )


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000])
