"""Notifications: per-profile email and webhook targets, the deliveries an event creates, the
email sent, the webhook's signature checked by a real receiver on loopback, and retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEvent
from tests.support import wait_until
from tests.transfers.support import (
    finished_run,
    put_objects,
    same_bucket_profile,
    wait_for_job,
)
from transfers import notifications, services
from transfers.models import Delivery, Job, Notification

# --- A webhook receiver on loopback -----------------------------------------------------------


class Receiver:
    """A real HTTP server that records each request and answers with the next status in line
    (200 once the list runs out). `verify(secret)` checks signatures as docs/operations.md says
    to."""

    def __init__(self, statuses=(), *, redirect_to: str | None = None):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": self.headers,
                        "body": body,
                        "at": time.monotonic(),
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if redirect_to:
                    status = 302
                self.send_response(status)
                if redirect_to:
                    self.send_header("Location", redirect_to)
                answer = b"ok" if status < 300 else b"try again later"
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/syncportal?team=data"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def verify(request: dict, secret: str, *, tolerance: int = 300) -> dict:
    """The receiver's side, written from docs/operations.md: HMAC-SHA256 over 'timestamp.body'."""
    headers = request["headers"]
    timestamp = headers["X-SyncPortal-Timestamp"]
    assert abs(time.time() - int(timestamp)) <= tolerance, "stale timestamp"
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(headers["X-SyncPortal-Signature"], f"sha256={expected}")
    return json.loads(request["body"])


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


# --- Set-up ---------------------------------------------------------------------------------


@pytest.fixture
def profile(offline_profile):
    return offline_profile


def finished_job(profile, state=Job.State.FAILED, **fields) -> Job:
    values = {
        "trigger": Job.Trigger.SCHEDULE,
        "objects_total": 3,
        "bytes_total": 3000,
        "objects_done": 2,
        "bytes_done": 2048,
        "objects_failed": 1,
        "predicted_seconds": 120.0,
        "error": "1 object(s) failed (1 to copy); first: a.txt: AccessDenied",
        **fields,
    }
    started = timezone.now() - timedelta(seconds=130)
    return finished_run(profile, started_at=started, seconds=130, state=state, **values)


def webhook(profile, actor, url, **fields) -> Notification:
    values = {"channel": "webhook", "target": url, "events": ["job.failed", "job.succeeded"]}
    values.update(fields)
    return services.add_notification(profile, actor=actor, **values)


SECRET = "receiver-shared-secret-0123456789"


# --- Managing notifications --------------------------------------------------------------------


@pytest.mark.django_db
def test_it_adds_a_webhook_with_an_encrypted_write_only_secret(profile, operator):
    notification = webhook(profile, operator, "https://hooks.example.com/T0/B1/abcd", secret=None)

    generated = notification.secret.reveal()  # shown once, right after creation
    assert len(generated) >= 32
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM transfers_notification")
        [(stored,)] = cursor.fetchall()
    assert generated not in stored
    assert str(Notification.objects.get().secret) == "••••••••"
    event = AuditEvent.objects.get()
    assert event.action == "notification.created"
    assert event.details["after"]["target"] == "https://hooks.example.com/…"  # no token path
    assert generated not in json.dumps(event.details)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"target": "ftp://hooks.example.com/x"}, "target", "starts with http:// or https://"),
        ({"target": "http://169.254.169.254/latest"}, "target", "link-local or cloud metadata"),
        ({"target": "http://metadata.google.internal/"}, "target", "cloud metadata service"),
        ({"target": "https://user:pw@hooks.example.com/"}, "target", "credentials"),
        ({"target": "http://[::1/hook"}, "target", "is not a valid URL"),
        ({"events": []}, "events", "Choose at least one event."),
        ({"events": ["job.exploded"]}, "events", "Unknown event(s) job.exploded"),
        ({"secret": "short"}, "secret", "at least 16 characters"),
        ({"channel": "pager"}, "channel", "Use one of: email, webhook."),
    ],
)
def test_a_bad_webhook_is_refused_on_its_field(profile, operator, fields, field, message):
    values = {
        "channel": "webhook",
        "target": "https://hooks.example.com/x",
        "events": ["job.failed"],
        "secret": SECRET,
        **fields,
    }
    with pytest.raises(ValidationError) as caught:
        services.add_notification(profile, actor=operator, **values)
    assert message in " ".join(caught.value.message_dict[field])
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_private_addresses_need_the_administrators_consent(profile, operator, settings):
    settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(ValidationError) as caught:
        webhook(profile, operator, "http://10.1.2.3/hook")
    assert "private network" in caught.value.message_dict["target"][0]


