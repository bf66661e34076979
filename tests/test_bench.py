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
