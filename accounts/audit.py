"""The audit trail: `record()` appends one event, chained by HMAC-SHA256 to the previous one.

Call it inside the transaction of the change it describes, so the event exists exactly when the
change does. The chain key (`AUDIT_HMAC_KEY`) lives outside the database: someone who can edit
rows cannot recompute valid hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.security import client_ip

GENESIS = "0" * 64
REDACTED = "[redacted]"
# Keys of `details` whose values are never stored, whatever a caller passes: a safety net
# behind the services' own care. Markers that only say a secret changed (None, "", booleans,
# "replaced") are kept.
_SECRET_WORDS = ("secret", "password", "passphrase", "private_key", "credential")

# Arbitrary constant naming the PostgreSQL advisory lock that serialises appends to the chain.
_CHAIN_LOCK_ID = 0x5359_4E43


@dataclass(frozen=True)
class RequestContext:
    """Where an action came from; built from an HTTP request or a WebSocket scope."""

    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""
    # The personal API token the request authenticated with, if any: which key did it.
    api_token: dict[str, Any] | None = None

    @classmethod
    def from_request(cls, request: Any) -> RequestContext:
        if request is None:
            return cls()
        token = getattr(getattr(request, "auth", None), "token", None)
        return cls(
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
            request_id=getattr(request, "request_id", ""),
            api_token={"id": token.pk, "prefix": token.prefix} if token is not None else None,
        )


def redact(value: Any) -> Any:
    """`value` with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {key: _redact_item(key, item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


def _redact_item(key: Any, item: Any) -> Any:
    name = str(key).lower()
    if any(word in name for word in _SECRET_WORDS) and not _is_marker(item):
        return REDACTED
    return redact(item)


def _is_marker(item: Any) -> bool:
    return item is None or isinstance(item, bool) or item in ("", "replaced")


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "team_id": event.team_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(event: AuditEvent) -> str:
    return hmac.new(settings.AUDIT_HMAC_KEY, _canonical(event), hashlib.sha256).hexdigest()


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])
    # SQLite: the IMMEDIATE transaction mode already serialises writers.


def record(
    action: str,
    *,
    actor: Any = None,
    target: models.Model | None = None,
    team: Any = None,
    details: dict[str, Any] | None = None,
    request: Any = None,
    context: RequestContext | None = None,
) -> AuditEvent:
    """Append one event; returns it. `details` must not contain secrets."""
    ctx = context or RequestContext.from_request(request)
    details = redact(details or {})
    if ctx.api_token is not None:
        details.setdefault("api_token", ctx.api_token)
    real_actor = actor if actor is not None and getattr(actor, "pk", None) else None
    with transaction.atomic():
        _lock_chain()
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            created_at=timezone.now(),
            actor=real_actor,
            actor_label=str(real_actor)[:150] if real_actor else "",
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_label=str(target)[:255] if target is not None else "",
            team=team,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            request_id=ctx.request_id,
            # Round-trip through JSON so what is hashed is exactly what the database returns.
            details=json.loads(json.dumps(details, default=str)),
            prev_hash=last or GENESIS,
        )
        event.hash = compute_hash(event)
        event.save(force_insert=True)
    return event


def verify_chain(events: Any = None) -> tuple[int, AuditEvent | None, str]:
    """Walk the chain in order; return (events checked, first bad event or None, reason)."""
    queryset = events if events is not None else AuditEvent.objects.all()
    expected_prev = GENESIS
    checked = 0
    for event in queryset.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != expected_prev:
            return checked, event, "previous-hash link does not match the event before it"
        if not hmac.compare_digest(event.hash, compute_hash(event)):
            return checked, event, "content does not match its hash (the row was altered)"
        expected_prev = event.hash
        checked += 1
    return checked, None, ""
