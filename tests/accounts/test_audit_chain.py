"""The audit trail is HMAC-chained: any edited or removed row is detected, by
`verify_audit_chain` too; on PostgreSQL the database itself refuses to change or remove rows."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from accounts import audit
from accounts.models import AuditEvent, Team, User

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only triggers exist on PostgreSQL only (SQLite relies on the chain)",
)


def tamper(sql: str, params: list) -> None:
    """Edit the trail as someone with the database's keys would: on PostgreSQL past the
    append-only triggers (a superuser can switch them off for the session)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


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
    tamper(
        "UPDATE accounts_auditevent SET details = %s WHERE id = %s",
        ['{"role": "admin"}', events[1].pk],
    )
    checked, broken, reason = audit.verify_chain()
    assert checked == 1
    assert broken.pk == events[1].pk
    assert "altered" in reason


def test_a_removed_row_is_detected(events):
    tamper("DELETE FROM accounts_auditevent WHERE id = %s", [events[1].pk])
    _, broken, reason = audit.verify_chain()
    assert broken.pk == events[2].pk
    assert "previous-hash link" in reason


def test_the_command_reports_an_intact_chain_and_its_head(events):
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert "intact: 3 event(s) verified" in out.getvalue()
    assert f"Head: event #{events[2].pk}, hash {events[2].hash}" in out.getvalue()


def test_the_command_names_the_first_broken_link_and_fails(events):
    tamper(
        "UPDATE accounts_auditevent SET actor_label = %s WHERE id IN (%s, %s)",
        ["mallory", events[1].pk, events[2].pk],
    )
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_chain", stdout=io.StringIO())
    message = str(excinfo.value)
    assert f"broken at event #{events[1].pk}" in message and "member.added" in message
    assert "altered" in message and "1 event(s) before it verified" in message


def test_the_command_exits_non_zero_on_a_broken_chain(events, capsys):
    tamper("DELETE FROM accounts_auditevent WHERE id = %s", [events[0].pk])
    with pytest.raises(SystemExit) as excinfo:
        execute_from_command_line(["manage.py", "verify_audit_chain", "--skip-checks"])
    assert excinfo.value.code == 1
    assert f"broken at event #{events[1].pk}" in capsys.readouterr().err


def test_secrets_are_redacted_from_details_whatever_the_caller_passes(owner, team):
    event = audit.record(
        "endpoint.updated",
        actor=owner,
        target=team,
        details={
            "after": {"secret_access_key": "wJalrXUtnFEMI", "name": "s3"},
            "webhook": [{"password": "hunter2", "url": "https://example.com"}],
            "secret_access_key": "replaced",
            "client_secret": None,
        },
    )
    assert event.details == {
        "after": {"secret_access_key": "[redacted]", "name": "s3"},
        "webhook": [{"password": "[redacted]", "url": "https://example.com"}],
        "secret_access_key": "replaced",
        "client_secret": None,
    }
    assert audit.verify_chain()[1] is None


@on_postgresql
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE accounts_auditevent SET action = 'nothing.happened'",
        "DELETE FROM accounts_auditevent",
        "TRUNCATE accounts_auditevent",
        "TRUNCATE accounts_auditevent CASCADE",
    ],
)
def test_postgresql_refuses_to_change_or_remove_rows(events, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert AuditEvent.objects.count() == 3
    assert audit.verify_chain()[1] is None


@on_postgresql
def test_postgresql_refuses_the_orm_too(events):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).update(actor_label="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=events[0].pk).delete()


def test_deleting_users_and_teams_leaves_their_events_alone(events, owner, team):
    owner_id, team_id = owner.pk, team.pk
    owner.delete()
    team.delete()
    assert not User.objects.filter(pk=owner_id).exists()
    assert not Team.objects.filter(pk=team_id).exists()
    first = AuditEvent.objects.get(pk=events[0].pk)
    assert (first.actor_id, first.actor_label, first.team_id) == (owner_id, "alice", team_id)
    assert audit.verify_chain() == (3, None, "")


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_can_write_events_and_be_flushed(owner, team):
    """Its teardown flushes (TRUNCATE on PostgreSQL): the suite's escape hatch must work."""
    audit.record("team.created", actor=owner, target=team, team=team)
    owner.delete()
    assert AuditEvent.objects.count() == 1
