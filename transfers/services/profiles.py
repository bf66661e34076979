"""Sync profiles: what to move where and how, validated field by field before it is saved."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import audit
from accounts.models import Team
from transfers.cron import normalise
from transfers.engine import InvalidValue, PlanSummary, TransferError, plan_transfer
from transfers.engine.filters import split_wildcard_prefix
from transfers.engine.validation import (
    validate_bucket,
    validate_local_path,
    validate_patterns,
    validate_prefix,
)
from transfers.errors import ProfileBusy, Unavailable
from transfers.models import Endpoint, Job, SyncProfile
from transfers.services._validation import Errors, apply_changes, difference
from transfers.services.schedules import remove_periodic_task, sync_periodic_task
from transfers.specs import options_for, spec_from_options

EDITABLE = (
    "name",
    "description",
    "source_endpoint",
    "source_bucket",
    "source_prefix",
    "source_path",
    "destination_endpoint",
    "destination_bucket",
    "destination_prefix",
    "destination_path",
    "mode",
    "compare",
    "include_patterns",
    "exclude_patterns",
    "source_wildcards",
    "workers",
    "concurrency",
    "part_size_mb",
    "storage_class",
    "max_parallel_shards",
    "verify_after",
    "delete_threshold",
    "schedule",
    "schedule_enabled",
    "max_staleness_minutes",
)
SIDES = ("source", "destination")
_STORAGE_CLASS = re.compile(r"^[A-Z_]{1,32}$")


def _state(profile: SyncProfile) -> dict[str, Any]:
    """The profile as the audit trail records it (endpoints by id; profiles hold no secret)."""
    state = {}
    for field in EDITABLE:
        value = getattr(profile, field)
        state[field] = value.pk if isinstance(value, Endpoint) else value
    return state


def _resolve_endpoints(profile: SyncProfile, changes: dict[str, Any], errors: Errors) -> None:
    """Endpoints may be given as objects or ids; either way they must belong to the team."""
    for side in SIDES:
        field = f"{side}_endpoint"
        if field not in changes:
            continue
        value = changes[field]
        if value in (None, ""):
            setattr(profile, field, None)
            continue
        endpoint_id = value.pk if isinstance(value, Endpoint) else value
        endpoint = Endpoint.objects.filter(team_id=profile.team_id, pk=endpoint_id).first()
        if endpoint is None:
            errors.add(field, "Choose an endpoint of this team.")
        setattr(profile, field, endpoint)


def _validate(profile: SyncProfile, errors: Errors) -> None:
    profile.name = (profile.name or "").strip()
    if not profile.name:
        errors.add("name", "Enter a name.")
    elif (
        SyncProfile.objects.filter(team_id=profile.team_id, name__iexact=profile.name)
        .exclude(pk=profile.pk)
        .exists()
    ):
        errors.add("name", "This team already has a profile with this name.")

    kinds = {side: _validate_side(profile, side, errors) for side in SIDES}
    if kinds["source"] == kinds["destination"] == "local":
        errors.add("destination_path", "One side must be S3: local to local is not supported.")
    if not errors.messages:
        _check_overlap(profile, kinds, errors)

    for field in ("include_patterns", "exclude_patterns"):
        value = getattr(profile, field)
        setattr(profile, field, errors.check(field, lambda v=value: validate_patterns(v), value))
    if profile.storage_class and not _STORAGE_CLASS.match(profile.storage_class):
        errors.add("storage_class", "Use an S3 storage class name such as STANDARD_IA.")
    profile.schedule = normalise(profile.schedule)  # the model's validator checks it
    errors.model(profile, exclude=("team", "source_endpoint", "destination_endpoint", "created_by"))


def _validate_side(profile: SyncProfile, side: str, errors: Errors) -> str | None:
    endpoint = getattr(profile, f"{side}_endpoint")
    bucket = getattr(profile, f"{side}_bucket")
    prefix = getattr(profile, f"{side}_prefix")
    path = getattr(profile, f"{side}_path")
    if (endpoint is not None or bucket or prefix) and path:
        errors.add(f"{side}_path", "Give either an endpoint and bucket or a local path, not both.")
        return None
    if endpoint is not None or bucket or prefix:
        if endpoint is None and f"{side}_endpoint" not in errors.messages:
            errors.add(f"{side}_endpoint", "Choose an endpoint.")
        errors.check(f"{side}_bucket", lambda: validate_bucket(bucket))
        wildcards = side == "source" and profile.source_wildcards
        normalised = errors.check(
            f"{side}_prefix", lambda: validate_prefix(prefix, wildcards=wildcards), prefix
        )
        setattr(profile, f"{side}_prefix", normalised)
        return "s3"
    if path:
        real = errors.check(
            f"{side}_path", lambda: validate_local_path(path, settings.LOCAL_ROOTS), path
        )
        setattr(profile, f"{side}_path", real)
        return "local"
    errors.add(f"{side}_bucket", f"Choose the {side}: an endpoint and a bucket, or a local path.")
    return None


def _check_overlap(profile: SyncProfile, kinds: dict, errors: Errors) -> None:
    """A destination inside the source (or the reverse) would copy a run onto its own input,
    and a mirror could delete it. (Local to local is refused before.)"""
    if not kinds["source"] == kinds["destination"] == "s3":
        return
    same_bucket = (profile.source_endpoint_id, profile.source_bucket) == (
        profile.destination_endpoint_id,
        profile.destination_bucket,
    )
    # Literal unless the profile asks for wildcards, exactly as the engine lists and copies
    # (s5cmd runs with --raw): 'star*/' is then a folder of that name, beside 'star-out/'.
    source = profile.source_prefix
    if profile.source_wildcards:
        source = split_wildcard_prefix(source)[0]
    target = profile.destination_prefix
    if same_bucket and (source.startswith(target) or target.startswith(source)):
        errors.add(
            "destination_prefix",
            "The destination overlaps the source (same bucket, one prefix inside the other).",
        )


def _apply(profile: SyncProfile, changes: dict[str, Any]) -> None:
    """Set the changes on the (unsaved) profile and validate it; raise every error at once."""
    errors = Errors()
    fields = [f"{side}_endpoint" for side in SIDES]
    endpoints = {field: changes.pop(field) for field in fields if field in changes}
    apply_changes(profile, changes, EDITABLE)
    _resolve_endpoints(profile, endpoints, errors)
    _validate(profile, errors)
    errors.raise_if_any()


def create_profile(team: Team, *, actor, request=None, **fields: Any) -> SyncProfile:
    profile = SyncProfile(team=team, created_by=actor if getattr(actor, "pk", None) else None)
    _apply(profile, fields)
    with transaction.atomic():
        profile.save()
        sync_periodic_task(profile)
        audit.record(
            "profile.created",
            actor=actor,
            target=profile,
            team=team,
            details={"after": _state(profile)},
            request=request,
        )
    return profile


def update_profile(profile: SyncProfile, *, actor, request=None, **changes: Any) -> SyncProfile:
    before = _state(profile)
    _apply(profile, changes)
    with transaction.atomic():
        profile.save()
        sync_periodic_task(profile)
        audit.record(
            "profile.updated",
            actor=actor,
            target=profile,
            team=profile.team,
            details=difference(before, _state(profile)),
            request=request,
        )
    return profile


def delete_profile(profile: SyncProfile, *, actor, request=None) -> None:
    """Jobs keep their history (and their options snapshot) after the profile is gone."""
    active = Job.objects.active().filter(profile=profile).first()
    if active is not None:
        raise ProfileBusy(
            f"The profile {profile.name} has a job in progress (#{active.pk}): cancel it first."
        )
    with transaction.atomic():
        audit.record(
            "profile.deleted",
            actor=actor,
            target=profile,
            team=profile.team,
            details={"before": _state(profile)},
            request=request,
        )
        task = profile.periodic_task
        profile.delete()
        if task is not None:
            remove_periodic_task(task)


def preview_profile(profile: SyncProfile, *, sample: int = 20) -> PlanSummary:
    """The object-level plan of a run now: what would be copied, deleted or left, with samples
    of keys. Lists both sides; moves no data."""
    spec = spec_from_options(options_for(profile), team_id=profile.team_id)
    try:
        return plan_transfer(spec).summary(sample)
    except InvalidValue as exc:
        raise ValidationError(str(exc)) from None
    except TransferError as exc:
        raise Unavailable(str(exc)) from None
