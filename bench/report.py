"""results.json -> results.md (tables) and PNG plots, in the results folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.servers import human_bytes

PASS, FAIL = "met", "**missed**"


def _s(summary: dict, fmt: str = "{:.2f}") -> str:
    """median (min–max) of repeated runs."""
    median, low, high = (fmt.format(summary[k]) for k in ("median", "min", "max"))
    return median if summary["n"] == 1 else f"{median} ({low}–{high})"


def _mb(summary: dict) -> str:
    return _s({k: (v / 2**20 if k != "n" else v) for k, v in summary.items()}, "{:.0f}") + " MB"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _verdicts(targets: dict) -> str:
    return "; ".join(f"{name}: {PASS if ok else FAIL}" for name, ok in targets.items())


def markdown(results: dict) -> str:
    m = dict(results["machine"])
    m["wrk"] = m["wrk"].split(" [")[0]  # drop the build and copyright notes
    lines = [
        f"# Benchmark results ({results['kind']} run, {results['started_at']})",
        "",
        f"{m['cpus']} CPUs, {m['memory_gb']} GB, Python {m['python']}, {m['s5cmd']}, "
        f"{m['aws']}, load generator {m['wrk']}. Each figure is the median of "
        f"{results['repeats']} runs with (min–max) where repeated. Total {results['seconds']} s.",
        "",
    ]
    scenarios = results["scenarios"]
    for partial in results.get("partial_runs", []):
        lines += [
            f"Re-run on {partial['started_at']} (same harness, same machine): "
            f"{', '.join(partial['only'])}; those sections come from that run.",
            "",
        ]
    if "transfer" in scenarios:
        lines += ["## 1. Transfer time, S3→S3 on one endpoint", ""]
        lines += ["| data | contender | seconds | vs SyncPortal job |", "|---|---|---|---|"]
        for data in scenarios["transfer"].values():
            base = data["seconds"]["SyncPortal job"]["median"]
            for name, summary in data["seconds"].items():
                ratio = summary["median"] / base
                lines.append(f"| {data['dataset']} | {name} | {_s(summary)} | {ratio:.2f}× |")
        lines.append("")
        for name, data in scenarios["transfer"].items():
            if data.get("portal_timeline"):
                steps = ", ".join(
                    f"{label} {at:.2f} s" for label, at in data["portal_timeline"].items()
                )
                lines.append(f"- {name}, where a SyncPortal job's time goes (from the API call): "
                             f"{steps}.")  # fmt: skip
            lines.append(
                f"- {name}: SyncPortal job {data['speedup_vs_traditional']:.1f}× faster than "
                f"the traditional path, {data['overhead_vs_raw_s5cmd'] * 100:+.0f}% vs raw "
                f"s5cmd. Targets: {_verdicts(data['targets'])}."
            )
        lines.append("")
    if "relay" in scenarios:
        data = scenarios["relay"]
        lines += [f"## 2. Cross-endpoint relay ({data['dataset']})", ""]
        lines += [
            "| contender | seconds | MB/s | peak RSS | peak USS | bytes written locally |",
            "|---|---|---|---|---|---|",
        ]
        for name, run in data["runs"].items():
            lines.append(
                f"| {_cell(name)} | {_s(run['seconds'])} | {_s(run['mb_per_s'], '{:.0f}')} | "
                f"{_mb(run['peak_rss'])} | {_mb(run['peak_uss'])} | "
                f"{run['write_bytes']['max']:.0f} |"
            )
        lines += [
            "",
            f"- Throughput {data['throughput_ratio']:.2f}× that of `s5cmd cat | s5cmd pipe`. "
            f"Targets: {_verdicts(data['targets'])}.",
        ]
        portal = next(iter(data["runs"].values()))
        if "tree_write_bytes" in portal:
            writers = sorted({w for run in portal["writers"] for w in run})
            lines.append(
                "- The portal's bytes written count the process that ran the job and its "
                "children; with the Celery parent process the most was "
                f"{portal['tree_write_bytes']['max']:.0f} B"
                + (f" (writers: {'; '.join(writers)})" if writers else "")
                + "."
            )
        lines.append("")
    if "memory" in scenarios:
        data = scenarios["memory"]
        lines += ["## 3. Memory of the worker side, sync of many objects", ""]
        lines += [
            "| data | contender | peak RSS | peak USS | whole worker tree RSS | seconds |",
            "|---|---|---|---|---|---|",
        ]
        for dataset in data["datasets"].values():
            for name, run in dataset["runs"].items():
                tree = _mb(run["tree_peak_rss"]) if "tree_peak_rss" in run else "—"
                lines.append(
                    f"| {dataset['dataset']} | {name} | {_mb(run['peak_rss'])} | "
                    f"{_mb(run['peak_uss'])} | {tree} | {_s(run['seconds'], '{:.1f}')} |"
                )
        lines += [
            "",
            f"- Growth from the smallest to the largest set: "
            f"{data['growth_bytes'] / 2**20:+.0f} MB; worst ratio to the traditional path "
            f"{data['worst_ratio_vs_traditional'] * 100:.0f}%. "
            f"Targets: {_verdicts(data['targets'])}.",
            "",
        ]
    if "api" in scenarios:
        data = scenarios["api"]
        lines += [
            f"## 4. API and pages under load ({data['jobs_stored']:,} jobs stored, PostgreSQL)"
        ]
        lines += ["", *_load_table(data["results"])]
        if "of_ceiling" in data:
            ceiling = next(v for k, v in data["results"].items() if k.startswith("ceiling, 5"))
            lines += [
                "",
                f"- The ceiling (`GET /api/v1/bench/ceiling`: a constant answer through the same "
                f"middleware, ninja and token authentication, no query) answered "
                f"{ceiling['rps']:.0f} req/s at 50 clients in the same run. Job list "
                f"**{data['of_ceiling']['job list']:.2f}** of it, job detail "
                f"**{data['of_ceiling']['job detail']:.2f}**; against 2026-11-25's 137 and 318 "
                f"req/s: **{data['vs_before']['job list']:.1f}×** and "
                f"**{data['vs_before']['job detail']:.1f}×**.",
                "- Database size per 10,000 jobs as stored here (rows and indexes): "
                + ", ".join(
                    f"`{table}` {size / 2**20:.1f} MB"
                    for table, size in data["bytes_per_10k_jobs"].items()
                    if size
                )
                + ".",
            ]
        verdicts = _verdicts(data["targets"])
        lines += [f"- Load from {data['generator']}. Targets: {verdicts}.", ""]
    if "concurrency" in scenarios:
        data = scenarios["concurrency"]
        lines += [f"## 5. Concurrency ({data['jobs']} jobs submitted at once)", ""]
        lines += [
            "| jobs | states | destinations complete | submit s | wall s | jobs/min | "
            "queued p50/p95 s | run p50/p95 s | overhead per job s |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {data['jobs']} ({data['objects_per_job']} each, "
            f"{data['worker_processes']} worker processes) | {data['states']} | "
            f"{data['destinations_complete']} | {data['submit_seconds']:.1f} | "
            f"{data['wall_seconds']:.1f} | {data['jobs_per_minute']:.0f} | "
            f"{data['queued_seconds']['p50']:.1f} / {data['queued_seconds']['p95']:.1f} | "
            f"{data['run_seconds']['p50']:.2f} / {data['run_seconds']['p95']:.2f} | "
            f"{data['overhead_per_job_seconds']:.2f} |",
            "",
            f"- Targets: {_verdicts(data['targets'])}.",
            "",
        ]
    if "progress" in scenarios:
        data = scenarios["progress"]
        oldest, newest = data["oldest_completion_ms"], data["newest_completion_ms"]
        lines += [f"## 6. Live-progress latency ({data['dataset']})", ""]
        lines += [
            "| measured from | p50 ms | p95 ms | max ms | messages |",
            "|---|---|---|---|---|",
            f"| the oldest completion a message is first to report | {oldest['p50']:.0f} | "
            f"{oldest['p95']:.0f} | {oldest['max']:.0f} | {data['stamped_messages']} |",
            f"| the newest completion it reports | {newest['p50']:.0f} | "
            f"{newest['p95']:.0f} | {newest['max']:.0f} | {data['stamped_messages']} |",
            "",
            f"- Targets (on the oldest): {_verdicts(data['targets'])}.",
            "",
        ]
    if "history" in scenarios:
        data = scenarios["history"]
        lines += [f"## 7. A long job history ({data['jobs_stored']:,} jobs stored, 1 client)", ""]
        lines += _load_table(data["results"], label="route")
        samples = data["samples"]
        lines += [
            "",
            f"- {data['jobs_stored']:,} jobs of one team over ten profiles, generated straight "
            f"into PostgreSQL in {data['generated_seconds']:.0f} s (`bench/history.py`). Per "
            f"10,000 jobs: "
            + ", ".join(
                f"`{table}` {size / 2**20:.1f} MB"
                for table, size in data["bytes_per_10k_jobs"].items()
                if size
            )
            + f". A throughput sample costs {samples['bytes_per_sample']:.0f} bytes with its "
            f"index ({samples['rows']:,} written): a ten-minute job's 600 samples are "
            f"{600 * samples['bytes_per_sample'] / 1024:.0f} KB, more than the job row. "
            f"`prune_job_history` (daily in beat) left {samples['left_after_pruning']:,} of them "
            f"(their jobs finished long before JOB_SAMPLE_RETENTION_DAYS) in "
            f"{samples['pruning_seconds']:.1f} s.",
            f"- Routes whose plan scans the job table: "
            f"{', '.join(data['routes_scanning_the_table']) or 'none'}.",
            f"- Load from {data['generator']}. Targets: {_verdicts(data['targets'])}.",
            "",
            "<details><summary>Plans of every query the routes make "
            "(EXPLAIN ANALYZE, BUFFERS)</summary>",
            "",
        ]
        for name, plans in data["plans"].items():
            lines += [f"**{name}**", "", "```"]
            for plan in plans:
                lines += plan.splitlines()
            lines += ["```", ""]
        lines += ["</details>", ""]
    if "scale" in scenarios:
        from bench.scale import table

        data = scenarios["scale"]
        lines += ["## 8. Jobs of any size (the engine vs raw s5cmd, synthetic S3 server)", ""]
        lines += [table(data), "", f"- Targets: {_verdicts(data['targets'])}.", ""]
    if "fleet" in scenarios:
        from bench.fleet import table as fleet_table

        lines += ["## 9. One job across a fleet of workers (shards)", ""]
        lines += [*fleet_table(scenarios["fleet"]), ""]
    for name, error in results.get("errors", {}).items():
        lines += [f"**Scenario {name} failed:** {error}", ""]
    lines += ["Plots: " + ", ".join(f"`{p}`" for p in PLOTS), ""]
    return "\n".join(lines)


def _load_table(results: dict, label: str = "route, clients") -> list[str]:
    lines = [
        f"| {label} | p50 ms | p95 ms | p99 ms | max ms | req/s | web CPU ms a request | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, run in results.items():
        cpu = f"{run['web_cpu_ms']:.2f}" if "web_cpu_ms" in run else "—"
        lines.append(
            f"| {_cell(name)} | {run['p50']:.1f} | {run['p95']:.1f} | {run['p99']:.1f} | "
            f"{run['max']:.0f} | {run['rps']:.0f} | {cpu} | {run['errors'] + run['non2xx']} |"
        )
    return lines


PLOTS = ("transfer.png", "memory.png", "api.png", "progress.png")


def plots(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = results["scenarios"]
    if "transfer" in scenarios:
        data = scenarios["transfer"]
        fig, axes = plt.subplots(1, len(data), figsize=(6 * len(data), 4), squeeze=False)
        for ax, run in zip(axes[0], data.values(), strict=True):
            labels = list(run["seconds"])
            med = [run["seconds"][k]["median"] for k in labels]
            err = [
                [m - run["seconds"][k]["min"] for k, m in zip(labels, med, strict=True)],
                [run["seconds"][k]["max"] - m for k, m in zip(labels, med, strict=True)],
            ]
            ax.barh(labels, med, xerr=err, color="#3b82f6")
            ax.set_xlabel("seconds (median, min–max)")
            ax.set_title(f"{run['dataset']} ({human_bytes(run['bytes'])})")
            ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(out / "transfer.png", dpi=110)
        plt.close(fig)
    if "memory" in scenarios:
        data = scenarios["memory"]["datasets"]
        fig, ax = plt.subplots(figsize=(7, 4))
        names = list(data)
        contenders = list(next(iter(data.values()))["runs"])
        width = 0.8 / len(contenders)
        for i, contender in enumerate(contenders):
            values = [data[n]["runs"][contender]["peak_rss"]["median"] / 2**20 for n in names]
            ax.bar([x + i * width for x in range(len(names))], values, width, label=contender)
        ax.set_xticks([x + width * (len(contenders) - 1) / 2 for x in range(len(names))])
        ax.set_xticklabels([data[n]["dataset"] for n in names])
        ax.set_ylabel("peak RSS, MB")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "memory.png", dpi=110)
        plt.close(fig)
    if "api" in scenarios:
        data = scenarios["api"]["results"]
        fig, ax = plt.subplots(figsize=(10, 4.5))
        labels = list(data)
        for i, key in enumerate(("p50", "p95", "p99")):
            ax.bar([x + i * 0.27 for x in range(len(labels))], [data[k][key] for k in labels],
                   0.27, label=key)  # fmt: skip
        ax.axhline(200, color="red", linestyle="--", linewidth=1, label="target p95 (API)")
        ax.set_xticks([x + 0.27 for x in range(len(labels))])
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "api.png", dpi=110)
        plt.close(fig)
    if "progress" in scenarios:
        samples = scenarios["progress"]["samples_ms"]
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, values in samples.items():
            ordered = sorted(values)
            ax.plot(ordered, [i / len(ordered) for i in range(1, len(ordered) + 1)], label=name)
        ax.axvline(500, color="red", linestyle="--", linewidth=1, label="target p95")
        ax.set_xlabel("completion → WebSocket client, ms")
        ax.set_ylabel("fraction of messages")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "progress.png", dpi=110)
        plt.close(fig)


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown(results))
    plots(results, out)


if __name__ == "__main__":  # re-render: python -m bench.report bench/results
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results")
    write(json.loads((folder / "results.json").read_text()), folder)
