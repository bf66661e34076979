"""Telling people about runs: email (Django's mail) and signed webhooks, with retries.

An event (a job that succeeded, partly failed or failed; a missed freshness target) becomes one
`Delivery` row per interested `Notification` of the profile, written in the transaction that
records the event. Once it commits, `transfers.deliver_notification(delivery_id, attempt)` is
queued per row. Each attempt is claimed with a conditional UPDATE on the attempt counter, so a
duplicate message never sends twice; a failed attempt is retried after
NOTIFICATION_RETRY_BACKOFF_SECONDS x 2^(attempt-1) (at most an hour), up to
NOTIFICATION_MAX_ATTEMPTS attempts. `resume_stuck_deliveries()` (beat) re-queues deliveries
whose retry was lost with a worker.

Webhooks get the JSON body below, POSTed with these headers:

    X-SyncPortal-Event:      job.failed
    X-SyncPortal-Delivery:   <delivery id; the same on every attempt, for de-duplication>
    X-SyncPortal-Timestamp:  <Unix seconds when this attempt was signed>
    X-SyncPortal-Signature:  sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

Receivers recompute the HMAC over the raw bytes and reject old timestamps (docs/operations.md,
Notifications).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from transfers import dispatch
from transfers.counters import Counters
from transfers.engine.errors import InvalidValue
from transfers.engine.validation import validate_webhook_url
from transfers.models import Delivery, Job, Notification, SyncProfile

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-SyncPortal-Signature"
TIMESTAMP_HEADER = "X-SyncPortal-Timestamp"
MAX_BACKOFF_SECONDS = 3600
# A pending delivery untouched for this long lost its retry message (e.g. with a killed worker).
STUCK_AFTER = timedelta(minutes=10)
_EVENT_FOR_STATE = {
    Job.State.SUCCEEDED: Notification.Event.SUCCEEDED,
    Job.State.PARTIAL: Notification.Event.PARTIAL,
    Job.State.FAILED: Notification.Event.FAILED,
}


# --- Events -> deliveries ---------------------------------------------------------------------


def notify(
    profile: SyncProfile, event: str, content: dict[str, Any], *, job: Job | None = None
) -> list[Delivery]:
    """Record a delivery of `event` for each enabled notification of `profile` that wants it,
    and queue them once the surrounding transaction commits."""
    targets = [n for n in profile.notifications.all() if n.wants(event)]
    if not targets:
        return []
    payload = {
        "event": event,
        "team": {"id": profile.team_id, "slug": profile.team.slug, "name": profile.team.name},
        "profile": {"id": profile.pk, "name": profile.name},
        **content,
    }
    deliveries = Delivery.objects.bulk_create(
        [Delivery(notification=n, event=event, job=job, payload=payload) for n in targets]
    )
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: [enqueue(pk, 1) for pk in ids])
    return deliveries


def notify_job(job: Job) -> list[Delivery]:
    """Notifications for a job that has just finished (succeeded, partial or failed)."""
    event = _EVENT_FOR_STATE.get(job.state)
    if event is None or job.profile_id is None:
        return []
    profile = SyncProfile.objects.select_related("team").filter(pk=job.profile_id).first()
    if profile is None:  # deleted meanwhile: nobody is left to tell
        return []
    return notify(profile, event, {"job": job_summary(job)}, job=job)


def job_summary(job: Job) -> dict[str, Any]:
    def moment(value):
        return value.isoformat(timespec="seconds") if value else None

    duration = job.duration_seconds if job.finished_at else None
    return {
        "id": job.pk,
        "url": absolute_url(f"/jobs/{job.pk}/"),
        "state": job.state,
        "trigger": job.trigger,
        "created_at": moment(job.created_at),
        "started_at": moment(job.started_at),
        "finished_at": moment(job.finished_at),
        "duration_seconds": round(duration, 1) if duration is not None else None,
        "predicted_seconds": job.predicted_seconds,
        **Counters.of(job).as_dict(),
        "error": job.error[:2000],
    }


def absolute_url(path: str) -> str | None:
    base = settings.SITE_URL
    return base.rstrip("/") + path if base else None


def enqueue(delivery_id: int, attempt: int) -> None:
    # Runs after the commit that stored the delivery (often a job's outcome): a broker outage
    # must not fail what called it. resume_stuck_deliveries sends it once the broker is back.
    dispatch.send(
        "transfers.deliver_notification",
        (delivery_id, attempt),
        meanwhile=f"notification delivery {delivery_id} waits",
    )


def resume_stuck_deliveries(now=None) -> list[int]:
    """Re-queue pending deliveries whose next attempt never came (their message was lost); give
    up on those whose last allowed attempt never finished."""
    now = now or timezone.now()
    stuck = (
        Delivery.objects.filter(state=Delivery.State.PENDING)
        .annotate(touched=Coalesce("next_attempt_at", "last_attempt_at", "created_at"))
        .filter(touched__lt=now - STUCK_AFTER)
    )
    stuck.filter(attempts__gte=settings.NOTIFICATION_MAX_ATTEMPTS).update(
        state=Delivery.State.FAILED,
        last_error="The last attempt never finished (its worker may have stopped).",
    )
    resumed = []
    for pk, attempts in stuck.filter(state=Delivery.State.PENDING).values_list("pk", "attempts"):
        transaction.on_commit(lambda pk=pk, attempt=attempts + 1: enqueue(pk, attempt))
        resumed.append(pk)
    if resumed:
        logger.warning("re-queued %d notification deliveries that lost their retry", len(resumed))
    return resumed


# --- One attempt ------------------------------------------------------------------------------


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, status_code: int | None = None, final: bool = False):
        super().__init__(message)
        self.message, self.status_code, self.final = message, status_code, final


def backoff_seconds(attempt: int) -> int:
    """The wait after failed attempt number `attempt` (1-based)."""
    wait = settings.NOTIFICATION_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
    return min(wait, MAX_BACKOFF_SECONDS)


def deliver(delivery_id: int, attempt: int) -> int | None:
    """Make attempt number `attempt` of a delivery and record it; returns the seconds to wait
    before the next attempt, or None when there is none to make (delivered, given up, or this
    attempt was already made by another message)."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=Delivery.State.PENDING, attempts=attempt - 1
    ).update(attempts=attempt, last_attempt_at=now, next_attempt_at=None)
    if not claimed:
        return None
    delivery = Delivery.objects.select_related("notification").get(pk=delivery_id)
    notification = delivery.notification
    try:
        status_code = _send(delivery)
    except DeliveryFailed as exc:
        final = exc.final or attempt >= settings.NOTIFICATION_MAX_ATTEMPTS
        wait = None if final else backoff_seconds(attempt)
        Delivery.objects.filter(pk=delivery_id).update(
            state=Delivery.State.FAILED if final else Delivery.State.PENDING,
            status_code=exc.status_code,
            last_error=exc.message[:1000],
            next_attempt_at=None if final else now + timedelta(seconds=wait),
        )
        logger.warning(
            "delivery %s (%s to %s) attempt %s failed%s: %s",
            delivery_id,
            delivery.event,
            notification.target_display,
            attempt,
            "; giving up" if final else f"; retrying in {wait} s",
            exc.message,
        )
        return wait
    Delivery.objects.filter(pk=delivery_id).update(
        state=Delivery.State.DELIVERED,
        status_code=status_code,
        last_error="",
        delivered_at=timezone.now(),
    )
    return None


