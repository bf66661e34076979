"""Endpoints: an S3 service and a team's credentials for it. Secrets are write-only: they are
accepted here, stored sealed, and never returned, logged or put in an audit event."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from accounts import audit
from accounts.models import Team
from transfers.engine import EndpointCheck, check_endpoint
from transfers.engine.validation import CONTROL_CHARACTERS, validate_bucket, validate_endpoint_url
from transfers.errors import EndpointInUse
from transfers.models import Endpoint, SyncProfile
from transfers.services._validation import Errors, apply_changes, difference
from transfers.specs import endpoint_config

EDITABLE = ("name", "url", "region", "addressing_style", "verify_tls", "access_key_id")
_REGION = re.compile(r"^[a-z0-9-]{1,64}$")


def _state(endpoint: Endpoint) -> dict[str, Any]:
    """What the audit trail records of an endpoint: everything but the secret."""
    return {field: getattr(endpoint, field) for field in EDITABLE}


def _validate(endpoint: Endpoint, errors: Errors, *, secret: str | None = None) -> None:
    endpoint.name = (endpoint.name or "").strip()
    if not endpoint.name:
        errors.add("name", "Enter a name.")
    elif (
        Endpoint.objects.filter(team_id=endpoint.team_id, name__iexact=endpoint.name)
        .exclude(pk=endpoint.pk)
        .exists()
    ):
        errors.add("name", "This team already has an endpoint with this name.")
    url = (endpoint.url or "").strip()
    if len(url) > Endpoint._meta.get_field("url").max_length:
        errors.add("url", "An endpoint URL is at most 255 characters long.")
    endpoint.url = errors.check(
        "url",
        lambda: validate_endpoint_url(url, allow_private=settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS),
        url,
    )
    if not _REGION.match(endpoint.region or ""):
        errors.add("region", "Use a region name such as us-east-1.")
    key_id = endpoint.access_key_id or ""
    if not key_id or re.search(r"\s", key_id) or CONTROL_CHARACTERS.search(key_id):
        errors.add("access_key_id", "Enter the access key id, without spaces.")
    if secret is not None and (not secret or CONTROL_CHARACTERS.search(secret)):
        errors.add("secret_access_key", "Enter the secret access key (one line, no spaces around).")
    # The URL's own check above is the rule (Django's would refuse hosts like "minio").
    errors.model(endpoint, exclude=("team", "secret_access_key", "url"))


def create_endpoint(
    team: Team,
    *,
    actor,
    name: str,
    access_key_id: str,
    secret_access_key: str,
    url: str = "",
    region: str = "us-east-1",
    addressing_style: str = Endpoint.Addressing.AUTO,
    verify_tls: bool = True,
    request=None,
) -> Endpoint:
    endpoint = Endpoint(
        team=team,
        name=name,
        url=url,
        region=region,
        addressing_style=addressing_style,
        verify_tls=verify_tls,
        access_key_id=access_key_id,
    )
    errors = Errors()
    _validate(endpoint, errors, secret=secret_access_key)
    errors.raise_if_any()
    endpoint.secret_access_key = secret_access_key
    with transaction.atomic():
        endpoint.save()
        audit.record(
            "endpoint.created",
            actor=actor,
            target=endpoint,
            team=team,
            details={"after": _state(endpoint)},
            request=request,
        )
    return endpoint


def update_endpoint(endpoint: Endpoint, *, actor, request=None, **changes: Any) -> Endpoint:
    """Change settings (not the secret: see `rotate_endpoint_secret`)."""
    before = _state(endpoint)
    apply_changes(endpoint, changes, EDITABLE)
    errors = Errors()
    _validate(endpoint, errors)
    errors.raise_if_any()
    details = difference(before, _state(endpoint))
    with transaction.atomic():
        endpoint.save(update_fields=[*details["after"], "updated_at"])
        audit.record(
            "endpoint.updated",
            actor=actor,
            target=endpoint,
            team=endpoint.team,
            details=details,
            request=request,
        )
    return endpoint


def rotate_endpoint_secret(
    endpoint: Endpoint,
    *,
    actor,
    secret_access_key: str,
    access_key_id: str | None = None,
    request=None,
) -> Endpoint:
    """Replace the secret (and, with a new key pair, the access key id). Jobs read credentials
    when they run, so the next run uses the new ones."""
    before = endpoint.access_key_id
    if access_key_id is not None:
        endpoint.access_key_id = access_key_id
    errors = Errors()
    _validate(endpoint, errors, secret=secret_access_key)
    errors.raise_if_any()
    endpoint.secret_access_key = secret_access_key
    with transaction.atomic():
        endpoint.save(update_fields=["access_key_id", "secret_access_key", "updated_at"])
        audit.record(
            "endpoint.secret_rotated",
            actor=actor,
            target=endpoint,
            team=endpoint.team,
            details={
                "access_key_id": {"before": before, "after": endpoint.access_key_id},
                "secret_access_key": "replaced",
            },
            request=request,
        )
    return endpoint


def delete_endpoint(endpoint: Endpoint, *, actor, request=None) -> None:
    names = sorted(
        SyncProfile.objects.filter(
            Q(source_endpoint=endpoint) | Q(destination_endpoint=endpoint)
        ).values_list("name", flat=True)
    )
    if names:
        raise EndpointInUse(
            f"The endpoint {endpoint.name} is used by the profiles {', '.join(names)}: "
            "change or delete them first."
        )
    with transaction.atomic():
        audit.record(
            "endpoint.deleted",
            actor=actor,
            target=endpoint,
            team=endpoint.team,
            details={"before": _state(endpoint)},
            request=request,
        )
        endpoint.delete()


def test_endpoint(endpoint: Endpoint, *, bucket: str = "") -> EndpointCheck:
    """Is the endpoint reachable, are its credentials accepted, is `bucket` listable?"""
    if bucket:
        errors = Errors()
        errors.check("bucket", lambda: validate_bucket(bucket))
        errors.raise_if_any()
    return check_endpoint(
        endpoint_config(endpoint),
        bucket=bucket,
        allow_private_networks=settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS,
    )


test_endpoint.__test__ = False  # a service named test_*, not a test
