"""Sorted streams: record files on disk, an order check, an external sort and a merge-join.

A plan merges two listings that are sorted by key (ListObjectsV2 returns keys in UTF-8 binary
order, which is Python's code point order for `str`; local directories are walked in the same
order). Nothing here holds more than a bounded number of records in memory, whatever the
number of objects: what does not fit goes to temporary files that are unlinked at creation,
so nothing is left behind even if the process dies.
"""

from __future__ import annotations

import heapq
import logging
import os
import pickle
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import Any

logger = logging.getLogger(__name__)

# Records in memory while sorting one run; runs beyond it are written out and merged.
RUN_SIZE = 100_000
# Records per pickled chunk of a record file: a merge holds one chunk per run.
CHUNK = 512
# Runs merged at once (files open at once); more are merged in passes of this many.
FAN_IN = 64

_LENGTH = struct.Struct("<Q")
_first = itemgetter(0)


class OutOfOrder(Exception):
    """A listing that should be sorted by key is not (or repeats a key)."""

    def __init__(self, side: str, previous: str, key: str):
        super().__init__(f"the {side} listing returned {key!r} after {previous!r}")
        self.side = side


class RecordFile:
    """Tuples appended to an anonymous temporary file in compressed pickled chunks (only this
    process's own file is ever unpickled), read back in the order written, by any number of
    readers at once (each with its own offset).

    A `live` file can be read while it is written (by other threads): its readers wait for
    more chunks until it is finished or closed, and stop quietly at a close (a plan given up
    half-way)."""

    def __init__(self, *, chunk: int = CHUNK, live: bool = False):
        self._file = tempfile.TemporaryFile(prefix="syncportal-")  # noqa: SIM115 - closed by close()
        self._fd = self._file.fileno()
        self._chunk = chunk
        self._pending: list[tuple] = []
        self._end = 0
        self.count = 0
        self._changed = threading.Condition() if live else None
        self._done = False  # finished or closed: nothing more will come
        self._closed = False

    def append(self, record: tuple) -> None:
        self._pending.append(record)
        self.count += 1
        if len(self._pending) >= self._chunk:
            self._flush()

    def extend(self, records: Iterable[tuple]) -> None:
        for record in records:
            self.append(record)

    def _flush(self) -> None:
        if not self._pending:
            return
        # Keys share long prefixes: a fast compression makes the file several times smaller.
        data = zlib.compress(pickle.dumps(self._pending, protocol=pickle.HIGHEST_PROTOCOL), 1)
        os.pwrite(self._fd, _LENGTH.pack(len(data)) + data, self._end)
        self._pending = []
        if self._changed is None:
            self._end += _LENGTH.size + len(data)
            return
        with self._changed:
            self._end += _LENGTH.size + len(data)
            self._changed.notify_all()

    def finish(self) -> RecordFile:
        self._flush()
        self._ended()
        return self

    def _ended(self) -> None:
        if self._changed is None:
            self._done = True
            return
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def __iter__(self) -> Iterator[tuple]:
        if self._changed is not None:
            yield from self._follow()
            return
        offset, end = 0, self._end
        while offset < end:
            (length,) = _LENGTH.unpack(os.pread(self._fd, _LENGTH.size, offset))
            offset += _LENGTH.size
            yield from pickle.loads(zlib.decompress(os.pread(self._fd, length, offset)))  # noqa: S301
            offset += length

    def _follow(self) -> Iterator[tuple]:
        offset = 0
        while True:
            with self._changed:
                while offset >= self._end and not self._done:
                    self._changed.wait()
                if self._closed or offset >= self._end:
                    return
                (length,) = _LENGTH.unpack(os.pread(self._fd, _LENGTH.size, offset))
                data = os.pread(self._fd, length, offset + _LENGTH.size)
            offset += _LENGTH.size + length
            yield from pickle.loads(zlib.decompress(data))  # noqa: S301

    def close(self) -> None:
        if self._changed is None:
            self._file.close()
            return
        with self._changed:
            self._closed = True
            self._file.close()
        self._ended()