def _send(delivery: Delivery) -> int | None:
    notification = delivery.notification
    if not notification.enabled:
        raise DeliveryFailed("Not sent: the notification was turned off.", final=True)
    try:
        if notification.channel == Notification.Channel.WEBHOOK:
            return send_webhook(delivery)
        return send_email(delivery)
    except DeliveryFailed:
        raise
    except Exception as exc:  # a bug must not leave the delivery pending for ever
        logger.exception("delivery %s crashed", delivery.pk)
        raise DeliveryFailed(f"Internal error: {exc.__class__.__name__}") from exc


def body_of(delivery: Delivery) -> dict[str, Any]:
    """What is sent: the stored event content plus the delivery's id and creation time."""
    return {"id": delivery.pk, "created_at": delivery.created_at.isoformat(), **delivery.payload}


# --- Webhooks ---------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over `timestamp + "." + body`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def send_webhook(delivery: Delivery) -> int:
    notification = delivery.notification
    url = notification.target
    try:
        # Again now: the host may resolve elsewhere than when the URL was saved.
        validate_webhook_url(
            url, allow_private=settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS, require_resolution=True
        )
    except InvalidValue as exc:
        raise DeliveryFailed(f"Not sent: {exc}", final=True) from None
    body = json.dumps(body_of(delivery), separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    secret = notification.secret.reveal() if notification.secret else ""
    parts = urlsplit(url)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"SyncPortal-Webhook/1 ({settings.SITE_NAME})",
        "X-SyncPortal-Event": delivery.event,
        "X-SyncPortal-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = settings.NOTIFICATION_TIMEOUT_SECONDS
    # http.client rather than urllib: it follows no redirect (one could lead the signed request
    # to an address the check refused) and keeps the headers' spelling.
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(300).decode(errors="replace").strip()
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or exc.__class__.__name__
        raise DeliveryFailed(f"Cannot reach the receiver: {reason}") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        message = f"The receiver answered HTTP {status}" + (f": {answer}" if answer else ".")
        raise DeliveryFailed(message, status_code=status)
    return status


# --- Email ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mail:
    subject: str
    body: str


def render_email(delivery: Delivery) -> _Mail:
    content = body_of(delivery)
    context = {
        "event": delivery.event,
        "event_label": Notification.Event(delivery.event).label,
        "site_name": settings.SITE_NAME,
        **content,
    }
    subject = render_to_string("transfers/email/notification_subject.txt", context)
    body = render_to_string("transfers/email/notification_body.txt", context)
    return _Mail(" ".join(subject.split()), body)


def send_email(delivery: Delivery) -> None:
    mail = render_email(delivery)
    message = EmailMessage(
        mail.subject, mail.body, settings.DEFAULT_FROM_EMAIL, [delivery.notification.target]
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"The mail server refused or failed: {exc}") from None
