"""Jobs: start, cancel, retry, continue and approve. A job is queued here and run by a worker
(`transfers.tasks.run_job`), enqueued only once the transaction that created it commits."""

from __future__ import annotations

import dataclasses
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import audit
from transfers.dispatch import dispatch, send
from transfers.errors import JobStateError, ProfileBusy
from transfers.models import Job, SyncProfile
from transfers.progress import broadcast_job
from transfers.shards import cancel_waiting
from transfers.specs import failed_ranges, options_for, snapshot_options

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,64}$")


def enqueue(job_id: int) -> bool:
    """Wake a worker for the job; False if the broker is down. The job then simply stays queued
    (the request that queued it still succeeds) and the reaper dispatches it once the broker
    is back: see transfers.dispatch."""
    return dispatch(job_id)


def _after_commit(job: Job, *, run: bool) -> None:
    if run:

        def send() -> None:
            # For pages to tell the user why the job does not start yet.
            job.dispatched = enqueue(job.pk)

        transaction.on_commit(send)
    transaction.on_commit(lambda: broadcast_job(job))


def _real(user):
    return user if getattr(user, "pk", None) else None


def _create(**fields) -> Job:
    """Insert a queued job; a concurrent active job of the same profile is a conflict."""
    profile = fields["profile"]
    if profile is not None:
        _refuse_if_busy(profile)
    try:
        with transaction.atomic():
            return Job.objects.create(**fields)
    except IntegrityError:
        if profile is not None:
            _refuse_if_busy(profile)
        raise


def _refuse_if_busy(profile: SyncProfile) -> None:
    active = Job.objects.active().filter(profile=profile).first()
    if active is not None:
        raise ProfileBusy(
            f"The profile {profile.name} already has a job in progress (#{active.pk}, "
            f"{active.get_state_display().lower()})."
        )


def start_job(
    profile: SyncProfile,
    *,
    actor,
    trigger: str = Job.Trigger.MANUAL,
    idempotency_key: str | None = None,
    request=None,
) -> Job:
    """Queue a run of `profile`. Starting again with the same idempotency key returns the job
    the key started instead of a new one; `job.replayed` tells which happened."""
    key = (idempotency_key or "").strip()
    if key and not _IDEMPOTENCY_KEY.match(key):
        raise ValidationError(
            {"idempotency_key": "Use 1 to 64 printable characters, without spaces."}
        )
    if trigger not in Job.Trigger.values:
        raise ValidationError({"trigger": f"Use one of: {', '.join(Job.Trigger.values)}."})

    def existing() -> Job | None:
        job = Job.objects.filter(team_id=profile.team_id, idempotency_key=key).first()
        if job is not None and job.profile_id != profile.pk:
            raise ValidationError(
                {"idempotency_key": "This key has already started a job of another profile."}
            )
        return job

    if key and (job := existing()) is not None:
        job.replayed = True
        return job
    with transaction.atomic():
        # Runs of one profile take turns from here to commit. A client retrying a request with
        # the same key while the first is still being served then waits for it, finds its job
        # and replays it, instead of seeing the profile busy with that very job (409). SQLite
        # has no row locks, but its IMMEDIATE transactions already take turns. No ordering: the
        # default one joins the team, whose row would be locked too.
        profile_row = SyncProfile.objects.filter(pk=profile.pk).order_by().values("pk")
        list(profile_row.select_for_update(no_key=True))
        if key and (job := existing()) is not None:
            job.replayed = True
            return job
        try:
            job = _create(
                team_id=profile.team_id,
                profile=profile,
                profile_name=profile.name,
                options=snapshot_options(profile),
                trigger=trigger,
                triggered_by=_real(actor),
                idempotency_key=key,
            )
        except IntegrityError:
            if key and (job := existing()) is not None:
                job.replayed = True
                return job  # the same request, raced by its own retry
            raise
        audit.record(
            "job.started",
            actor=actor,
            target=job,
            team=profile.team,
            details={"profile": profile.pk, "trigger": trigger, "idempotency_key": key or None},
            request=request,
        )
        _after_commit(job, run=True)
    job.replayed = False
    return job