@pytest.mark.django_db
def test_emails_are_checked_and_a_target_is_added_once(profile, operator):
    add = services.add_notification
    with pytest.raises(ValidationError) as caught:
        add(
            profile, actor=operator, channel="email", target="not-an-address", events=["job.failed"]
        )
    assert caught.value.message_dict["target"] == ["Enter a valid email address."]

    add(profile, actor=operator, channel="email", target="ops@example.com", events=["job.failed"])
    with pytest.raises(ValidationError) as caught:
        add(
            profile,
            actor=operator,
            channel="email",
            target="ops@example.com",
            events=["job.partial"],
        )
    assert "already notifies" in caught.value.message_dict["target"][0]


@pytest.mark.django_db
def test_it_updates_and_deletes_a_notification(profile, operator):
    notification = webhook(profile, operator, "https://hooks.example.com/x", secret=SECRET)

    services.update_notification(
        notification, actor=operator, events=["job.partial"], secret="a-brand-new-secret-value"
    )
    notification.refresh_from_db()
    assert notification.events == ["job.partial"]
    assert notification.secret.reveal() == "a-brand-new-secret-value"
    updated = AuditEvent.objects.get(action="notification.updated")
    assert updated.details["after"] == {"events": ["job.partial"]}
    assert updated.details["secret_replaced"] is True

    services.update_notification(notification, actor=operator, secret="")  # blank keeps it
    assert Notification.objects.get().secret.reveal() == "a-brand-new-secret-value"

    services.delete_notification(notification, actor=operator)
    assert not Notification.objects.exists()
    assert AuditEvent.objects.filter(action="notification.deleted").exists()


# --- Events become deliveries -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_finished_job_notifies_the_targets_that_want_its_event(
    profile, operator, django_capture_on_commit_callbacks
):
    add = services.add_notification
    failures = add(
        profile, actor=operator, channel="email", target="a@example.com", events=["job.failed"]
    )
    add(profile, actor=operator, channel="email", target="b@example.com", events=["job.succeeded"])
    muted = add(
        profile, actor=operator, channel="email", target="c@example.com", events=["job.failed"]
    )
    services.update_notification(muted, actor=operator, enabled=False)

    job = finished_job(profile, Job.State.FAILED)
    with django_capture_on_commit_callbacks() as callbacks:
        [delivery] = notifications.notify_job(job)

    assert (delivery.notification, delivery.event, delivery.job) == (failures, "job.failed", job)
    assert len(callbacks) == 1
    assert notifications.notify_job(finished_job(profile, Job.State.CANCELLED)) == []


@pytest.mark.django_db
def test_the_email_says_what_happened(profile, operator, settings):
    settings.SITE_URL = "https://portal.example.com"
    services.add_notification(
        profile, actor=operator, channel="email", target="ops@example.com", events=["job.failed"]
    )
    job = finished_job(profile)
    [delivery] = notifications.notify_job(job)

    assert notifications.deliver(delivery.pk, 1) is None

    [message] = mail.outbox
    assert message.subject == f"[SyncPortal] nightly: run #{job.pk} failed"
    assert message.to == ["ops@example.com"]
    assert "Copied 2 object(s), 2.0 KB of 3 planned; 0 unchanged, 1 failed" in message.body
    assert "Took 2 min 10 s (predicted 2 min)." in message.body
    assert "first: a.txt: AccessDenied" in message.body
    assert f"Details: https://portal.example.com/jobs/{job.pk}/" in message.body
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.delivered_at is not None) == (
        "delivered",
        1,
        True,
    )


