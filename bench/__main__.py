"""`python -m bench`: run the benchmark scenarios side by side and write bench/results/.

    python -m bench                      # the full run (about an hour on two cores)
    python -m bench --quick              # small data, one repetition (a few minutes)
    python -m bench --only transfer relay --repeats 5

It starts everything it needs on loopback (two S3 servers, an embedded Redis, the portal's
web server and worker) and a PostgreSQL database of its own, recreated at each run
(`--database-url`, default postgres://postgres@127.0.0.1:5432/syncportal_bench).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.scenarios import FULL, QUICK, SCENARIOS, Context
from bench.servers import Processes, S3Server, scratch_dir, start_redis

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/syncportal_bench"
# Scenarios that start what they measure themselves (no moto, Redis, database or portal).
STANDALONE = {"scale"}
HERE = Path(__file__).resolve().parent


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def machine() -> dict:
    import psutil

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        except OSError:
            return "not installed"
        lines = (out.stdout or out.stderr).strip().splitlines()
        return lines[0] if lines else "?"

    from bench.servers import s5cmd_binary

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "s5cmd": version([s5cmd_binary(), "version"]),
        "aws": version([str(Path(sys.executable).parent / "aws"), "--version"]),
        "wrk": version(["wrk", "--version"]) if shutil.which("wrk") else "not installed",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, one repetition")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="these scenarios")
    parser.add_argument("--repeats", type=int, help="repetitions per measurement")
    parser.add_argument(
        "--out",
        type=Path,
        help="results folder (default bench/results, or bench/results/quick for --quick, which "
        "is not committed)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE),
        help="PostgreSQL database to recreate and use (never a database you need)",
    )
    parser.add_argument("--scratch", type=Path, help="folder for temporary files (default /tmp)")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    args.out = args.out or (HERE / "results" / "quick" if args.quick else HERE / "results")
    if args.repeats:
        sizes = dataclasses.replace(sizes, repeats=args.repeats)
    chosen = args.only or list(SCENARIOS)

    from bench.portal import Portal, recreate_database

    processes = Processes()
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "kind": "quick" if args.quick else "full",
        "repeats": sizes.repeats,
        "machine": machine(),
        "scenarios": {},
        "scenario_run_at": {},
        "errors": {},
    }
    started = time.monotonic()
    try:
        with scratch_dir(args.scratch) as scratch:
            a = b = portal = None
            if set(chosen) - STANDALONE:
                log("starting S3 servers, Redis and the portal")
                a = S3Server.start(processes, "s3-a", scratch)
                b = S3Server.start(processes, "s3-b", scratch)
                redis_url = start_redis(processes, scratch / "redis")
                recreate_database(args.database_url)
                portal = Portal(
                    processes,
                    database_url=args.database_url,
                    redis_url=redis_url,
                    var_dir=scratch / "var",
                )
                portal.setup()
                portal.start_web(workers=2)
            context = Context(portal=portal, a=a, b=b, scratch=scratch, sizes=sizes, log=log)
            for name in chosen:
                log(f"scenario {name}")
                began = time.monotonic()
                try:
                    results["scenarios"][name] = SCENARIOS[name](context)
                    results["scenario_run_at"][name] = results["started_at"]
                except Exception as exc:  # one failed scenario must not hide the others
                    traceback.print_exc()
                    results["errors"][name] = f"{type(exc).__name__}: {exc}"
                log(f"scenario {name} took {time.monotonic() - began:.0f} s")
            for name in ("web", "worker"):
                path = scratch / "var" / f"{name}.log"
                if path.exists() and path.stat().st_size:
                    errors = [line for line in path.read_text().splitlines() if "ERROR" in line]
                    if errors:
                        log(f"{name} logged {len(errors)} errors; the last: {errors[-1][:300]}")
    finally:
        processes.stop_all()
    results["seconds"] = round(time.monotonic() - started)
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / "results.json"
    if args.only and previous.exists():
        # A partial run replaces its scenarios in the last results and keeps the others
        # (each scenario says when it ran).
        merged = json.loads(previous.read_text())
        if merged.get("kind") == results["kind"]:
            merged["scenarios"].update(results["scenarios"])
            merged.setdefault("scenario_run_at", {}).update(results["scenario_run_at"])
            merged["errors"] = {**merged.get("errors", {}), **results["errors"]}
            for name in results["scenarios"]:
                merged["errors"].pop(name, None)
            merged.setdefault("partial_runs", []).append(
                {"started_at": results["started_at"], "only": chosen, "seconds": results["seconds"]}
            )
            results = merged
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, args.out)
    log(f"results in {args.out}/results.md ({results['seconds']} s)")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
