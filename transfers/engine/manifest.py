"""A run's manifest: every object it copied, left unchanged, deleted or failed on, with the
size and ETag the plan's listings give (s5cmd's own output carries neither for S3 copies).

Read lazily from the plan's decisions and the run's journal on disk, so a job of millions of
objects keeps neither its listing nor its completed keys in memory to write its manifest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from transfers.engine.journal import Journal
from transfers.engine.planning import COPY, DELETE, SKIP, Decision, Plan


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
    the verification is listed twice: copied, and failed with operation `verify`.

    Made by merging the plan's decisions with what the run's journal recorded, both read from
    disk in key order: the manifest of millions of objects is never held in memory."""

    def __init__(self, *, plan: Plan, journal: Journal):
        self.plan = plan
        self.journal = journal

    def __iter__(self) -> Iterator[ManifestEntry]:
        plan = self.plan
        yield from _done(plan.decisions(COPY), self.journal.copied_keys(), "copied")
        for decision in plan.decisions(SKIP):
            yield ManifestEntry(decision.key, "skipped", decision.size, decision.etag)
        yield from _done(plan.decisions(DELETE), self.journal.deleted_keys(), "deleted")
        if not self.journal.failure_count:
            return
        decisions = plan.decisions()
        upcoming = next(decisions, None)
        known = None  # the last decision of the failure's key, as a dict of them would keep
        for failure in self.journal.sorted_failures():
            if known is not None and known.key != failure.key:
                known = None
            while upcoming is not None and upcoming.key <= failure.key:
                if upcoming.key == failure.key:
                    known = upcoming
                upcoming = next(decisions, None)
            decision = known
            # A failed delete is described by the destination's object, anything else by the
            # source's.
            if decision is not None and (decision.kind == DELETE) != (
                failure.operation == "delete"
            ):
                decision = None
            yield ManifestEntry(
                failure.key,
                "failed",
                decision.size if decision else None,
                decision.etag if decision else "",
                operation=failure.operation,
                error=failure.error,
            )


def _done(
    decisions: Iterator[Decision], keys: Iterator[str], action: str
) -> Iterator[ManifestEntry]:
    """The decisions whose key is among `keys` (both in key order)."""
    key = next(keys, None)
    for decision in decisions:
        while key is not None and key < decision.key:
            key = next(keys, None)
        if key is None:
            return
        if key == decision.key:
            yield ManifestEntry(decision.key, action, decision.size, decision.etag)
