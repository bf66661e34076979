"""A run's manifest: every object it copied, left unchanged, deleted or failed on, with the
size and ETag the plan's listings give (s5cmd's own output carries neither for S3 copies).

Built lazily from the plan the run already holds, so a 100,000-object job does not keep a
second copy of its listing in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from transfers.engine.listing import Listing, ObjectInfo


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    key: str  # relative to the source prefix (or the destination's, for deletes)
    action: str  # copied | skipped | deleted | failed
    size: int | None
    etag: str  # the source's (the destination's for deletes); "" for local files
    operation: str = ""  # for failed: copy | delete | verify
    error: str = ""

    def as_dict(self) -> dict:
        entry = {"key": self.key, "action": self.action, "size": self.size, "etag": self.etag}
        if self.action == "failed":
            entry.update(operation=self.operation, error=self.error)
        return entry


class Manifest:
    """Copied (completed, not merely planned), skipped (unchanged by the compare rule),
    deleted and failed objects; each group in key order. A key copied and then found wrong by
    the verification is listed twice: copied, and failed with operation `verify`."""

    def __init__(
        self,
        *,
        source: Listing,
        destination: Listing | None,
        to_copy: list[str],
        rejected: dict[str, str],
        copied: set[str],
        deleted: set[str],
        failures: dict[tuple[str, str], str],
    ):
        self.source = source
        self.destination = destination or {}
        self.to_copy = to_copy
        self.rejected = rejected
        self.copied = copied
        self.deleted = deleted
        self.failures = failures

    def __iter__(self) -> Iterator[ManifestEntry]:
        for key in sorted(self.copied):
            yield self._entry(key, "copied", self.source.get(key))
        planned = set(self.to_copy)
        for key in sorted(self.source):
            if key not in planned and key not in self.rejected:
                yield self._entry(key, "skipped", self.source[key])
        for key in sorted(self.deleted):
            yield self._entry(key, "deleted", self.destination.get(key))
        for (key, operation), error in sorted(self.failures.items()):
            listing = self.destination if operation == "delete" else self.source
            info = listing.get(key)
            yield ManifestEntry(
                key,
                "failed",
                info.size if info else None,
                info.etag if info else "",
                operation=operation,
                error=error,
            )

    @staticmethod
    def _entry(key: str, action: str, info: ObjectInfo | None) -> ManifestEntry:
        return ManifestEntry(key, action, info.size if info else None, info.etag if info else "")