def external_sort(
    records: Iterable[tuple],
    *,
    key: Callable[[tuple], Any] = _first,
    run_size: int = RUN_SIZE,
    fan_in: int = FAN_IN,
) -> Iterator[tuple]:
    """`records` sorted by `key` (stably), holding at most `run_size` of them in memory: sorted
    runs go to temporary files, which are then merged (what s5cmd's own sync does), at most
    `fan_in` at a time."""
    runs: list[RecordFile] = []
    batch: list[tuple] = []
    chunk = max(16, min(CHUNK, run_size // 8))

    def spill() -> None:
        batch.sort(key=key)
        runs.append(RecordFile(chunk=chunk))
        runs[-1].extend(batch)
        runs[-1].finish()
        batch.clear()

    try:
        for record in records:
            batch.append(record)
            if len(batch) >= run_size:
                spill()
        if not runs:
            batch.sort(key=key)
            yield from batch
            return
        spill()
        # heapq.merge breaks ties by run, and runs keep input order: the sort is stable.
        while len(runs) > fan_in:
            merged = []
            for start in range(0, len(runs), fan_in):
                merged.append(RecordFile(chunk=chunk))
                merged[-1].extend(heapq.merge(*runs[start : start + fan_in], key=key))
                merged[-1].finish()
            for run in runs:
                run.close()
            runs[:] = merged
        yield from heapq.merge(*runs, key=key)
    finally:
        for run in runs:
            run.close()


def in_order(items: Iterable[tuple], side: str) -> Iterator[tuple]:
    """Pass (key, ...) items through, raising `OutOfOrder` at the first one that does not
    come strictly after the one before."""
    previous = None
    for item in items:
        key = item[0]
        if previous is not None and key <= previous:
            raise OutOfOrder(side, previous, key)
        previous = key
        yield item


def sorted_unique(items: Iterable[tuple], *, run_size: int = RUN_SIZE) -> Iterator[tuple]:
    """(key, ...) items sorted on disk by key; of repeated keys the last one listed wins, as
    when a listing is read into a dict."""
    held = None
    for item in external_sort(items, run_size=run_size):
        if held is not None and held[0] != item[0]:
            yield held
        held = item
    if held is not None:
        yield held


def listing_stream(
    listing: Callable[[], Iterable[tuple]],
    side: str,
    *,
    sort: bool,
    run_size: int = RUN_SIZE,
    check: bool = True,
) -> Iterator[tuple]:
    """A fresh listing, checked to be in key order (unless the caller checks it: `check`), or
    sorted on disk when it was found not to be (`sort`)."""
    if sort:
        return sorted_unique(listing(), run_size=run_size)
    return in_order(listing(), side) if check else iter(listing())


def with_order_fallback(attempt: Callable[[frozenset[str]], Any]) -> Any:
    """Run `attempt(sides_to_sort)`; when a side turns out to be out of order, run it again
    with that side sorted on disk. A wrong plan from an unsorted listing is never returned."""
    sort: frozenset[str] = frozenset()
    while True:
        try:
            return attempt(sort)
        except OutOfOrder as exc:
            if exc.side in sort:
                raise  # cannot happen: a sorted stream is in order
            logger.warning("%s; sorting it on disk and starting again", exc)
            sort |= {exc.side}


_END = object()


def merge_join(
    left: Iterable[tuple], right: Iterable[tuple], *, sides: tuple[str, str] | None = None
) -> Iterator[tuple]:
    """(key, left item or None, right item or None) for every key of two streams sorted by key
    (items are (key, ...) tuples). With `sides` (their names), each stream's order is checked
    on the way, as `in_order` does, without one more generator per item."""
    left, right = iter(left), iter(right)
    check = sides is not None
    a, b = next(left, _END), next(right, _END)
    while a is not _END and b is not _END:
        key_a, key_b = a[0], b[0]
        if key_a == key_b:
            yield key_a, a, b
            a, b = next(left, _END), next(right, _END)
            if check:
                _check(sides[0], key_a, a)
                _check(sides[1], key_b, b)
        elif key_a < key_b:
            yield key_a, a, None
            a = next(left, _END)
            if check:
                _check(sides[0], key_a, a)
        else:
            yield key_b, None, b
            b = next(right, _END)
            if check:
                _check(sides[1], key_b, b)
    while a is not _END:
        key_a = a[0]
        yield key_a, a, None
        a = next(left, _END)
        if check:
            _check(sides[0], key_a, a)
    while b is not _END:
        key_b = b[0]
        yield key_b, None, b
        b = next(right, _END)
        if check:
            _check(sides[1], key_b, b)


def _check(side: str, previous: str, item) -> None:
    if item is not _END and item[0] <= previous:
        raise OutOfOrder(side, previous, item[0])
