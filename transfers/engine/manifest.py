"""A run's manifest: every object it copied, left unchanged, deleted or failed on, with the
size and ETag the plan's listings give (s5cmd's own output carries neither for S3 copies).

Read lazily from the plan's decisions on disk, so a job of millions of objects does not keep
its listing in memory to write its manifest.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass

from transfers.engine.planning import COPY, DELETE, SKIP, Plan


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
        plan: Plan,
        copied: Container[str],
        deleted: Container[str],
        failures: dict[tuple[str, str], str],
    ):
        self.plan = plan
        self.copied = copied
        self.deleted = deleted
        self.failures = failures

    def __iter__(self) -> Iterator[ManifestEntry]:
        plan = self.plan
        for decision in plan.decisions(COPY):
            if decision.key in self.copied:
                yield ManifestEntry(decision.key, "copied", decision.size, decision.etag)
        for decision in plan.decisions(SKIP):
            yield ManifestEntry(decision.key, "skipped", decision.size, decision.etag)
        for decision in plan.decisions(DELETE):
            if decision.key in self.deleted:
                yield ManifestEntry(decision.key, "deleted", decision.size, decision.etag)
        if not self.failures:
            return
        failed = {key for key, _ in self.failures}
        known = {d.key: d for d in plan.decisions() if d.key in failed}
        for (key, operation), error in sorted(self.failures.items()):
            decision = known.get(key)
            # A failed delete is described by the destination's object, anything else by the
            # source's.
            if decision is not None and (decision.kind == DELETE) != (operation == "delete"):
                decision = None
            yield ManifestEntry(
                key,
                "failed",
                decision.size if decision else None,
                decision.etag if decision else "",
                operation=operation,
                error=error,
            )
