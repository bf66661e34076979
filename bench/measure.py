"""Measuring: process-tree memory and disk writes, and the statistics of repeated runs."""

from __future__ import annotations

import contextlib
import math
import statistics
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil


def _tree(root: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [root, *root.children(recursive=True)]
    return []


def _memory(process: psutil.Process) -> tuple[int, int]:
    """(RSS, USS) in bytes; USS counts only pages private to the process, so the pages a forked
    pool child shares with its parent are not counted twice."""
    with contextlib.suppress(psutil.Error):
        info = process.memory_full_info()
        return info.rss, info.uss
    return 0, 0


def _written(process: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error, AttributeError):
        return process.io_counters().write_bytes
    return 0


@dataclass
class TreeMonitor:
    """Samples a process tree every `interval` seconds while a measured step runs.

    - `peak_rss` / `peak_uss`: the largest sum over the whole tree (the root and all its
      descendants alive at that moment);
    - `peak_branch_rss` / `peak_branch_uss`: the largest sum over one branch, a direct child
      of the root with its descendants (for a Celery worker: the pool process that ran the
      job and the s5cmd it started), when `branches` is set;
    - `write_bytes`: bytes the tree's processes caused to be written to storage (Linux
      /proc/<pid>/io): the largest sum over the processes alive at one sample, since the
      beginning. A child's count moves into its parent's when the parent reaps it, so summing
      every process ever seen would count it twice; a write in the last `interval` before the
      whole tree exits can be missed.
    """

    root_pid: int
    interval: float = 0.05
    branches: bool = False
    peak_rss: int = 0
    peak_uss: int = 0
    peak_branch_rss: int = 0
    peak_branch_uss: int = 0
    idle_branch_uss: int = 0
    write_bytes: int = 0
    branch_write_bytes: int = 0  # as write_bytes, for the root's descendants only
    samples: int = 0
    _written_start: dict[int, int] = field(default_factory=dict)
    _written_last: dict[int, int] = field(default_factory=dict)
    _names: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TreeMonitor:
        root = psutil.Process(self.root_pid)
        for process in _tree(root):
            self._written_start[process.pid] = _written(process)
        if self.branches:
            with contextlib.suppress(psutil.Error):
                uss = [_branch_uss(child) for child in root.children()]
                self.idle_branch_uss = max(uss, default=0)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()  # the last state, too

    def writes_by_process(self) -> dict[str, int]:
        """Bytes written, per process ('pid command') at its last reading, for those that
        wrote any (a parent's figure includes the children it reaped)."""
        return {
            f"{pid} {self._names.get(pid, '?')}": n
            for pid, last in self._written_last.items()
            if (n := max(0, last - self._written_start.get(pid, 0)))
        }

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
        except psutil.Error:
            return
        processes = _tree(root)
        rss = uss = written_now = branch_written_now = 0
        for process in processes:
            one_rss, one_uss = _memory(process)
            rss, uss = rss + one_rss, uss + one_uss
            written = _written(process)
            if written:
                self._written_last[process.pid] = written
                if process.pid not in self._names:
                    with contextlib.suppress(psutil.Error):
                        self._names[process.pid] = _command(process)
            delta = max(0, written - self._written_start.setdefault(process.pid, 0))
            written_now += delta
            if process.pid != self.root_pid:
                branch_written_now += delta
        self.write_bytes = max(self.write_bytes, written_now)
        self.branch_write_bytes = max(self.branch_write_bytes, branch_written_now)
        self.peak_rss, self.peak_uss = max(self.peak_rss, rss), max(self.peak_uss, uss)
        if self.branches:
            with contextlib.suppress(psutil.Error):
                for child in root.children():
                    branch = _tree(child)
                    values = [_memory(p) for p in branch]
                    self.peak_branch_rss = max(self.peak_branch_rss, sum(v[0] for v in values))
                    self.peak_branch_uss = max(self.peak_branch_uss, sum(v[1] for v in values))
        self.samples += 1


def _command(process: psutil.Process) -> str:
    """The first words of a command line, programs by name only (no install paths)."""
    words = process.cmdline()[:4]
    return " ".join(word.rsplit("/", 1)[-1] if word.startswith("/") else word for word in words)


def _branch_uss(child: psutil.Process) -> int:
    return sum(_memory(p)[1] for p in _tree(child))


@dataclass(frozen=True)
class Summary:
    """The median of repeated measurements with their minimum and maximum."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        values = sorted(values)
        if not values:
            raise ValueError("no measurements")
        return cls(statistics.median(values), values[0], values[-1], len(values))

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]
