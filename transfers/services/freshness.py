"""Watching freshness targets (beat, every FRESHNESS_CHECK_INTERVAL seconds).

`check_freshness()` marks each breach once — `freshness_breached_at`, an audit event and the
profile's `profile.stale` notifications — and clears the mark when the profile is fresh again,
so one breach notifies once. The calculation itself is `transfers.freshness`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import audit
from transfers import notifications
from transfers.freshness import Freshness
from transfers.models import Notification, SyncProfile

logger = logging.getLogger(__name__)


def freshness(profile: SyncProfile, now: datetime | None = None) -> Freshness:
    """The profile's freshness at `now` (default: now); one query unless the profile comes
    from `SyncProfile.objects.with_last_success()`."""
    return profile.freshness_at(now or timezone.now())


def check_freshness(now: datetime | None = None) -> dict[str, list[int]]:
    """Mark new breaches (once each, with notifications) and clear the ones that ended."""
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
        state = profile.freshness_at(now)
        if state.breached and profile.freshness_breached_at is None:
            with transaction.atomic():
                # Conditional, so two overlapping checks cannot both report the same breach.
                marked = SyncProfile.objects.filter(
                    pk=profile.pk, freshness_breached_at__isnull=True
                ).update(freshness_breached_at=now)
                if not marked:
                    continue
                audit.record(
                    "profile.stale", target=profile, team=profile.team, details=state.details()
                )
                notifications.notify(
                    profile, Notification.Event.STALE, {"freshness": state.details()}
                )
            breached.append(profile.pk)
        elif not state.breached and profile.freshness_breached_at is not None:
            with transaction.atomic():
                SyncProfile.objects.filter(pk=profile.pk).update(freshness_breached_at=None)
                audit.record(
                    "profile.fresh", target=profile, team=profile.team, details=state.details()
                )
            restored.append(profile.pk)
    if breached or restored:
        logger.info("freshness: %d breached, %d fresh again", len(breached), len(restored))
    return {"breached": breached, "restored": restored}
