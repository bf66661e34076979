"""The benchmark harness's own arithmetic and report (the runs themselves are `make bench`)."""

from __future__ import annotations

import json
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
    target = tmp_path / "written.bin"
    # The writer (head) is gone at once; its count lives on in the subshell that reaped it,
    # then in the root when the subshell is reaped: counted once, not two or three times.
    script = f"(head -c 3000000 /dev/urandom > {target}; sleep 0.5) & wait"
    process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    with TreeMonitor(process.pid, interval=0.02) as monitor:
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
