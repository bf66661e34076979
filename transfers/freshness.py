"""Freshness: how far a profile's destination is behind, against the target the team set.

A profile with `max_staleness_minutes` is *fresh* while its latest succeeded job started
within that many minutes (a run copies the source as it was when the run started), *stale*
once it did not, and *never run* until a job of it has succeeded. A never-run profile also
counts as breached once it has existed longer than the target. Profiles without a target are
*untracked*.

This module is the calculation alone, on plain values (no models, no queries):
`SyncProfile.freshness` feeds it, and `transfers.services.freshness.check_freshness()` (beat)
marks and notifies the breaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


class Status:
    FRESH = "fresh"
    STALE = "stale"
    NEVER_RUN = "never_run"
    UNTRACKED = "untracked"

    LABELS = {
        FRESH: "Fresh",
        STALE: "Stale",
        NEVER_RUN: "Never run",
        UNTRACKED: "Not tracked",
    }


@dataclass(frozen=True)
class Freshness:
    status: str
    max_staleness: timedelta | None
    last_success_at: datetime | None  # when the latest succeeded run started
    behind: timedelta | None  # how old that is now
    breached: bool  # the target is missed (stale, or never run for longer than the target)
    due_at: datetime | None  # when a fresh profile turns stale without another success

    @property
    def label(self) -> str:
        return Status.LABELS[self.status]

    @property
    def behind_seconds(self) -> float | None:
        return self.behind.total_seconds() if self.behind is not None else None

    def details(self) -> dict:
        """For audit events and notification payloads."""
        return {
            "status": self.status,
            "max_staleness_minutes": (
                int(self.max_staleness.total_seconds() // 60) if self.max_staleness else None
            ),
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "behind_seconds": round(self.behind_seconds) if self.behind is not None else None,
        }


def evaluate(
    *,
    target_minutes: int | None,
    last_success_at: datetime | None,
    created_at: datetime | None,
    now: datetime,
) -> Freshness:
    """The freshness of a profile with this target, latest success and creation time, at `now`."""
    last = last_success_at
    behind = now - last if last is not None else None
    if not target_minutes:
        return Freshness(Status.UNTRACKED, None, last, behind, False, None)
    limit = timedelta(minutes=target_minutes)
    if last is None:
        since = created_at or now
        return Freshness(Status.NEVER_RUN, limit, None, None, now - since > limit, None)
    if behind > limit:
        return Freshness(Status.STALE, limit, last, behind, True, None)
    return Freshness(Status.FRESH, limit, last, behind, False, last + limit)
