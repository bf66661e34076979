"""Freshness: how far a profile's destination is behind, against the target the team set.

A profile with `max_staleness_minutes` is *fresh* while its latest succeeded job started
within that many minutes (a run copies the source as it was when the run started), *stale*
once it did not, and *never run* until a job of it has succeeded. A never-run profile also
counts as breached once it has existed longer than the target. Profiles without a target are
*untracked*.

`check_freshness()` (beat, every FRESHNESS_CHECK_INTERVAL seconds) marks each breach once —
`freshness_breached_at`, an audit event and the profile's `profile.stale` notifications —
and clears the mark when the profile is fresh again, so one breach notifies once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import audit
from transfers.models import Job, Notification, SyncProfile

logger = logging.getLogger(__name__)

_UNSET = object()


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


def last_success_at(profile: SyncProfile) -> datetime | None:
    """From the `with_last_success()` annotation when present, else one query."""
    annotated = getattr(profile, "last_success_at", _UNSET)
    if annotated is not _UNSET:
        return annotated
    return (
        Job.objects.filter(profile=profile, state=Job.State.SUCCEEDED)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )


def freshness(profile: SyncProfile, now: datetime | None = None) -> Freshness:
    now = now or timezone.now()
    target = profile.max_staleness_minutes
    last = last_success_at(profile)
    behind = now - last if last is not None else None
    if not target:
        return Freshness(Status.UNTRACKED, None, last, behind, False, None)
    limit = timedelta(minutes=target)
    if last is None:
        since = profile.created_at or now
        return Freshness(Status.NEVER_RUN, limit, None, None, now - since > limit, None)
    if behind > limit:
        return Freshness(Status.STALE, limit, last, behind, True, None)
    return Freshness(Status.FRESH, limit, last, behind, False, last + limit)


def check_freshness(now: datetime | None = None) -> dict[str, list[int]]:
    """Mark new breaches (once each, with notifications) and clear the ones that ended."""
    from transfers import notifications

    now = now or timezone.now()
    watched = (
        SyncProfile.objects.filter(
            Q(max_staleness_minutes__isnull=False) | Q(freshness_breached_at__isnull=False)
        )
        .with_last_success()
        .select_related("team")
    )
    breached, restored = [], []
    for profile in watched:
        state = freshness(profile, now)
        if state.breached and profile.freshness_breached_at is None:
            with transaction.atomic():
                # Conditional, so two overlapping checks cannot both report the same breach.
                marked = SyncProfile.objects.filter(
                    pk=profile.pk, freshness_breached_at__isnull=True
                ).update(freshness_breached_at=now)
                if not marked:
                    continue
                audit.record(
                    "profile.stale",
                    target=profile,
                    team=profile.team,
                    details=_details(state),
                )
                notifications.notify(
                    profile, Notification.Event.STALE, {"freshness": _details(state)}
                )
            breached.append(profile.pk)
        elif not state.breached and profile.freshness_breached_at is not None:
            with transaction.atomic():
                SyncProfile.objects.filter(pk=profile.pk).update(freshness_breached_at=None)
                audit.record(
                    "profile.fresh", target=profile, team=profile.team, details=_details(state)
                )
            restored.append(profile.pk)
    if breached or restored:
        logger.info("freshness: %d breached, %d fresh again", len(breached), len(restored))
    return {"breached": breached, "restored": restored}


def _details(state: Freshness) -> dict:
    return {
        "status": state.status,
        "max_staleness_minutes": (
            int(state.max_staleness.total_seconds() // 60) if state.max_staleness else None
        ),
        "last_success_at": state.last_success_at.isoformat() if state.last_success_at else None,
        "behind_seconds": round(state.behind_seconds) if state.behind is not None else None,
    }
