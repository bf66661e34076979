"""The benchmark harness's own arithmetic and report (the runs themselves are `make bench`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench import report
from bench.measure import Summary, TreeMonitor, percentile
from tests.support import wait_until

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "results.json"


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (
        50,
        95,
        100,
    )
    assert percentile([7.0], 95) == 7.0


def test_a_summary_is_the_median_with_its_range():
    summary = Summary.of([3.0, 1.0, 2.0, 10.0])
    assert (summary.median, summary.low, summary.high, summary.n) == (2.5, 1.0, 10.0, 4)


def test_the_tree_monitor_sees_children_and_what_they_write(tmp_path):
    target, start, release = tmp_path / "written.bin", tmp_path / "start", tmp_path / "release"
    os.mkfifo(start)
    os.mkfifo(release)
    # The writer (head) is gone at once; its count lives on in the subshell that reaped it,
    # then in the root when the subshell is reaped: counted once, not two or three times.
    # The subshell writes only once the monitor has taken its baseline, and ends only once the
    # monitor has seen the writes: the test says when, not a timer.
    script = (
        f"(read go < {start}; head -c 3000000 /dev/urandom > {target}; read go < {release}) & wait"
    )
    process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    with TreeMonitor(process.pid, interval=0.02) as monitor:
        start.write_text("go\n")
        wait_until(lambda: monitor.write_bytes >= 3_000_000, "the monitor to see the writes")
        seen = monitor.samples
        wait_until(lambda: monitor.samples > seen + 1, "the monitor to sample again")
        release.write_text("go\n")
        process.wait()
    assert monitor.samples > 3
    assert monitor.peak_rss > 0
    assert 3_000_000 <= monitor.write_bytes < 3_200_000
    assert 3_000_000 <= monitor.branch_write_bytes < 3_200_000


def test_the_monitor_reports_nothing_written_by_a_process_that_writes_nothing():
    process = subprocess.Popen(["sleep", "0.3"], start_new_session=True)
    with TreeMonitor(process.pid, interval=0.02) as monitor:
        wait_until(lambda: monitor.samples >= 1, "the monitor to sample the process")
        process.wait()
    assert monitor.write_bytes == 0 and monitor.writes_by_process() == {}


def _targets(results: dict) -> int:
    count = 0
    for name, section in results["scenarios"].items():
        datasets = section.values() if name == "transfer" else [section]
        count += sum(len(data.get("targets", {})) for data in datasets if isinstance(data, dict))
    return count


@pytest.mark.skipif(not RESULTS.exists(), reason="no committed results")
def test_the_committed_results_render_with_every_target_judged():
    results = json.loads(RESULTS.read_text())
    text = report.markdown(results)
    for number in range(1, 7):
        assert f"## {number}. " in text
    assert text.count(report.PASS) + text.count(report.FAIL) == _targets(results) > 0
    assert "s5cmd cat \\| s5cmd pipe" in text  # a pipe in a table cell is escaped


def _s5cmd(server, *args: str) -> subprocess.CompletedProcess:
    from bench.servers import s3_env, s5cmd_binary

    return subprocess.run(
        [s5cmd_binary(), "--endpoint-url", server.url, *args],
        env=s3_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def test_the_synthetic_server_answers_s5cmd_ls_and_sync():
    from bench.synthetic_s3 import Bucket, serving

    source = Bucket("src", 2500, digits=5)
    destination = Bucket("dst", 2500, changed=0.01, digits=5)
    with serving(source, destination) as server:
        lines = _s5cmd(server, "--json", "ls", "s3://src/data/*").stdout.splitlines()
        listed = [json.loads(line) for line in lines]
        assert [item["key"] for item in listed] == [f"s3://src/data/{i:05d}" for i in range(2500)]
        assert [item["size"] for item in listed[:3]] == [1024, 1025, 1026]
        assert listed[0]["etag"] == source.info(0)[1]
        assert _s5cmd(server, "ls", "s3://src/").stdout.split() == ["DIR", "data/"]
        assert len(_s5cmd(server, "ls", "s3://src/data/").stdout.splitlines()) == 2500

        copied = _s5cmd(server, "--json", "sync", "s3://src/data/*", "s3://dst/data/")
        keys = sorted(json.loads(line)["source"] for line in copied.stdout.splitlines())
        changed = [i for i in range(2500) if destination.is_changed(i)]
        assert keys == [f"s3://src/data/{i:05d}" for i in changed] and len(changed) == 25
        # The copies are remembered: the buckets now agree and a second sync has nothing to do.
        assert all(destination.info(i) == source.info(i) for i in changed)
        assert _s5cmd(server, "--json", "sync", "s3://src/data/*", "s3://dst/data/").stdout == ""


# --- The fleet scenario's arithmetic (bench/fleet.py) ------------------------------------------


def test_scaling_efficiency_is_t1_over_n_times_tn():
    from bench.fleet import efficiency

    assert efficiency({1: 40.0, 2: 25.0, 4: 20.0}) == {1: 1.0, 2: 0.8, 4: 0.5}
    assert efficiency({2: 25.0}) == {}  # no time on one worker: nothing to compare with


def test_shard_overhead_is_the_wait_and_the_gap_between_a_workers_shards():
    from datetime import UTC, datetime, timedelta

    from bench.fleet import distribution, shard_overhead

    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def at(seconds):
        return t0 + timedelta(seconds=seconds)

    shards = [
        # worker a: 0-10, then 11-20 (gap 1), then 24-30 (gap 4)
        {"worker": "a:1:x", "created_at": at(0), "started_at": at(0), "finished_at": at(10)},
        {"worker": "a:1:x", "created_at": at(0), "started_at": at(11), "finished_at": at(20)},
        {"worker": "a:1:x", "created_at": at(0), "started_at": at(24), "finished_at": at(30)},
        # worker b: 2-12, then 14-22 (gap 2)
        {"worker": "b:2:y", "created_at": at(0), "started_at": at(2), "finished_at": at(12)},
        {"worker": "b:2:y", "created_at": at(0), "started_at": at(14), "finished_at": at(22)},
        # not started: counted as a shard, in no median
        {"worker": "", "created_at": at(0), "started_at": None, "finished_at": None},
    ]
    overhead = shard_overhead(shards)
    assert overhead == {
        "shards": 6,
        "queued_to_start_s": 11.0,  # median of 0, 11, 24, 2, 14
        "finish_to_next_start_s": 2.0,  # median of 1, 4, 2
        "run_s": 9.0,  # median of 10, 9, 6, 10, 8
    }
    assert distribution(s["worker"] for s in shards) == {"a:1:x": 3, "b:2:y": 2, "(none)": 1}
    assert shard_overhead([]) == {
        "shards": 0,
        "queued_to_start_s": None,
        "finish_to_next_start_s": None,
        "run_s": None,
    }


def test_the_bottleneck_is_named_from_cpu_shares():
    from bench.fleet import bottleneck

    assert bottleneck({"moto": 0.97, "workers": 0.6}, cores=2).startswith("the S3 server")
    assert bottleneck({"moto": 0.5, "workers": 1.4}, cores=2).startswith("the machine's 2 cores")
    assert bottleneck({"moto": 0.3, "workers": 0.4}, cores=2).startswith("neither")
    busy = bottleneck({"moto": 0.3, "workers": 0.4}, cores=2, load=14.0)
    assert busy == "other processes on the machine (load 14.0 on 2 cores)"


def test_the_fleet_report_says_not_sharded_without_shards():
    from bench.fleet import table

    out = {
        "dataset": "800 x 64.0 KiB",
        "shard_objects": 50,
        "cores": 2,
        "seconds": {"1": 4.0, "2": 4.1},
        "efficiency": {"1": 1.0, "2": 0.49},
        "sharded": False,
        "note": "not sharded: no run made shard rows (a portal without sharding)",
        "fleets": {
            n: [
                {
                    "seconds": t,
                    "cpu_cores": {"moto": 0.5, "workers": 0.4},
                    "bottleneck": "neither",
                    "sharded": False,
                }
            ]
            for n, t in (("1", 4.0), ("2", 4.1))
        },
    }
    text = "\n".join(table(out))
    assert "| 2 | 4.10 | 0.49 | 50% | 0.40 cores | not sharded | — |" in text
    assert text.endswith("not sharded: no run made shard rows (a portal without sharding)")
