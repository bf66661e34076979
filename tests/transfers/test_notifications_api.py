"""The notifications API: members read a profile's notifications and their deliveries;
operators and team admins add, change and delete them. A webhook's signing secret appears
once, in the response that created it; webhook URLs come back by scheme and host only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from transfers import services
from transfers.models import Delivery, Notification

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hooks/T0/s3cr3t-path"
SECRET = "receiver-shared-secret-0123456789"


@pytest.fixture
def profile(offline_profile):
    return offline_profile


@pytest.fixture
def hook(profile, operator):
    return services.add_notification(
        profile,
        actor=operator,
        channel="webhook",
        target=HOOK,
        events=["job.failed", "profile.stale"],
        secret=SECRET,
    )


def test_an_operator_adds_a_webhook_and_gets_its_secret_once(api_as, operator, viewer, profile):
    api = api_as(operator)
    response = api.post(
        f"/profiles/{profile.pk}/notifications",
        {"channel": "webhook", "target": HOOK, "events": ["job.failed", "job.failed"]},
    )
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    created = response.json()
    notification = Notification.objects.get()
    assert created["secret"] == notification.secret.reveal() and len(created["secret"]) >= 32
    assert (created["target"], created["events"], created["enabled"]) == (
        "http://127.0.0.1:9/…",
        ["job.failed"],
        True,
    )

    for reader in (api, api_as(viewer)):
        listed = reader.get(f"/profiles/{profile.pk}/notifications").json()
        one = reader.get(f"/notifications/{notification.pk}").json()
        assert listed["items"] == [one]
        text = json.dumps([listed, one])
        assert "secret" not in one and created["secret"] not in text and "s3cr3t" not in text

    event = AuditEvent.objects.get(action="notification.created")
    assert (event.actor, event.ip, event.user_agent) == (operator, "127.0.0.1", "api-tests/1")
    assert event.details["api_token"]["prefix"]  # which token did it
    assert created["secret"] not in json.dumps(event.details)


def test_a_typed_secret_is_kept_and_email_has_none(api_as, operator, profile):
    api = api_as(operator)
    path = f"/profiles/{profile.pk}/notifications"
    typed = {"channel": "webhook", "target": HOOK, "events": ["job.failed"], "secret": SECRET}
    assert api.post(path, typed).json()["secret"] == SECRET
    email = {"channel": "email", "target": "ops@example.com", "events": ["job.succeeded"]}
    created = api.post(path, {**email, "enabled": False}).json()
    assert (created["secret"], created["target"], created["enabled"]) == (
        None,
        "ops@example.com",
        False,
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"target": "not-an-address"}, "target", "Enter a valid email address."),
        ({"secret": SECRET}, "secret", "Only webhooks have a signing secret."),
        ({"events": []}, "events", "at least 1 item"),
        ({"events": ["job.exploded"]}, "events.0", "Input should be"),
        ({"channel": "pager"}, "channel", "Input should be"),
        ({"channel": "webhook", "target": "ftp://x.example/"}, "target", "http:// or https://"),
        ({"channel": "webhook", "target": HOOK, "secret": "short"}, "secret", "16 characters"),
    ],
)
def test_a_bad_notification_is_refused_on_its_field(
    api_as, operator, profile, fields, field, message
):
    body = {"channel": "email", "target": "ops@example.com", "events": ["job.failed"], **fields}
    response = api_as(operator).post(f"/profiles/{profile.pk}/notifications", body)
    assert response.status_code == 422, response.content
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert message in errors[field], errors
    assert not Notification.objects.exists()


def test_a_target_is_notified_once(api_as, operator, profile, hook):
    body = {"channel": "webhook", "target": HOOK, "events": ["job.partial"]}
    response = api_as(operator).post(f"/profiles/{profile.pk}/notifications", body)
    assert response.status_code == 422
    assert "already notifies" in response.json()["errors"][0]["message"]


def test_an_operator_changes_rotates_and_deletes_a_notification(api_as, operator, hook):
    api = api_as(operator)
    response = api.patch(f"/notifications/{hook.pk}", {"enabled": False, "events": ["job.partial"]})
    assert response.status_code == 200
    assert (response.json()["enabled"], response.json()["events"]) == (False, ["job.partial"])

    rotated = "a-brand-new-secret-for-the-receiver"
    response = api.patch(f"/notifications/{hook.pk}", {"secret": rotated})
    assert response.status_code == 200 and rotated not in response.content.decode()
    hook.refresh_from_db()
    assert hook.secret.reveal() == rotated
    assert api.patch(f"/notifications/{hook.pk}", {"secret": "short"}).status_code == 422

    assert api.delete(f"/notifications/{hook.pk}").status_code == 204
    assert not Notification.objects.exists()
    events = AuditEvent.objects.filter(action__startswith="notification.").order_by("id")
    assert [(e.action, bool(e.details.get("api_token"))) for e in events] == [
        ("notification.created", False),  # made by the fixture, not through the API
        ("notification.updated", True),
        ("notification.updated", True),
        ("notification.deleted", True),
    ]
    assert events[2].details["secret_replaced"] is True
    assert rotated not in json.dumps([e.details for e in events])


def test_deliveries_are_listed_newest_first_with_how_they_went(api_as, viewer, hook):
    now = timezone.now()
    Delivery.objects.create(
        notification=hook,
        event="job.failed",
        payload={},
        created_at=now - timedelta(minutes=5),
        state=Delivery.State.DELIVERED,
        attempts=1,
        status_code=204,
        delivered_at=now - timedelta(minutes=5),
    )
    Delivery.objects.create(
        notification=hook,
        event="profile.stale",
        payload={},
        created_at=now,
        state=Delivery.State.PENDING,
        attempts=2,
        status_code=503,
        last_error="The receiver answered HTTP 503.",
        next_attempt_at=now + timedelta(seconds=60),
    )
    body = api_as(viewer).get(f"/notifications/{hook.pk}/deliveries", limit=1).json()
    assert body["count"] == 2 and body["next_cursor"]
    [latest] = body["items"]
    assert (latest["event"], latest["state"], latest["attempts"], latest["status_code"]) == (
        "profile.stale",
        "pending",
        2,
        503,
    )
    assert latest["last_error"] == "The receiver answered HTTP 503."
    rest = (
        api_as(viewer)
        .get(f"/notifications/{hook.pk}/deliveries", cursor=body["next_cursor"])
        .json()
    )
    assert [(d["state"], d["status_code"]) for d in rest["items"]] == [("delivered", 204)]


@pytest.mark.parametrize(
    ("who", "scope", "status"),
    [("viewer", "write", 403), ("owner", "read", 403), ("outsider", "write", 404)],
)
def test_writing_needs_an_operator_of_the_team_with_a_write_token(
    api_as, request, profile, hook, who, scope, status
):
    api = api_as(request.getfixturevalue(who), scope=scope)
    email = {"channel": "email", "target": "ops@example.com", "events": ["job.failed"]}
    assert api.post(f"/profiles/{profile.pk}/notifications", email).status_code == status
    assert api.patch(f"/notifications/{hook.pk}", {"enabled": False}).status_code == status
    assert api.delete(f"/notifications/{hook.pk}").status_code == status
    hook.refresh_from_db()
    assert hook.enabled and Notification.objects.count() == 1


def test_a_token_of_another_team_finds_nothing(api_as, owner, outsider, other_team, profile, hook):
    from accounts.models import Membership

    Membership.objects.create(user=owner, team=other_team, role="admin")
    api = api_as(owner, teams=[other_team])
    for path in (
        f"/profiles/{profile.pk}/notifications",
        f"/notifications/{hook.pk}",
        f"/notifications/{hook.pk}/deliveries",
    ):
        assert api.get(path).status_code == 404, path
    assert api.delete(f"/notifications/{hook.pk}").status_code == 404
    assert Notification.objects.exists()


def test_anonymous_callers_are_asked_to_authenticate(client, hook):
    response = client.get(f"/api/v1/notifications/{hook.pk}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
