"""Profile schedules: the beat entry that fires a profile's cron, and what one firing does.

A profile's `schedule` is the truth; its django-celery-beat `PeriodicTask` (with a UTC
`CrontabSchedule`) follows it. The profile services call `sync_periodic_task()` inside the
transaction that saves the profile, so the entry changes exactly when the profile does; beat
reads the database, so there is nothing to send after the commit. Each firing sends
`transfers.run_scheduled(profile_id)`, which starts a job — or, while the previous run of the
profile is still going, records a `SkippedRun` saying so.
"""

from __future__ import annotations

import json
import logging

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts import audit
from transfers.cron import Cron
from transfers.errors import ProfileBusy
from transfers.models import Job, SkippedRun, SyncProfile
from transfers.services.jobs import start_job

logger = logging.getLogger(__name__)

TASK = "transfers.run_scheduled"


def periodic_task_name(profile: SyncProfile) -> str:
    return f"profile {profile.pk}: scheduled runs"


def _crontab_for(cron: Cron) -> CrontabSchedule:
    """Beat's row for this expression in UTC; rows are shared between identical schedules."""
    fields = {**cron.fields(), "timezone": "UTC"}
    existing = CrontabSchedule.objects.filter(**fields).order_by("pk").first()
    return existing or CrontabSchedule.objects.create(**fields)


def _drop_if_unused(crontab_id: int | None) -> None:
    if crontab_id and not PeriodicTask.objects.filter(crontab_id=crontab_id).exists():
        CrontabSchedule.objects.filter(pk=crontab_id).delete()


def _link(profile: SyncProfile, task: PeriodicTask | None) -> None:
    if profile.periodic_task_id != (task.pk if task else None):
        profile.periodic_task = task
        SyncProfile.objects.filter(pk=profile.pk).update(periodic_task=task)


def sync_periodic_task(profile: SyncProfile) -> PeriodicTask | None:
    """Create, change, pause or remove the profile's beat entry to match its schedule.

    Call it inside the transaction that saved the profile. A changed schedule starts counting
    from now: beat does not make up a run the old schedule missed.
    """
    task = (
        profile.periodic_task
        or PeriodicTask.objects.filter(name=periodic_task_name(profile)).first()
    )
    cron = profile.cron
    if cron is None:
        _link(profile, None)
        if task is not None:
            remove_periodic_task(task)
        return None
    crontab = _crontab_for(cron)
    if task is None:
        task = PeriodicTask(name=periodic_task_name(profile), task=TASK)
    previous = task.crontab_id
    task.crontab = crontab
    task.interval = task.solar = task.clocked = None
    task.args = json.dumps([profile.pk])
    task.kwargs = "{}"
    task.one_off = False
    task.enabled = profile.schedule_enabled
    task.description = f"Runs the profile {profile.name!r} on its schedule ({cron.expression})."
    if previous != crontab.pk:
        task.last_run_at = None
    task.save()
    _link(profile, task)
    if previous != crontab.pk:
        _drop_if_unused(previous)
    return task


def remove_periodic_task(task: PeriodicTask) -> None:
    crontab_id = task.crontab_id
    task.delete()
    _drop_if_unused(crontab_id)


def run_scheduled(profile_id: int) -> Job | SkippedRun | None:
    """One firing of a profile's schedule: start a job, or record why not.

    Returns the job, the skipped run, or None when the profile or its schedule is gone (beat
    may fire once more around a change).
    """
    profile = SyncProfile.objects.select_related("team").filter(pk=profile_id).first()
    if profile is None or profile.cron is None or not profile.schedule_enabled:
        logger.info("profile %s: scheduled firing ignored, no active schedule", profile_id)
        return None
    try:
        return start_job(profile, actor=None, trigger=Job.Trigger.SCHEDULE)
    except ProfileBusy as exc:
        return _skip(profile, str(exc))


def _skip(profile: SyncProfile, reason: str) -> SkippedRun:
    with transaction.atomic():
        blocking = Job.objects.active().filter(profile=profile).first()
        skipped = SkippedRun.objects.create(
            team=profile.team, profile=profile, reason=reason, blocking_job=blocking
        )
        audit.record(
            "schedule.skipped",
            target=profile,
            team=profile.team,
            details={
                "reason": reason,
                "blocking_job": blocking.pk if blocking else None,
                "schedule": profile.schedule,
            },
        )
    logger.info("profile %s: scheduled run skipped: %s", profile.pk, reason)
    return skipped