# --- Webhooks --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_webhook_is_signed_and_the_receiver_verifies_it(profile, operator, receiver):
    webhook(profile, operator, receiver.url, secret=SECRET)
    job = finished_job(profile)
    [delivery] = notifications.notify_job(job)

    assert notifications.deliver(delivery.pk, 1) is None

    [request] = receiver.requests
    body = verify(request, SECRET)
    assert request["path"] == "/hooks/syncportal?team=data"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-SyncPortal-Event"] == "job.failed"
    assert request["headers"]["X-SyncPortal-Delivery"] == str(delivery.pk)
    assert (body["id"], body["event"], body["profile"]) == (
        delivery.pk,
        "job.failed",
        {"id": profile.pk, "name": "nightly"},
    )
    assert body["team"]["slug"] == profile.team.slug
    assert body["job"]["id"] == job.pk and body["job"]["state"] == "failed"
    assert body["job"]["duration_seconds"] == pytest.approx(130, abs=1)
    assert body["job"]["predicted_seconds"] == 120.0
    with pytest.raises(AssertionError):
        verify(request, "the-wrong-secret-0123456789")
    tampered = {**request, "body": request["body"].replace(b"failed", b"succeeded")}
    with pytest.raises(AssertionError):
        verify(tampered, SECRET)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.status_code) == ("delivered", 200)


