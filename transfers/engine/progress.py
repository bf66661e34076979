"""Progress aggregation: counters from many threads, published a few times a second.

Every snapshot carries a sequence number that grows by one per snapshot, and counters that
never decrease, so a consumer can drop stale or reordered messages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class Phase:
    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    COPYING = "copying"
    DELETING = "deleting"
    VERIFYING = "verifying"
    CLEANING_UP = "cleaning_up"
    DONE = "done"


@dataclass(frozen=True)
class Progress:
    seq: int
    phase: str
    objects_total: int | None
    bytes_total: int | None
    objects_done: int
    bytes_done: int
    objects_failed: int
    objects_skipped: int
    objects_deleted: int
    throughput_bps: int  # over the last few seconds
    eta_seconds: float | None
    elapsed_seconds: float
    final: bool = False
    # Wall-clock times (Unix seconds) of the earliest and the latest object completion this
    # snapshot is the first to count; None when it counts no new completion.
    first_completed_at: float | None = None
    last_completed_at: float | None = None
    objects_per_second: float | None = None  # over the same few seconds as throughput_bps


ProgressCallback = Callable[[Progress], None]


def remaining_seconds(
    *,
    objects_left: int | None,
    bytes_left: int | None,
    objects_per_second: float,
    bytes_per_second: float,
) -> float | None:
    """Time left: the longer of the bytes left at the byte rate and the objects left at the
    object rate. Bytes alone say "0 s" while many small (or empty) objects remain; objects
    alone miss one large object in flight. None when neither side has a rate to go by."""
    estimates = [
        max(0, left) / rate
        for left, rate in ((bytes_left, bytes_per_second), (objects_left, objects_per_second))
        if left is not None and rate > 0
    ]
    if not estimates:
        return None
    if objects_left and objects_per_second <= 0 and not bytes_left:
        return None  # objects remain but none completes lately: unknown, never "0 s"
    return round(max(estimates), 1)


class ProgressTracker:
    """Thread-safe counters; calls `callback` at most every `interval` seconds (phase changes
    and the final snapshot always), and at least once a second while `run_ticker` runs."""

    WINDOW_SECONDS = 5.0

    def __init__(
        self,
        callback: ProgressCallback | None,
        *,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._callback = callback
        self._interval = interval
        self._clock = clock
        self._lock = threading.RLock()
        self._started = clock()
        self._last_emit = float("-inf")
        self._window: deque[tuple[float, int, int]] = deque()
        self._stop = threading.Event()
        self.seq = 0
        self.phase = Phase.PLANNING
        self.objects_total: int | None = None
        self.bytes_total: int | None = None
        self.objects_done = 0
        self.bytes_done = 0
        self.objects_failed = 0
        self.objects_skipped = 0
        self.objects_deleted = 0
        self._first_completed_at: float | None = None
        self._last_completed_at: float | None = None

    def set_phase(self, phase: str) -> None:
        with self._lock:
            if phase != self.phase:
                self.phase = phase
                self._emit()

    def set_totals(self, *, objects: int, bytes: int, skipped: int) -> None:
        with self._lock:
            self.objects_total, self.bytes_total, self.objects_skipped = objects, bytes, skipped
            self._emit()

    def add(self, *, objects: int = 0, bytes: int = 0, failed: int = 0, deleted: int = 0) -> None:
        with self._lock:
            self.objects_done += objects
            self.bytes_done += bytes
            self.objects_failed += failed
            self.objects_deleted += deleted
            if objects:
                self._last_completed_at = time.time()
                if self._first_completed_at is None:
                    self._first_completed_at = self._last_completed_at
            if self._clock() - self._last_emit >= self._interval:
                self._emit()

    def snapshot(self, *, final: bool = False) -> Progress:
        with self._lock:
            now = self._clock()
            throughput, objects_rate = self._rates(now)
            eta = None
            if not final and self.bytes_total is not None:
                eta = remaining_seconds(
                    objects_left=(
                        None
                        if self.objects_total is None
                        else self.objects_total - self.objects_done
                    ),
                    bytes_left=self.bytes_total - self.bytes_done,
                    objects_per_second=objects_rate,
                    bytes_per_second=throughput,
                )
            return Progress(
                seq=self.seq,
                phase=self.phase,
                objects_total=self.objects_total,
                bytes_total=self.bytes_total,
                objects_done=self.objects_done,
                bytes_done=self.bytes_done,
                objects_failed=self.objects_failed,
                objects_skipped=self.objects_skipped,
                objects_deleted=self.objects_deleted,
                throughput_bps=int(throughput),
                eta_seconds=eta,
                elapsed_seconds=round(now - self._started, 3),
                final=final,
                first_completed_at=self._first_completed_at,
                last_completed_at=self._last_completed_at,
                objects_per_second=round(objects_rate, 2),
            )

    def finish(self, phase: str = Phase.DONE) -> Progress:
        self._stop.set()
        with self._lock:
            self.phase = phase
            return self._emit(final=True)

    def run_ticker(self) -> threading.Thread:
        """Keeps throughput and ETA fresh while nothing completes (one large object, a listing)."""

        def tick():
            while not self._stop.wait(1.0):
                with self._lock:
                    if self._clock() - self._last_emit >= 1.0:
                        self._emit()

        thread = threading.Thread(target=tick, name="progress-ticker", daemon=True)
        thread.start()
        return thread

    def _rates(self, now: float) -> tuple[float, float]:
        """Bytes and objects per second over the last few seconds."""
        window = self._window
        window.append((now, self.bytes_done, self.objects_done))
        while len(window) > 2 and now - window[0][0] > self.WINDOW_SECONDS:
            window.popleft()
        (t0, b0, o0), (t1, b1, o1) = window[0], window[-1]
        if t1 <= t0:
            return 0.0, 0.0
        return (b1 - b0) / (t1 - t0), (o1 - o0) / (t1 - t0)

    def _emit(self, *, final: bool = False) -> Progress:
        # Called with the lock held, so snapshots reach the callback in sequence order.
        self.seq += 1
        self._last_emit = self._clock()
        snapshot = self.snapshot(final=final)
        self._first_completed_at = self._last_completed_at = None
        if self._callback is not None:
            self._callback(snapshot)
        return snapshot
