"""A profile's notifications: who is told about which of its events, by email or webhook."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts import audit
from transfers.engine.validation import validate_webhook_url
from transfers.models import Notification, SyncProfile
from transfers.services._validation import Errors, apply_changes, difference

EDITABLE = ("target", "events", "enabled", "secret")
MIN_SECRET_LENGTH = 16


def _state(notification: Notification) -> dict[str, Any]:
    """As the audit trail records it: never the secret, and webhook URLs only by host."""
    return {
        "profile": notification.profile_id,
        "channel": notification.channel,
        "target": notification.target_display,
        "events": list(notification.events),
        "enabled": notification.enabled,
    }


def _validate(notification: Notification, errors: Errors) -> None:
    channel = notification.channel
    if channel not in Notification.Channel.values:
        errors.add("channel", f"Use one of: {', '.join(Notification.Channel.values)}.")
        return
    target = (notification.target or "").strip()
    notification.target = target
    if channel == Notification.Channel.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            errors.add("target", "Enter a valid email address.")
        if notification.secret:
            errors.add("secret", "Only webhooks have a signing secret.")
    else:
        errors.check(
            "target",
            lambda: validate_webhook_url(
                target, allow_private=settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS
            ),
        )
        secret = notification.secret.reveal() if notification.secret else ""
        if len(secret) < MIN_SECRET_LENGTH:
            errors.add("secret", f"Use a secret of at least {MIN_SECRET_LENGTH} characters.")

    events = notification.events
    if isinstance(events, str) or not isinstance(events, list | tuple) or not events:
        errors.add("events", "Choose at least one event.")
    else:
        unknown = sorted(set(events) - set(Notification.Event.values))
        if unknown:
            errors.add(
                "events",
                f"Unknown event(s) {', '.join(map(str, unknown))}; "
                f"use {', '.join(Notification.Event.values)}.",
            )
        notification.events = [e for e in Notification.Event.values if e in events]

    duplicate = Notification.objects.filter(
        profile_id=notification.profile_id, channel=channel, target=target
    ).exclude(pk=notification.pk)
    if target and "target" not in errors.messages and duplicate.exists():
        errors.add("target", "This profile already notifies this target.")


def add_notification(
    profile: SyncProfile,
    *,
    actor,
    channel: str,
    target: str,
    events: list[str],
    secret: str | None = None,
    enabled: bool = True,
    request=None,
) -> Notification:
    """Notify `target` of `events` of the profile. A webhook without a secret gets a generated
    one: `notification.secret.reveal()` on the returned object is the time to show it, once."""
    if channel == Notification.Channel.WEBHOOK and not secret:
        secret = secrets.token_urlsafe(32)
    notification = Notification(
        profile=profile,
        channel=channel,
        target=target,
        events=events,
        secret=secret or None,
        enabled=enabled,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    errors = Errors()
    _validate(notification, errors)
    errors.raise_if_any()
    with transaction.atomic():
        notification.save()
        audit.record(
            "notification.created",
            actor=actor,
            target=profile,
            team=profile.team,
            details={"after": _state(notification)},
            request=request,
        )
    return notification


def update_notification(
    notification: Notification, *, actor, request=None, **changes: Any
) -> Notification:
    """Change the target, events or enabled flag; `secret=` replaces the signing secret."""
    before = _state(notification)
    if changes.get("secret") in ("", None):
        changes.pop("secret", None)  # blank keeps the stored secret (it is write-only)
    rotated = "secret" in changes
    apply_changes(notification, changes, EDITABLE)
    errors = Errors()
    _validate(notification, errors)
    errors.raise_if_any()
    with transaction.atomic():
        notification.save()
        details = difference(before, _state(notification))
        if rotated:
            details["secret_replaced"] = True
        audit.record(
            "notification.updated",
            actor=actor,
            target=notification.profile,
            team=notification.profile.team,
            details=details,
            request=request,
        )
    return notification


def delete_notification(notification: Notification, *, actor, request=None) -> None:
    """Its delivery log goes with it."""
    with transaction.atomic():
        audit.record(
            "notification.deleted",
            actor=actor,
            target=notification.profile,
            team=notification.profile.team,
            details={"before": _state(notification)},
            request=request,
        )
        notification.delete()