@pytest.mark.django_db
def test_a_failing_receiver_is_retried_with_backoff_then_given_up(profile, operator, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    settings.NOTIFICATION_RETRY_BACKOFF_SECONDS = 30
    failing = Receiver([503, 500, 502])
    try:
        webhook(profile, operator, failing.url, secret=SECRET)
        [delivery] = notifications.notify_job(finished_job(profile))

        waits = [notifications.deliver(delivery.pk, attempt) for attempt in (1, 2, 3)]
    finally:
        failing.stop()

    assert waits == [30, 60, None]
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("failed", 3, 502)
    assert delivery.last_error == "The receiver answered HTTP 502: try again later"
    assert delivery.next_attempt_at is None
    bodies = {r["body"] for r in failing.requests}
    assert len(failing.requests) == 3 and len(bodies) == 1  # the same event every time


@pytest.mark.django_db
def test_an_attempt_is_made_once_whatever_the_messages(profile, operator, receiver):
    webhook(profile, operator, receiver.url, secret=SECRET)
    [delivery] = notifications.notify_job(finished_job(profile))

    assert notifications.deliver(delivery.pk, 1) is None
    assert notifications.deliver(delivery.pk, 1) is None  # a redelivered message
    assert notifications.deliver(delivery.pk, 2) is None  # already delivered
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_it_follows_no_redirect_and_rechecks_the_address_when_sending(
    profile, operator, receiver, settings
):
    redirecting = Receiver(redirect_to=receiver.url)
    try:
        webhook(profile, operator, redirecting.url, secret=SECRET)
        [delivery] = notifications.notify_job(finished_job(profile))
        notifications.deliver(delivery.pk, 1)
    finally:
        redirecting.stop()
    delivery.refresh_from_db()
    assert (delivery.status_code, receiver.requests) == (302, [])

    webhook(profile, operator, receiver.url, events=["job.partial"], secret=SECRET)
    settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS = False  # the rules changed since it was saved
    [delivery] = notifications.notify_job(finished_job(profile, Job.State.PARTIAL))
    assert notifications.deliver(delivery.pk, 1) is None  # no retry: it would never pass
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "private network" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db
def test_deliveries_whose_retry_was_lost_are_queued_again(
    profile, operator, settings, django_capture_on_commit_callbacks
):
    settings.NOTIFICATION_MAX_ATTEMPTS = 3
    notification = webhook(profile, operator, "https://hooks.example.com/x", secret=SECRET)
    now = timezone.now()
    old = now - timedelta(minutes=30)

    def delivery(attempts, next_attempt_at, **fields):
        return Delivery.objects.create(
            notification=notification,
            event="job.failed",
            payload={},
            attempts=attempts,
            last_attempt_at=old,
            next_attempt_at=next_attempt_at,
            **fields,
        )

    lost = delivery(1, old + timedelta(seconds=30))
    waiting = delivery(1, now + timedelta(minutes=30))  # its retry is not due yet
    done = delivery(1, None, state=Delivery.State.DELIVERED)
    exhausted = delivery(3, None)  # the last attempt never finished

    with django_capture_on_commit_callbacks() as callbacks:
        assert notifications.resume_stuck_deliveries(now) == [lost.pk]

    assert len(callbacks) == 1
    states = dict(Delivery.objects.values_list("pk", "state"))
    assert states == {
        lost.pk: "pending",
        waiting.pk: "pending",
        done.pk: "delivered",
        exhausted.pk: "failed",
    }


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_run_is_posted_through_the_worker_with_retries(
    team, operator, s3_a, endpoint_a, celery_worker
):
    """A job run by the worker succeeds; the worker posts its webhook to a receiver that fails
    twice, waits (the suite's backoff is 1 s, then 2 s) and delivers on the third attempt."""
    bucket = s3_a.bucket("hook")
    put_objects(s3_a.client(), bucket, {"one.txt": b"1", "two.txt": b"22"}, prefix="src/")
    profile = same_bucket_profile(team, operator, endpoint_a, bucket, name="hooked")
    flaky = Receiver([500, 503])
    try:
        webhook(profile, operator, flaky.url, secret=SECRET, events=["job.succeeded"])
        job = services.start_job(profile, actor=operator)
        assert wait_for_job(job).state == Job.State.SUCCEEDED

        delivery = wait_until(
            lambda: Delivery.objects.filter(job=job, state=Delivery.State.DELIVERED).first(),
            "the webhook to be delivered",
            timeout=30,
        )
    finally:
        flaky.stop()

    assert (delivery.attempts, delivery.status_code, delivery.last_error) == (3, 200, "")
    first, second, third = flaky.requests
    assert second["at"] - first["at"] >= 0.9 and third["at"] - second["at"] >= 1.9
    bodies = [verify(request, SECRET) for request in flaky.requests]
    assert bodies[0] == bodies[2] and bodies[2]["job"]["state"] == "succeeded"
    assert bodies[2]["job"]["objects_done"] == 2
    assert {r["headers"]["X-SyncPortal-Delivery"] for r in flaky.requests} == {str(delivery.pk)}


@pytest.mark.django_db
def test_notifications_and_deliveries_stay_within_the_team(profile, operator, viewer, outsider):
    notification = webhook(profile, operator, "https://hooks.example.com/x", secret=SECRET)
    delivery = Delivery.objects.create(notification=notification, event="job.failed", payload={})

    assert list(Notification.objects.visible_to(viewer)) == [notification]
    assert not Notification.objects.operable_by(viewer).exists()
    assert list(Notification.objects.operable_by(operator)) == [notification]
    assert list(Delivery.objects.visible_to(viewer)) == [delivery]
    assert not Notification.objects.visible_to(outsider).exists()
    assert not Delivery.objects.visible_to(outsider).exists()


@pytest.mark.django_db
def test_the_partials_show_targets_without_their_tokens(profile, operator):
    from django.template.loader import render_to_string

    hook = webhook(profile, operator, "https://hooks.example.com/T0/B1/s3cr3t-path", secret=SECRET)
    services.add_notification(
        profile, actor=operator, channel="email", target="ops@example.com", events=["job.failed"]
    )
    Delivery.objects.create(
        notification=hook,
        event="job.failed",
        payload={},
        state=Delivery.State.FAILED,
        attempts=6,
        status_code=500,
        last_error="The receiver answered HTTP 500.",
    )

    summary = render_to_string("transfers/partials/notification_summary.html", {"profile": profile})
    log = render_to_string(
        "transfers/partials/delivery_log.html",
        {"deliveries": Delivery.objects.select_related("notification")},
    )

    assert "ops@example.com" in summary and "Run failed, Run succeeded" in summary
    assert "https://hooks.example.com/…" in summary and "https://hooks.example.com/…" in log
    assert "s3cr3t-path" not in summary + log
    assert "badge-failed" in log and ">6<" in log and "HTTP 500" in log