def cancel_job(job: Job, *, actor, request=None) -> Job:
    """A job that has not started (or waits for approval) is cancelled at once; a running one
    is asked to stop, and its worker stops s5cmd, aborts its uploads and marks it cancelled.

    Returning means the job ends `cancelled`: the worker's final write (execution.finish)
    locks the row too and honours a request that came first, even once the engine is done.
    A job whose outcome is already stored raises JobStateError naming that outcome."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state in Job.FINISHED_STATES:
            raise JobStateError(f"Job #{job.pk} has already finished ({job.state}).")
        if job.cancel_requested_at is not None:
            return job
        previous = job.state
        job.cancel_requested_at = timezone.now()
        fields = ["cancel_requested_at"]
        if job.state in (Job.State.QUEUED, Job.State.AWAITING_APPROVAL):
            job.state = Job.State.CANCELLED
            job.finished_at = job.cancel_requested_at
            job.error = f"Cancelled by {actor or 'the system'} before it ran."
            fields += ["state", "finished_at", "error"]
        job.save(update_fields=fields)
        # A sharded job: its shards that have not started stop now; the running ones stop
        # within a second or two (their lease keepers watch the job), and the last to end
        # stores the job's outcome. If none is running, a task does it.
        if cancel_waiting(job.pk, job.cancel_requested_at) or job.shards_cut_at is not None:
            transaction.on_commit(
                lambda: send(
                    "transfers.finish_job",
                    (job.pk,),
                    queue=settings.TRANSFER_QUEUE,
                    meanwhile=f"job {job.pk} ends cancelled once the reaper runs",
                )
            )
        audit.record(
            "job.cancelled",
            actor=actor,
            target=job,
            team=job.team,
            details={"state": previous},
            request=request,
        )
        _after_commit(job, run=False)
    return job


def retry_job(job: Job, *, actor, failed_only: bool = True, request=None) -> Job:
    """A new job: of the objects `job` failed to copy, delete or verify (same options as
    `job`), or of the whole profile with its current settings. A job that failed before any
    object (e.g. an unreachable endpoint) has no failed objects: it is retried whole."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state not in (Job.State.FAILED, Job.State.PARTIAL, Job.State.CANCELLED):
            raise JobStateError(
                "Only a failed, partial or cancelled job can be retried; "
                f"job #{job.pk} is {job.state}."
            )
        # The keys stay in the job's failures, however many: the retry names the job, and its
        # worker reads them from there (transfers.specs.failed_keys).
        failed = job.failures.count() if failed_only else 0
        # Shards that failed as a whole (their listing failed, or their worker died on every
        # attempt) have no failed objects: their key ranges are retried (specs.failed_keys).
        ranges = len(failed_ranges(job.pk)) if failed_only else 0
        profile = job.profile
        same = job.run_options
        if same is None and profile is not None:
            same = options_for(profile)  # a job stored without options (only tests make those)
        if (failed or ranges) and same is not None:
            options = same.retrying(job.pk).to_dict()
        elif profile is not None:
            options = snapshot_options(profile)
        else:
            options = same.only(None).to_dict() if same is not None else {}
        return _follow_up(
            job,
            profile=profile,
            options=options,
            trigger=Job.Trigger.RETRY,
            actor=actor,
            action="job.retried",
            details={
                "retry_of": job.pk,
                "scope": "failed" if failed or ranges else "all",
                "objects": failed or None,
                **({"shards": ranges} if ranges else {}),
            },
            request=request,
        )


def _follow_up(job: Job, *, profile, options, trigger, actor, action, details, request) -> Job:
    """Queue a job that follows `job` (linked by `retry_of`), within the caller's transaction."""
    follow_up = _create(
        team_id=job.team_id,
        profile=profile,
        profile_name=job.profile_name,
        options=options,
        trigger=trigger,
        triggered_by=_real(actor),
        retry_of=job,
    )
    audit.record(
        action, actor=actor, target=follow_up, team=job.team, details=details, request=request
    )
    _after_commit(follow_up, run=True)
    return follow_up


def continue_job(job: Job, *, actor, request=None) -> Job:
    """A new job of what the cancelled `job` did not do: its own options (not the profile's
    current ones), planned against the destination as it is now, so what arrived intact
    before the cancel is skipped (also in copy mode, which otherwise copies everything) and
    the rest is copied. It is linked to `job` (`retry_of`) with the trigger `continue`."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state != Job.State.CANCELLED:
            raise JobStateError(
                f"Only a cancelled job can be continued; job #{job.pk} is {job.state}."
            )
        if job.profile_id is None:
            raise JobStateError(f"Job #{job.pk} cannot be continued: its profile has been deleted.")
        return _follow_up(
            job,
            profile=job.profile,
            options=_continued(job),
            trigger=Job.Trigger.CONTINUE,
            actor=actor,
            action="job.continued",
            details={"continues": job.pk},
            request=request,
        )


def _continued(job: Job) -> dict:
    """The cancelled job's own options and scope, planned to skip what already arrived
    intact."""
    same = job.run_options or options_for(job.profile)
    return dataclasses.replace(same, skip_intact=True).to_dict()


def approve_job(job: Job, *, actor, request=None) -> Job:
    """Let a mirror that stopped before deleting go on. It plans again when it runs; if it
    would then delete more objects than were approved, it stops for approval again."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state != Job.State.AWAITING_APPROVAL:
            raise JobStateError(f"Job #{job.pk} is not awaiting approval (it is {job.state}).")
        job.state = Job.State.QUEUED
        job.approved_by = _real(actor)
        job.approved_at = timezone.now()
        job.attempts = 0
        job.error = ""
        job.save(update_fields=["state", "approved_by", "approved_at", "attempts", "error"])
        audit.record(
            "job.approved",
            actor=actor,
            target=job,
            team=job.team,
            details={"objects_to_delete": (job.plan or {}).get("objects_to_delete")},
            request=request,
        )
        _after_commit(job, run=True)
    return job
