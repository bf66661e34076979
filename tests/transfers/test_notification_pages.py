"""The notifications section of the profile page: operators add email and webhook targets (a
webhook's signing secret is shown once), switch them off and on and delete them; everyone in
the team reads them and the delivery log; viewers get no buttons and are refused anyway."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import AuditEvent
from tests.support import pager_link
from tests.transfers.pages import endpoint, profile, signed_in
from transfers import services
from transfers.models import Delivery, Notification

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hooks/T0/s3cr3t-path"


@pytest.fixture
def nightly(team):
    return profile(team, endpoint(team))


def add(client, nightly, **fields):
    values = {"channel": "email", "target": "ops@example.com", "events": ["job.failed"]}
    values.update(fields)
    return client.post(f"/profiles/{nightly.pk}/notifications/", values)


def test_an_operator_adds_an_email_target(nightly, operator):
    client = signed_in(operator)
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "Nobody is notified about this profile." in page
    assert "Add notification" in page and "Freshness target missed" in page

    response = add(client, nightly, events=["job.failed", "profile.stale"])
    assert response["Location"] == f"/profiles/{nightly.pk}/#notifications"
    notification = Notification.objects.get()
    assert (notification.channel, notification.events, notification.secret) == (
        "email",
        ["job.failed", "profile.stale"],
        None,
    )
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "ops@example.com" in page and "Run failed, Freshness target missed" in page
    event = AuditEvent.objects.get(action="notification.created")
    assert (event.actor, event.ip) == (operator, "127.0.0.1")


def test_a_new_webhooks_secret_is_shown_once(nightly, operator):
    client = signed_in(operator)
    response = add(client, nightly, channel="webhook", target=HOOK)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = Notification.objects.get().secret.reveal()
    assert len(secret) >= 32  # generated, since none was typed
    assert f'value="{secret}"' in response.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM transfers_notification")
        assert secret not in cursor.fetchone()[0]  # stored encrypted

    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert secret not in page and "s3cr3t-path" not in page
    assert "http://127.0.0.1:9/…" in page

    typed = "a-secret-the-receiver-already-has"
    response = add(client, nightly, channel="webhook", target=HOOK + "/2", secret=typed)
    assert f'value="{typed}"' in response.content.decode()
    assert Notification.objects.get(target=HOOK + "/2").secret.reveal() == typed


def test_the_services_rules_come_back_on_the_fields(nightly, operator):
    client = signed_in(operator)
    response = add(client, nightly, target="not-an-address")
    assert response.status_code == 422
    assert response.context["notification_form"].errors["target"] == [
        "Enter a valid email address."
    ]
    page = response.content.decode()
    assert '<details class="add-notification" open>' in page  # the form stays open
    response = add(client, nightly, channel="webhook", target=HOOK, secret="short")
    assert "at least 16 characters" in response.context["notification_form"].errors["secret"][0]
    response = add(client, nightly, events=[])
    assert "events" in response.context["notification_form"].errors
    assert not Notification.objects.exists()


def test_an_operator_switches_a_target_off_and_on_and_deletes_it(nightly, operator):
    client = signed_in(operator)
    add(client, nightly)
    notification = Notification.objects.get()

    response = client.post(f"/notifications/{notification.pk}/enabled/", {"enabled": "off"})
    assert response["Location"] == f"/profiles/{nightly.pk}/#notifications"
    notification.refresh_from_db()
    assert not notification.enabled
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert ">Off</span>" in page and ">Enable</button>" in page

    client.post(f"/notifications/{notification.pk}/enabled/", {"enabled": "on"})
    notification.refresh_from_db()
    assert notification.enabled

    response = client.post(f"/notifications/{notification.pk}/delete/", follow=True)
    assert "ops@example.com is no longer told about" in response.content.decode()
    assert not Notification.objects.exists()
    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "notification.created",
        "notification.updated",
        "notification.updated",
        "notification.deleted",
    ]


def test_everyone_in_the_team_reads_the_delivery_log(nightly, operator, viewer, outsider):
    hook = services.add_notification(
        nightly, actor=operator, channel="webhook", target=HOOK, events=["job.failed"]
    )
    for n in range(55):
        Delivery.objects.create(
            notification=hook,
            event="job.failed",
            payload={},
            state=Delivery.State.FAILED,
            attempts=6,
            status_code=503,
            last_error=f"The receiver answered HTTP 503 ({n}).",
        )
    client = signed_in(viewer)
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert f'href="/profiles/{nightly.pk}/deliveries/"' in page
    assert "Failed</span>" in page and "(54)" in page  # the latest delivery, on the profile

    first = client.get(f"/profiles/{nightly.pk}/deliveries/").content.decode()
    assert first.count('<td class="num">503</td>') == 50
    assert "HTTP 503 (54)" in first and "HTTP 503 (4)" not in first
    assert "s3cr3t-path" not in first and pager_link(first, "next").startswith("?before=")
    second = client.get(f"/profiles/{nightly.pk}/deliveries/" + pager_link(first, "next"))
    second = second.content.decode()
    assert "HTTP 503 (4)" in second and "HTTP 503 (0)" in second

    outside = signed_in(outsider)
    assert outside.get(f"/profiles/{nightly.pk}/deliveries/").status_code == 404


def test_a_viewer_sees_no_buttons_and_is_refused_anyway(nightly, operator, viewer):
    notification = services.add_notification(
        nightly, actor=operator, channel="email", target="ops@example.com", events=["job.failed"]
    )
    client = signed_in(viewer)
    page = client.get(f"/profiles/{nightly.pk}/").content.decode()
    assert "ops@example.com" in page
    for action in ("/notifications/", "Add a notification", "Disable", "Delete"):
        assert action not in page, action

    assert add(client, nightly).status_code == 403
    assert client.post(f"/notifications/{notification.pk}/enabled/").status_code == 403
    assert client.post(f"/notifications/{notification.pk}/delete/").status_code == 403
    assert Notification.objects.get().enabled
