"""What a run did, object by object, as it happens: the keys it copied and deleted and the
failures, appended to record files on disk in the order they complete (from any thread).

A run of millions of objects keeps no set of its keys: counts, the first failure and the
spools. Read back sorted (on disk, `external_sort`) they are merged with the plan's decisions
into the manifest and, for the verification, the keys that failed. Each failure is also passed
to `on_failure` the moment it is recorded, so the caller can store it while the run goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from transfers.engine.ordering import RUN_SIZE, RecordFile, external_sort


@dataclass(frozen=True)
class Failure:
    key: str
    operation: str  # copy | delete | verify
    error: str


class Journal:
    def __init__(
        self, *, on_failure: Callable[[Failure], None] | None = None, run_size: int = RUN_SIZE
    ):
        self.on_failure = on_failure
        self.run_size = run_size
        self._lock = threading.Lock()
        self._copied = RecordFile()  # (key,)
        self._deleted = RecordFile()  # (key,)
        self._failed = RecordFile()  # (key, operation, error)
        self.failures_by_operation: dict[str, int] = {}  # in the order operations first failed
        self.first_failure: Failure | None = None

    # --- recording, from any thread -----------------------------------------------------------

    def copied(self, key: str) -> None:
        with self._lock:
            self._copied.append((key,))

    def deleted(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._deleted.append((key,))

    def failed(self, key: str, operation: str, error: str) -> None:
        failure = Failure(key, operation, error)
        with self._lock:
            self._failed.append((key, operation, error))
            counts = self.failures_by_operation
            counts[operation] = counts.get(operation, 0) + 1
            if self.first_failure is None:
                self.first_failure = failure
        if self.on_failure is not None:
            self.on_failure(failure)

    # --- reading back ---------------------------------------------------------------------------

    @property
    def failure_count(self) -> int:
        return self._failed.count

    def failures(self) -> Iterator[Failure]:
        """The failures in the order they were recorded."""
        for record in self._snapshot(self._failed):
            yield Failure(*record)

    def copied_keys(self) -> Iterator[str]:
        """The keys copied, sorted, each once."""
        return self._sorted_keys(self._copied)

    def deleted_keys(self) -> Iterator[str]:
        return self._sorted_keys(self._deleted)

    def failed_keys(self) -> Iterator[str]:
        """The keys that failed (any operation), sorted, each once."""
        return self._sorted_keys(self._failed)

    def sorted_failures(self) -> Iterator[Failure]:
        """The failures by key and operation; of a repeated (key, operation) the first error."""
        held = None
        records = external_sort(
            self._snapshot(self._failed), key=lambda r: (r[0], r[1]), run_size=self.run_size
        )
        for record in records:
            if held is None or held[:2] != record[:2]:
                held = record
                yield Failure(*record)

    def _sorted_keys(self, spool: RecordFile) -> Iterator[str]:
        previous = None
        for record in external_sort(self._snapshot(spool), run_size=self.run_size):
            if record[0] != previous:
                previous = record[0]
                yield previous

    def _snapshot(self, spool: RecordFile) -> RecordFile:
        with self._lock:
            return spool.finish()  # what is recorded from here on is not read by this reader

    def close(self) -> None:
        for spool in (self._copied, self._deleted, self._failed):
            spool.close()
