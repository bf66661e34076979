"""Jobs of any size, against the synthetic S3 server (bench/synthetic_s3.py): the engine's sync
of 10^5 to 10^7 objects beside raw `s5cmd sync` on the same buckets, listing throughput beside
raw `s5cmd ls`, and the fixed cost of a one-object job.

The engine runs as the portal's worker runs it, `run_transfer()` in a process of its own
(here a fresh Python with the engine imported, no Django: the job's own memory is what is
measured, not the worker's framework), and its RSS is sampled with psutil over the whole
process tree (the Python process and the s5cmd it starts). Every contender is checked: the
engine's result must count every object and the changed ones copied; s5cmd's output must
name the changed objects.

    .venv/bin/python -m bench.scale 100000 1000000     # outside the harness, printing a table
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.measure import Summary, TreeMonitor
from bench.servers import Processes, s3_env, s5cmd_binary, wait_until

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

# The engine's side of a measurement, in a process of its own: prints one JSON line.
ENGINE = r"""
import json, resource, sys, threading, time
started = time.perf_counter()
from transfers.engine import EndpointConfig, Options, Runtime, S3Location, TransferSpec
from transfers.engine import run_transfer
from transfers.engine.listing import iter_s3
import psutil
imported = time.perf_counter() - started
url, what, source, destination, mode, verify, warm = sys.argv[1:8]
endpoint = EndpointConfig(url, "bench-access", "bench-secret-key")
idle = psutil.Process().memory_info().rss
out = {"import_s": round(imported, 3), "idle_rss": idle}
began = time.perf_counter()
if what == "list":
    client = endpoint.client()
    location = S3Location(endpoint, source, "data/")
    out["objects"] = sum(1 for _ in iter_s3(location, client, base="data/", keep=bool))
else:
    phases = {}
    def on_progress(p):
        phases.setdefault(p.phase, round(time.perf_counter() - began, 3))
    spec = TransferSpec(
        S3Location(endpoint, source, "data/"),
        S3Location(endpoint, destination, "data/"),
        Options(mode=mode, verify_after=verify == "verify"),
        Runtime(allow_private_networks=True, progress_interval=0.05),
    )
    if warm == "warm":  # a job before, as in a worker that has run one: not measured
        run_transfer(spec)
        began = time.perf_counter()
    result = run_transfer(spec, on_progress=on_progress)
    out.update(
        outcome=result.outcome, error=result.error[:300], phases=phases,
        copied=result.objects_done, skipped=result.objects_skipped,
        verified=(result.verification or {}).get("checked"),
    )
