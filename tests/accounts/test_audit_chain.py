"""The audit trail is HMAC-chained: any edited or removed row is detected."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import RequestFactory

from accounts import audit
from accounts.models import AuditEvent


@pytest.fixture
def events(owner, team):
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="pytest")
    request.request_id = "req-0001-abcd"
    return [
        audit.record("team.created", actor=owner, target=team, team=team, request=request),
        audit.record(
            "member.added", actor=owner, target=team, team=team, details={"role": "viewer"}
        ),
        audit.record("job.finished", target=team, team=team, details={"bytes": 10**12, "ok": True}),
    ]


def test_it_records_who_what_where(events, owner, team):
    first = AuditEvent.objects.get(pk=events[0].pk)
    assert (first.actor, first.actor_label, first.action) == (owner, "alice", "team.created")
    assert (first.target_type, first.target_id, first.team) == ("accounts.team", str(team.pk), team)
    assert (first.ip, first.user_agent, first.request_id) == (
        "203.0.113.7",
        "pytest",
        "req-0001-abcd",
    )
    assert first.prev_hash == audit.GENESIS


def test_each_event_links_to_the_previous_one(events):
    assert events[1].prev_hash == events[0].hash
    assert events[2].prev_hash == events[1].hash


def test_an_intact_chain_verifies(events):
    checked, broken, _ = audit.verify_chain()
    assert (checked, broken) == (3, None)


def test_an_edited_row_is_detected(events):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_auditevent SET details = %s WHERE id = %s",
            ['{"role": "admin"}', events[1].pk],
        )
    checked, broken, reason = audit.verify_chain()
    assert checked == 1
    assert broken.pk == events[1].pk
    assert "altered" in reason


def test_a_removed_row_is_detected(events):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_auditevent WHERE id = %s", [events[1].pk])
    _, broken, reason = audit.verify_chain()
    assert broken.pk == events[2].pk
    assert "previous-hash link" in reason
