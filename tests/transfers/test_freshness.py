"""Freshness: a profile with a target is fresh, stale or never run; a breach is flagged,
audited and notified once, and cleared when a run succeeds again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import AuditEvent
from tests.transfers.support import finished_run
from transfers import notifications, services
from transfers.freshness import Status
from transfers.models import Delivery, Job, SyncProfile
from transfers.services.freshness import check_freshness, freshness

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def profile(offline_profile):
    offline_profile.max_staleness_minutes = 60
    offline_profile.created_at = NOW - timedelta(days=2)
    offline_profile.save()
    return offline_profile


def succeeded(profile, *, started_ago: timedelta, state=Job.State.SUCCEEDED) -> Job:
    return finished_run(profile, started_at=NOW - started_ago, state=state)


def test_it_is_fresh_within_the_target(profile):
    succeeded(profile, started_ago=timedelta(minutes=20))
    state = freshness(profile, NOW)
    assert (state.status, state.breached) == (Status.FRESH, False)
    assert state.behind == timedelta(minutes=20)
    assert state.due_at == NOW + timedelta(minutes=40)


def test_it_is_stale_when_the_last_success_started_too_long_ago(profile):
    succeeded(profile, started_ago=timedelta(minutes=90))
    succeeded(profile, started_ago=timedelta(minutes=5), state=Job.State.FAILED)
    succeeded(profile, started_ago=timedelta(minutes=3), state=Job.State.PARTIAL)

    state = freshness(profile, NOW)

    assert (state.status, state.breached, state.label) == (Status.STALE, True, "Stale")
    assert state.behind == timedelta(minutes=90)


def test_a_profile_that_never_succeeded_breaches_once_older_than_the_target(profile):
    state = freshness(profile, NOW)
    assert (state.status, state.breached, state.last_success_at) == (Status.NEVER_RUN, True, None)

    profile.created_at = NOW - timedelta(minutes=10)
    assert freshness(profile, NOW).breached is False


def test_without_a_target_it_is_not_tracked(profile):
    profile.max_staleness_minutes = None
    succeeded(profile, started_ago=timedelta(days=30))
    state = freshness(profile, NOW)
    assert (state.status, state.breached) == (Status.UNTRACKED, False)


def test_the_annotation_spares_a_query_per_profile(profile, django_assert_num_queries):
    succeeded(profile, started_ago=timedelta(minutes=90))
    [annotated] = SyncProfile.objects.with_last_success()
    with django_assert_num_queries(0):
        assert annotated.freshness.status == Status.STALE


@pytest.fixture
def watcher(profile, operator):
    return services.add_notification(
        profile,
        actor=operator,
        channel="email",
        target="oncall@example.com",
        events=["profile.stale"],
    )


def test_a_breach_is_flagged_and_notified_once(
    profile, watcher, django_capture_on_commit_callbacks
):
    succeeded(profile, started_ago=timedelta(minutes=90))

    with django_capture_on_commit_callbacks() as callbacks:
        assert check_freshness(NOW) == {"breached": [profile.pk], "restored": []}
    assert check_freshness(NOW + timedelta(minutes=1)) == {"breached": [], "restored": []}

    profile.refresh_from_db()
    assert profile.freshness_breached_at == NOW
    assert len(callbacks) == 1  # the delivery is queued after commit
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.notification, delivery.state) == (
        "profile.stale",
        watcher,
        "pending",
    )
    assert delivery.payload["freshness"]["behind_seconds"] == 90 * 60
    event = AuditEvent.objects.get(action="profile.stale")
    assert event.details["max_staleness_minutes"] == 60

    assert notifications.deliver(delivery.pk, 1) is None
    [message] = mail.outbox
    assert message.to == ["oncall@example.com"]
    assert message.subject == "[SyncPortal] nightly missed its freshness target"
    assert "at most 60 minute(s) behind" in message.body
    assert "1 h 30 min ago" in message.body


def test_a_success_clears_the_breach_and_a_new_one_notifies_again(profile, watcher):
    succeeded(profile, started_ago=timedelta(minutes=90))
    check_freshness(NOW)

    succeeded(profile, started_ago=timedelta(minutes=1))
    assert check_freshness(NOW) == {"breached": [], "restored": [profile.pk]}
    profile.refresh_from_db()
    assert profile.freshness_breached_at is None
    assert AuditEvent.objects.filter(action="profile.fresh").count() == 1

    later = NOW + timedelta(hours=2)
    assert check_freshness(later) == {"breached": [profile.pk], "restored": []}
    assert Delivery.objects.count() == 2


def test_the_badge_partial_shows_the_status(profile):
    succeeded(profile, started_ago=timedelta(minutes=90))
    html = render_to_string("transfers/partials/freshness_badge.html", {"profile": profile})
    assert 'class="badge badge-stale"' in html and ">Stale<" in html
    assert "at most 1 h behind" in html

    profile.max_staleness_minutes = None
    html = render_to_string("transfers/partials/freshness_badge.html", {"profile": profile})
    assert html.strip() == ""
