"""A set of keys kept on disk: what a retry of a million failed objects looks keys up in.

The keys go to a private temporary SQLite database (deleted when it is closed, or when the
process ends) with a small page cache, so membership costs an indexed lookup and the keys
never all sit in memory, in whatever order the listings ask.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Iterable

BATCH = 5_000
CACHE_KIB = 2048


class KeySet:
    """The keys, and optionally whole key ranges (after, upto] (upto None: to the end): a
    retry of a sharded job whose shards failed as a whole retries their ranges."""

    def __init__(self, keys: Iterable[str] = (), ranges: Iterable[tuple[str, str | None]] = ()):
        self.ranges = tuple(ranges)
        # "": a temporary database on disk, private to this connection.
        self._db = sqlite3.connect("", check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE keys (key TEXT PRIMARY KEY) WITHOUT ROWID")
        self._lock = threading.Lock()  # listings of both sides may ask from their own threads
        self.count = 0
        self.add(keys)

    def add(self, keys: Iterable[str]) -> None:
        keys = iter(keys)
        with self._lock:
            while batch := list(itertools.islice(keys, BATCH)):
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR IGNORE INTO keys VALUES (?)", ((key,) for key in batch)
                )
                self._db.execute("COMMIT")
            (self.count,) = self._db.execute("SELECT count(*) FROM keys").fetchone()

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        for after, upto in self.ranges:
            if key > after and (upto is None or key <= upto):
                return True
        with self._lock:
            found = self._db.execute("SELECT 1 FROM keys WHERE key = ?", (key,)).fetchone()
        return found is not None

    def __len__(self) -> int:
        return self.count

    def close(self) -> None:
        self._db.close()