out["seconds"] = round(time.perf_counter() - began, 3)
out["peak_rss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""


class Synthetic:
    """The synthetic server in a process of its own, with a source bucket of `n` objects and
    a destination either identical to it ("same") or with 1 % changed ("changed")."""

    def __init__(self, processes: Processes, n: int, *, changed: float = 0.01):
        self.processes, self.n, self.changed = processes, n, changed
        self.process = None
        self.url = ""

    def __enter__(self) -> Synthetic:
        argv = [sys.executable, "-m", "bench.synthetic_s3", "--port", "0"]
        for bucket in (
            f"src={self.n}",
            f"same={self.n}",
            f"changed={self.n}:{self.changed}",
            "one=1",
            "other=1:1",
        ):
            argv += ["--bucket", bucket]
        self.process = self.processes.start(
            "synthetic-s3", argv, cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the synthetic S3 server did not start: {line!r}")
        self.url = line.split()[1]
        wait_until(lambda: True, "synthetic S3")
        return self

    def restart(self) -> None:
        """Forget what earlier runs copied (the changed bucket is changed again)."""
        self.__exit__()
        self.__enter__()

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.processes.stop(self.process)
            self.process = None


def _monitored(argv: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, TreeMonitor]:
    started = time.perf_counter()
    process = subprocess.Popen(argv, start_new_session=True, **kwargs)
    with TreeMonitor(process.pid, interval=0.05) as monitor:
        stdout, stderr = process.communicate()
    monitor.seconds = time.perf_counter() - started
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr), monitor


def engine(
    server: Synthetic,
    what: str,
    *,
    source="src",
    destination="same",
    mode="sync",
    verify=True,
    warm=False,
) -> dict:
    """One engine run in a fresh process: its JSON line, with the tree's peak RSS. `warm`:
    the run measured is the process's second (as in a worker that has run a job before)."""
    argv = [sys.executable, "-c", ENGINE, server.url, what, source, destination, mode]
    argv += ["verify" if verify else "no-verify", "warm" if warm else "cold"]
    done, monitor = _monitored(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"the engine's {what} failed: {done.stderr[-1000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["peak_rss"] = monitor.peak_rss
    out["process_seconds"] = round(monitor.seconds, 3)
    if what == "list" and out["objects"] != server.n:
        raise RuntimeError(f"the engine listed {out['objects']} of {server.n} objects")
    if what == "sync" and out["outcome"] != "succeeded":
        raise RuntimeError(f"the engine's sync ended {out['outcome']}: {out['error']}")
    return out


def s5cmd(server: Synthetic, *args: str, count_lines: bool = False) -> dict:
    """Raw s5cmd against the synthetic server: wall time, peak RSS and its output's lines."""
    argv = [s5cmd_binary(), "--endpoint-url", server.url, *args]
    done, monitor = _monitored(
        argv,
        env=s3_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if done.returncode or b"ERROR" in done.stderr:
        raise RuntimeError(f"s5cmd {' '.join(args)} failed: {done.stderr[-500:]!r}")
    lines = done.stdout.count(b"\n")
    return {"seconds": round(monitor.seconds, 3), "peak_rss": monitor.peak_rss, "lines": lines}


def _expect(what: str, found: int, expected: int) -> None:
    if found != expected:
        raise RuntimeError(f"{what}: {found}, expected {expected}")


def size_run(processes: Processes, n: int, repeats: int, log) -> dict:
    """At `n` objects: sync unchanged and with 1 % changed, engine vs raw s5cmd; listing."""
    changed = sum(1 for i in range(n) if i % 100 == 50)
    runs: dict[str, list[dict]] = {}

    def record(name: str, out: dict) -> None:
        runs.setdefault(name, []).append(out)
        log(f"    {n:,} {name}: {out.get('seconds')} s, {out['peak_rss'] / MB:.0f} MB peak")

    with Synthetic(processes, n) as server:
        for _ in range(repeats):
            # Listing: the same source prefix, one after the other.
            record("engine ls", engine(server, "list"))
            out = s5cmd(server, "ls", "s3://src/data/*")
            _expect("s5cmd ls lines", out["lines"], n)
            record("s5cmd ls", out)
            # Unchanged: nothing to copy.
            record("engine sync, unchanged", engine(server, "sync"))
            record("engine sync, unchanged, no verification", engine(server, "sync", verify=False))
            out = s5cmd(server, "--json", "sync", "s3://src/data/*", "s3://same/data/")
            _expect("s5cmd sync (unchanged) copies", out["lines"], 0)
            record("s5cmd sync, unchanged", out)
            # 1 % changed: a fresh server for each contender, so each has the same work.
            out = engine(server, "sync", destination="changed")
            _expect("engine sync (1 % changed) copies", out["copied"], changed)
            record("engine sync, 1 % changed", out)
            server.restart()
            out = s5cmd(server, "--json", "sync", "s3://src/data/*", "s3://changed/data/")
            _expect("s5cmd sync (1 % changed) copies", out["lines"], changed)
            record("s5cmd sync, 1 % changed", out)
            server.restart()
    return {"objects": n, "changed": changed, "runs": runs, "summary": summarise(runs)}


def peak_run(processes: Processes, n: int, log) -> dict:
    """At `n` objects only the engine's unchanged sync, verification included: its time and
    the peak RSS of its process tree. For sizes where raw s5cmd beside it would take hours
    (10^7: `python -m bench.scale 100000 1000000 10000000 --peak-only`)."""
    with Synthetic(processes, n) as server:
        out = engine(server, "sync")
    _expect("engine sync (unchanged) copies", out["copied"], 0)
    log(f"    {n:,} engine sync, unchanged: {out['seconds']} s, {out['peak_rss'] / MB:.0f} MB peak")
    runs = {"engine sync, unchanged": [out]}
    return {"objects": n, "changed": 0, "runs": runs, "summary": summarise(runs)}


def summarise(runs: dict[str, list[dict]]) -> dict:
    out = {}
    for name, values in runs.items():
        out[name] = {
            "seconds": Summary.of([v["seconds"] for v in values]).as_dict(),
            "peak_rss_mb": Summary.of([v["peak_rss"] / MB for v in values]).as_dict(),
        }
        if "idle_rss" in values[0]:
            above = [(v["peak_rss"] - v["idle_rss"]) / MB for v in values]
            out[name]["above_idle_mb"] = Summary.of(above).as_dict()
        if "phases" in values[0]:
            # Verification: from its phase's first message to the end of the run.
            verifying = [
                v["seconds"] - v["phases"]["verifying"]
                for v in values
                if "verifying" in v["phases"]
            ]
            if verifying:
                out[name]["verification_seconds"] = Summary.of(verifying).as_dict()
    return out


def small_jobs(processes: Processes, repeats: int, log) -> dict:
    """The fixed cost of a job: one object copied, engine (inside its process, and the whole
    process with its imports) vs `s5cmd cp` of that object."""
    runs: dict[str, list[dict]] = {}
    with Synthetic(processes, 1) as server:
        for _ in range(repeats):
            out = engine(server, "sync", source="one", destination="other", mode="copy")
            _expect("one-object job copies", out["copied"], 1)
            runs.setdefault("engine, one object, first job of a process", []).append(out)
            out = engine(server, "sync", source="one", destination="other", mode="copy", warm=True)
            _expect("one-object job copies", out["copied"], 1)
            runs.setdefault("engine, one object", []).append(out)
            out = engine(
                server,
                "sync",
                source="one",
                destination="other",
                mode="copy",
                verify=False,
                warm=True,
            )
            runs.setdefault("engine, one object, no verification", []).append(out)
            out = s5cmd(server, "--json", "cp", "s3://one/data/0000000000", "s3://other/data/")
            _expect("s5cmd cp lines", out["lines"], 1)
            runs.setdefault("s5cmd cp, one object", []).append(out)
    summary = summarise(runs)
    for name in runs:
        if name.startswith("engine"):
            summary[name]["process_seconds"] = Summary.of(
                [v["process_seconds"] for v in runs[name]]
            ).as_dict()
            summary[name]["import_seconds"] = Summary.of(
                [v["import_s"] for v in runs[name]]
            ).as_dict()
    log(f"  one-object job: {summary}")
    return {"runs": runs, "summary": summary}


def run(
    sizes: tuple[int, ...], repeats: int, log, *, small: bool = True, peak_only: bool = False
) -> dict:
    processes = Processes()
    try:
        out = {"sizes": {}, "small": small_jobs(processes, repeats, log) if small else None}
        for n in sizes:
            log(f"  scale: {n:,} objects")
            if peak_only:
                out["sizes"][str(n)] = peak_run(processes, n, log)
            else:
                out["sizes"][str(n)] = size_run(processes, n, repeats if n < 10**6 else 1, log)
        out["targets"] = targets(out, peak_only=peak_only)
        return out
    finally:
        processes.stop_all()


def targets(out: dict, *, peak_only: bool = False) -> dict[str, bool]:
    sizes = out["sizes"]
    result = {}
    peaks = [
        s["summary"]["engine sync, unchanged"]["peak_rss_mb"]["median"] for s in sizes.values()
    ]
    if len(peaks) > 1:
        result["engine peak RSS flat within ±50 MB across sizes"] = max(peaks) - min(peaks) <= 100
    if peak_only:
        return result
    for n, s in sizes.items():
        summary = s["summary"]
        ratio = summary["engine ls"]["seconds"]["median"] / summary["s5cmd ls"]["seconds"]["median"]
        result[f"{int(n):,}: listing ≥ 0.9× raw s5cmd ls"] = ratio <= 1 / 0.9
        for case in ("unchanged", "1 % changed"):
            engine_s = summary[f"engine sync, {case}"]["seconds"]["median"]
            raw_s = summary[f"s5cmd sync, {case}"]["seconds"]["median"]
            result[f"{int(n):,}: sync {case} no slower than raw s5cmd sync"] = engine_s <= raw_s
        if int(n) == 10**6:
            above = summary["engine sync, unchanged"]["above_idle_mb"]["median"]
            raw = summary["s5cmd sync, unchanged"]["peak_rss_mb"]["median"]
            result["10^6: engine memory above idle ≤ raw s5cmd sync's peak"] = above <= raw
    return result


def table(out: dict) -> str:
    lines = [
        "| objects | contender | time (median, min–max) | peak RSS | above idle | verification |",
        "|---|---|---|---|---|---|",
    ]
    for n, s in out["sizes"].items():
        for name, figures in s["summary"].items():
            seconds, rss = figures["seconds"], figures["peak_rss_mb"]
            above = figures.get("above_idle_mb", {}).get("median")
            verify = figures.get("verification_seconds", {}).get("median")
            spread = "" if seconds["n"] == 1 else f" ({seconds['min']:.2f}–{seconds['max']:.2f})"
            lines.append(
                f"| {int(n):,} | {name} | {seconds['median']:.2f} s{spread} | "
                f"{rss['median']:.0f} MB | "
                + (f"{above:.0f} MB" if above is not None else "—")
                + " | "
                + (f"{verify:.2f} s" if verify is not None else "—")
                + " |"
            )
    for name, figures in (out["small"] or {"summary": {}})["summary"].items():
        seconds = figures["seconds"]
        extra = ""
        if "process_seconds" in figures:
            extra = (
                f" (process {figures['process_seconds']['median']:.2f} s, of which imports "
                f"{figures['import_seconds']['median']:.2f} s)"
            )
        lines.append(
            f"| 1 | {name} | {seconds['median']:.3f} s{extra} | "
            f"{figures['peak_rss_mb']['median']:.0f} MB | — | — |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-small", action="store_true", help="skip the one-object job")
    parser.add_argument(
        "--peak-only",
        action="store_true",
        help="only the engine's unchanged sync at each size (its time and peak RSS), no s5cmd",
    )
    args = parser.parse_args(argv)
    sizes = tuple(n for n in args.sizes if n)  # `0` alone: the one-object job only
    out = run(
        sizes,
        args.repeats,
        lambda m: print(m, flush=True),
        small=not args.no_small,
        peak_only=args.peak_only,
    )
    print(table(out))
    print(json.dumps(out["targets"], indent=2))
    path = ROOT / "bench" / "results" / "quick" / "scale.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
