"""One large job across the worker fleet: its key space cut into shards that any worker runs.

The job's own task (`transfers.run_job`, the coordinator) lists the source and, every
TRANSFER_SHARD_OBJECTS objects or TRANSFER_SHARD_BYTES bytes, closes a key range as a
`JobShard` row and hands it out under the caps while it goes on listing; a job whose listing
ends before the first cut runs in the coordinator as before. Each shard is its own task
(`transfers.run_shard`): claimed with one conditional UPDATE, run with a lease of its own
(renewed, watched by the reaper), narrowed to its range (listing, plan, copy, deletes,
verification), its failures and manifest lines tagged with it. The job's counters are the
sums over its shards; the last shard to finish (under a lock on the job's row) stores the
job's outcome, its merged plan and verification and its one manifest (the shards' lines in
key order, one SHA-256). See docs/engine.md, "Shards".
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import threading
from collections import Counter
from datetime import timedelta

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import audit
from accounts.models import Team
from syncportal import logging as log_context
from syncportal.crypto import DecryptionError
from transfers import dispatch, notifications
from transfers.counters import NAMES, Counters
from transfers.engine import (
    EngineError,
    KeySet,
    Outcome,
    Progress,
    RecordFile,
    Result,
    iter_source,
    plan_transfer,
    run_transfer,
)
from transfers.errors import Unavailable
from transfers.leases import FailureRecorder, LeaseKeeper, lease_owner_name
from transfers.manifests import ACTIONS, SHARDED, ManifestWriter, shard_lines
from transfers.models import Job, JobFailure, JobManifest, JobSample, JobShard
from transfers.progress import (
    _REDIS_ERRORS,
    _redis,
    broadcast_job,
    channel_outage,
    job_group,
    message,
    publish,
    team_group,
)
from transfers.specs import spec_for_job
from transfers.states import PHASE_FOR_STATE, STATE_FOR_OUTCOME

logger = logging.getLogger(__name__)

State = JobShard.State
ACTIVE = (State.PENDING, State.QUEUED, State.RUNNING)
SENT = (State.QUEUED, State.RUNNING)
SAMPLE_SIZE = 20
# One aggregate progress message (and JobSample) per job per this many seconds, whichever
# of its running shards gets there first.
AGGREGATE_INTERVAL = 0.9
PUBLISH_INTERVAL = 1.0
ERRORS_SHOWN = 5


# --- the cut (the coordinator) -----------------------------------------------------------------


@dataclasses.dataclass
class Cut:
    """What the coordinator's cut ended with: `small` (run the job here, as one piece),
    `shards` (the job is handed to its shards), `result` (an outcome to store now, e.g. a
    mirror that waits for approval), or `lost` (the lease went elsewhere meanwhile)."""

    small: bool = False
    # A small job's source listing, as the cut read it (on disk): its run plans from it
    # instead of listing the source again. The caller closes it.
    source: RecordFile | None = None
    shards: int = 0
    result: Result | None = None
    lost: bool = False


def cut(job: Job, spec, owner: str, cancel: threading.Event, keeper: LeaseKeeper) -> Cut:
    """List the source and cut it into shards as it goes (see the module's docstring). A job
    whose listing ends before the first cut is `small`, and comes with that listing (its run
    reads it rather than list the source twice); a coordinator that died mid-cut is resumed
    after the last shard it made."""
    # Until the first cut the job may turn out small: what is read is kept on disk.
    probe = RecordFile()
    try:
        made = _cut(job, spec, owner, cancel, keeper, probe)
    except BaseException:
        probe.close()
        raise
    if made.source is not probe:
        probe.close()
    return made


def _cut(
    job: Job, spec, owner: str, cancel: threading.Event, keeper: LeaseKeeper, probe: RecordFile
) -> Cut:
    limit_objects, limit_bytes = settings.TRANSFER_SHARD_OBJECTS, settings.TRANSFER_SHARD_BYTES
    last = job.shards.order_by("-seq").first()
    after, seq = ("", 0) if last is None else (last.upto_key, last.seq + 1)
    if last is not None and last.upto_key is None:  # made, but the job was not marked
        return _close(job, owner, None, seq, 0, 0, cancel)
    resumed = last is not None
    count = size = 0
    checked = resumed or not _waits_for_approval(spec)
    items = iter_source(spec, cancel=cancel, after=after)
    keeping = not resumed  # the probe's items, until the first cut
    try:
        for key, info in items:
            if cancel.is_set():
                break
            if keeping:
                probe.append((key, info))
            count += 1
            size += info.size
            if count < limit_objects and size < limit_bytes:
                continue
            if not checked:
                checked = True
                waiting = _over_delete_threshold(spec, cancel)
                if waiting is not None:
                    return Cut(result=waiting)
            if keeper.lost:
                return Cut(lost=True)
            keeping = False
            _add_shard(job, seq, after, key, count, size)
            seq, after, count, size = seq + 1, key, 0, 0
            dispatch_pending(job.team_id)
    except EngineError as exc:
        if seq == 0:
            raise
        # The shards cut so far go on; the rest is one last shard, which lists it itself.
        logger.warning("job %s: the cut stopped (%s); the last shard lists the rest", job.pk, exc)
    finally:
        items.close()
    if keeper.lost:
        return Cut(lost=True)
    if seq == 0:
        # (A cancel meanwhile: the run here ends it, as ever, without the half-read listing.)
        return Cut(small=True, source=None if cancel.is_set() else probe.finish())
    return _close(job, owner, after, seq, count, size, cancel)


def _waits_for_approval(spec) -> bool:
    options = spec.options
    return options.mode == "mirror" and options.delete_threshold is not None


def _over_delete_threshold(spec, cancel: threading.Event) -> Result | None:
    """A large mirror with a delete threshold: its shards must not delete before the whole
    job's delete count is known. The whole plan is made first (counts only); over the
    threshold, the job waits for approval as a small one does."""
    plan = plan_transfer(spec, cancel=cancel)
    threshold = spec.options.delete_threshold
    if plan.objects_to_delete <= threshold:
        return None
    return Result(
        outcome=Outcome.AWAITING_APPROVAL,
        plan=plan.summary(),
        objects_total=plan.objects_to_copy + plan.objects_rejected,
        bytes_total=plan.bytes_to_copy,
        error=(
            f"This mirror would delete {plan.objects_to_delete} objects, more than the "
            f"profile's threshold of {threshold}: it waits for an operator's approval."
        ),
    )


def _add_shard(
    job: Job, seq: int, after: str, upto: str | None, count: int, size: int, **fields
) -> None:
    JobShard.objects.create(
        job=job,
        seq=seq,
        after_key=after,
        upto_key=upto,
        planned_objects=count,
        planned_bytes=size,
        objects_total=None,
        **fields,
    )


def _close(
    job: Job,
    owner: str,
    after: str | None,
    seq: int,
    count: int,
    size: int,
    cancel: threading.Event,
) -> Cut:
    """The end of the source: the last shard (to the end of the key space), the job marked
    cut and handed to its shards (its lease released: nobody waits for them)."""
    now = timezone.now()
    with transaction.atomic():
        held = Job.objects.lock_if_held(job.pk, owner)
        if held is None:
            return Cut(lost=True)
        if after is not None:
            cancelled = held["cancel_requested_at"] is not None
            _add_shard(
                job,
                seq,
                after,
                None,
                count,
                size,
                state=State.CANCELLED if cancelled else State.PENDING,
                finished_at=now if cancelled else None,
            )
            seq += 1
        if held["cancel_requested_at"] is not None:  # shards cut after the cancel came
            cancel_waiting(job.pk, now)
        planned = JobShard.objects.filter(job_id=job.pk).aggregate(
            objects=Sum("planned_objects"), bytes=Sum("planned_bytes")
        )
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.RUNNING,
            shards_cut_at=now,
            lease_owner="",
            lease_expires_at=None,
            objects_total=planned["objects"] or 0,
            bytes_total=planned["bytes"] or 0,
        )
    logger.info("job %s: cut into %d shards", job.pk, seq)
    dispatch_pending(job.team_id)
    if maybe_finish_job(job.pk) is None:
        job.refresh_from_db()
        broadcast_job(job)
    return Cut(shards=seq)


# --- dispatch under the caps -------------------------------------------------------------------


def cap_of(max_parallel_shards: int | None) -> int:
    return max_parallel_shards or settings.TRANSFER_SHARDS_PER_JOB


def dispatch_pending(team_id: int) -> list[int]:
    """Send pending shards of the team's jobs to the broker while the job's queued and
    running shards stay under its cap (the profile's `max_parallel_shards`, else
    TRANSFER_SHARDS_PER_JOB) and the team's under TRANSFER_SHARDS_PER_TEAM; free slots go
    round the jobs, the one with the fewest shards out first. The team's row is locked, so
    two dispatchers never both fill the last slot."""
    now = timezone.now()
    with transaction.atomic():
        list(Team.objects.select_for_update().filter(pk=team_id).order_by().values_list("pk"))
        shards = JobShard.objects.filter(job__team_id=team_id)
        waiting = dict(
            shards.filter(state=State.PENDING, job__cancel_requested_at=None)
            .values_list("job_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        if not waiting:
            return []
        out = dict(
            shards.filter(state__in=SENT).values_list("job_id").annotate(n=Count("id")).order_by()
        )
        room = settings.TRANSFER_SHARDS_PER_TEAM - sum(out.values())
        caps = dict(
            Job.objects.filter(pk__in=waiting).values_list("pk", "profile__max_parallel_shards")
        )
        grant: Counter[int] = Counter()
        while room > 0:
            open_jobs = [
                pk
                for pk in waiting
                if grant[pk] < waiting[pk] and out.get(pk, 0) + grant[pk] < cap_of(caps.get(pk))
            ]
            if not open_jobs:
                break
            pk = min(open_jobs, key=lambda pk: (out.get(pk, 0) + grant[pk], pk))
            grant[pk] += 1
            room -= 1
        chosen: list[int] = []
        for pk, n in grant.items():
            chosen += list(
                shards.filter(job_id=pk, state=State.PENDING)
                .order_by("seq")
                .values_list("pk", flat=True)[:n]
            )
        if chosen:
            JobShard.objects.filter(pk__in=chosen, state=State.PENDING).update(
                state=State.QUEUED, dispatched_at=now
            )
            transaction.on_commit(lambda: _send(chosen))
    return chosen


SHARD_RECORD = "shard"  # the kind of dispatch record a shard's message leaves (see dispatch)


def _send(shard_ids: list[int]) -> None:
    for shard_id in shard_ids:
        if not dispatch.send(
            "transfers.run_shard",
            (shard_id,),
            queue=settings.TRANSFER_QUEUE,
            meanwhile=f"shard {shard_id} stays queued; the reaper sends it again",
        ):
            return
        dispatch.leave_record(shard_id, SHARD_RECORD)


# --- a shard's run -----------------------------------------------------------------------------


def claim_shard(shard_id: int, owner: str, worker: str) -> JobShard | None:
    now = timezone.now()
    claimed = JobShard.objects.filter(
        pk=shard_id, state=State.QUEUED, job__cancel_requested_at=None
    ).update(
        state=State.RUNNING,
        lease_owner=owner,
        lease_expires_at=now + timedelta(seconds=settings.TRANSFER_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        worker=worker[:255],
        started_at=now,
        finished_at=None,
        error="",
    )
    if not claimed:
        return None
    dispatch.forget(shard_id, SHARD_RECORD)
    return JobShard.objects.select_related("job", "job__team").get(pk=shard_id)


def run_shard(shard_id: int, worker: str = "") -> str:
    """The body of the `transfers.run_shard` task."""
    owner = lease_owner_name()
    shard = claim_shard(shard_id, owner, worker or owner)
    if shard is None:
        row = JobShard.objects.filter(pk=shard_id).values("job_id", "state").first()
        if row is not None and row["state"] == State.QUEUED:
            # Its job was cancelled after it was sent.
            JobShard.objects.filter(pk=shard_id, state=State.QUEUED).update(
                state=State.CANCELLED, finished_at=timezone.now()
            )
            maybe_finish_job(row["job_id"])
        return "not claimed"
    job = shard.job
    token = log_context.job_id.set(str(job.pk))
    try:
        logger.info(
            "job %s: shard %s claimed by %s (attempt %s)", job.pk, shard.seq, owner, shard.attempts
        )
        state = _run_claimed(shard, owner)
        dispatch_pending(job.team_id)
        if maybe_finish_job(job.pk) is None and _aggregate_due(job.pk):
            aggregate(job.pk)  # the job's sums with this shard's last counters
    finally:
        log_context.job_id.reset(token)
    return state


def _run_claimed(shard: JobShard, owner: str) -> str:
    job = shard.job
    # What an earlier attempt of this shard stored of its failures: this run finds its own.
    JobFailure.objects.filter(shard=shard).delete()
    cancel = threading.Event()
    keeper = LeaseKeeper(
        job.pk,
        owner,
        cancel,
        rows=JobShard.objects.filter(pk=shard.pk),
        cancel_field="job__cancel_requested_at",  # a shard stops when its job is cancelled
        taken="the reaper gave the shard to another worker",
    )
    publisher = ShardProgress(shard, owner)
    recorder = FailureRecorder(job.pk, shard_id=shard.pk)
    keeper.start()
    publisher.start()
    recorder.start()
    spec = None
    try:
        try:
            spec = spec_for_job(job, key_range=(shard.after_key, shard.upto_key))
        except (Unavailable, EngineError) as exc:
            result = Result(outcome=Outcome.FAILED, error=str(exc))
        except DecryptionError as exc:
            result = Result(
                outcome=Outcome.FAILED, error=f"The endpoint's credentials cannot be read: {exc}"
            )
        else:
            result = run_transfer(
                spec,
                on_progress=publisher,
                cancel=cancel,
                cleanup_previous=shard.attempts > 1,
                on_failure=recorder,
            )
    except Exception as exc:
        logger.exception("job %s: shard %s crashed", job.pk, shard.seq)
        result = Result(outcome=Outcome.FAILED, error=f"Internal error: {exc.__class__.__name__}")
    finally:
        recorder.close()
        keeper.stop()
        publisher.close()
        if spec is not None and isinstance(spec.options.only_keys, KeySet):
            spec.options.only_keys.close()
    if keeper.lost:
        return "lease lost"
    return finish_shard(shard, owner, result)


def finish_shard(shard: JobShard, owner: str, result: Result) -> str:
    """Store the shard's outcome, counters and manifest lines, if it still holds its lease."""
    state = STATE_FOR_OUTCOME[result.outcome]
    error = result.error
    if state == Job.State.AWAITING_APPROVAL:  # its range alone would delete too many
        state = State.FAILED
    manifest = ManifestWriter(shard.job, shard_id=shard.pk).write(result.manifest or ())
    plan = result.plan.as_dict() if result.plan is not None else None
    if plan is not None:
        plan["manifest"] = manifest.summary()
    with transaction.atomic():
        stored = JobShard.objects.filter(pk=shard.pk, lease_owner=owner).update(
            state=state,
            **Counters.of(result).as_dict(),
            verification=result.verification,
            plan=plan,
            error=error,
            lease_owner="",
            lease_expires_at=None,
            finished_at=timezone.now(),
            manifest_run=manifest.run,
        )
        if not stored:
            transaction.on_commit(manifest.discard)
            return "lease lost"
        shard.manifest_chunks.exclude(run=manifest.run).delete()
    logger.info("job %s: shard %s %s", shard.job_id, shard.seq, state)
    return str(state)


class ShardProgress:
    """The engine's progress callback in a shard's run: about once a second it stores the
    shard's counters and, if no other shard of the job did so in the last second, the job's
    (the sums over its shards), a JobSample and one live message about the whole job."""

    def __init__(self, shard: JobShard, owner: str):
        self.shard_id, self.job_id, self.owner = shard.pk, shard.job_id, owner
        self._latest: Progress | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"shard-progress-{shard.pk}", daemon=True
        )

    def start(self) -> ShardProgress:
        self._thread.start()
        return self

    def __call__(self, progress: Progress) -> None:
        with self._lock:
            self._latest = progress

    def close(self) -> None:
        self._halt.set()
        self._thread.join()

    def _run(self) -> None:
        log_context.job_id.set(str(self.job_id))
        # An event loop of this thread's own for the channel layer, as ProgressPublisher has.
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        self._send = lambda payload: loop.run_until_complete(_send_message(layer, payload))
        stored = None
        try:
            while True:
                stopping = self._halt.wait(PUBLISH_INTERVAL)
                with self._lock:
                    progress = self._latest
                if progress is not None and not progress.final:
                    try:
                        # The job's message goes out every second, new counters or not.
                        self._store(progress, changed=progress is not stored)
                        stored = progress
                    except Exception:
                        logger.exception("could not store the progress of shard %s", self.shard_id)
                        connection.close()
                if stopping:
                    return
        finally:
            loop.close()
            connection.close()

    def _store(self, progress: Progress, *, changed: bool) -> None:
        mine = JobShard.objects.filter(pk=self.shard_id, lease_owner=self.owner)
        held = mine.update(**Counters.of(progress).as_dict()) if changed else mine.exists()
        if held and _aggregate_due(self.job_id):
            aggregate(self.job_id, send=self._send)


def _aggregate_due(job_id: int) -> bool:
    try:
        return bool(
            _redis(settings.REDIS_URL).set(
                f"syncportal:job-aggregate:{job_id}",
                1,
                nx=True,
                px=int(AGGREGATE_INTERVAL * 1000),
            )
        )
    except (redis.RedisError, OSError):
        return True  # no Redis: a sample per shard-second rather than none


def totals(job_id: int) -> dict:
    """The job's counters: the sums over its shards (a shard not planned yet counts what
    the cut saw of it)."""
    sums = JobShard.objects.filter(job_id=job_id).aggregate(
        objects_total=Sum(Coalesce("objects_total", "planned_objects")),
        bytes_total=Sum(Coalesce("bytes_total", "planned_bytes")),
        **{name: Sum(name) for name in NAMES if not name.endswith("_total")},
    )
    return {name: int(value or 0) for name, value in sums.items()}


def shard_counts(job_id: int) -> dict[str, int]:
    counts = dict(
        JobShard.objects.filter(job_id=job_id)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {state: counts.get(state, 0) for state in State.values}


def aggregate(job_id: int, *, send=None) -> None:
    """Store the job's counters (sums over its shards) and a sample, and tell the job's and
    the team's sockets, in the documented message shape with a `shards` summary."""
    now = timezone.now()
    counters = totals(job_id)
    job = Job.objects.filter(pk=job_id).values("team_id", "state", "started_at").first()
    if job is None or job["state"] in Job.FINISHED_STATES:
        return
    previous = JobSample.objects.filter(job_id=job_id).order_by("-t").first()
    throughput = None
    if previous is not None and now > previous.t:
        seconds = (now - previous.t).total_seconds()
        throughput = max(0, int((counters["bytes_done"] - previous.bytes_done) / seconds))
    updated = Job.objects.filter(pk=job_id, state=job["state"]).update(
        **counters, **({"throughput_bps": throughput} if throughput is not None else {})
    )
    if not updated:
        return
    JobSample.objects.create(
        job_id=job_id,
        t=now,
        objects_done=counters["objects_done"],
        bytes_done=counters["bytes_done"],
    )
    team_id, state = job["team_id"], job["state"]

    def payload() -> dict:
        return {
            **message(
                job_id=job_id,
                team_id=team_id,
                state=state,
                phase=PHASE_FOR_STATE[state],
                counters=counters,
                throughput_bps=throughput,
            ),
            "shards": shard_counts(job_id),
        }

    if send is None:
        publish(payload, [job_group(job_id), team_group(team_id)], f"job {job_id}")
        return
    try:
        send(payload())
    except _REDIS_ERRORS as exc:
        channel_outage.failed(exc, "live progress is not sent meanwhile, the jobs go on")
    else:
        channel_outage.succeeded()


async def _send_message(layer, payload: dict) -> None:
    await layer.group_send(job_group(payload["job"]), payload)
    await layer.group_send(team_group(payload["team"]), payload)


# --- the job's end -----------------------------------------------------------------------------


def maybe_finish_job(job_id: int) -> str | None:
    """Once the cut is done and every shard has finished, store the job's outcome: exactly
    once, whoever gets here (the job's row is locked). Returns the state stored, or None."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state in Job.FINISHED_STATES or job.shards_cut_at is None:
        return None
    if job.shards.filter(state__in=ACTIVE).exists():
        return None
    # Hashed before the lock (a long read for a big job); two finishers may both hash, one
    # stores.
    digest, chunks = hashlib.sha256(), 0
    for data in shard_lines(job_id):
        digest.update(data)
        chunks += 1
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in Job.FINISHED_STATES:
            return None
        shards = list(job.shards.order_by("seq"))
        if any(s.state in ACTIVE for s in shards):
            return None
        return _store_outcome(job, shards, digest.hexdigest(), chunks)


def _store_outcome(job: Job, shards: list[JobShard], sha256: str, chunks: int) -> str:
    now = timezone.now()
    counters = totals(job.pk)
    states = Counter(s.state for s in shards)
    if job.cancel_requested_at is not None:
        state = Job.State.CANCELLED
    elif states[State.SUCCEEDED] == len(shards):
        state = Job.State.SUCCEEDED
    elif counters["objects_done"] == 0 and counters["objects_deleted"] == 0:
        state = Job.State.FAILED
    else:
        state = Job.State.PARTIAL
    problems = [s for s in shards if s.state in (State.FAILED, State.PARTIAL) and s.error]
    error = ""
    if state == Job.State.CANCELLED:
        error = f"Cancelled: {states[State.CANCELLED]} of {len(shards)} shards were stopped."
    elif state != Job.State.SUCCEEDED:
        error = f"{len(shards) - states[State.SUCCEEDED]} of {len(shards)} shards did not succeed. "
        error += " ".join(f"Shard {s.seq}: {s.error[:300]}" for s in problems[:ERRORS_SHOWN])
    started = job.started_at or now
    elapsed = max((now - started).total_seconds(), 0.001)
    plan = merged_plan(shards)
    manifest = _manifest_summary(shards)
    Job.objects.filter(pk=job.pk).update(
        state=state,
        **counters,
        throughput_bps=int(counters["bytes_done"] / elapsed),
        error=error[:4000],
        verification=merged_verification(shards),
        plan=plan,
        finished_at=now,
        lease_owner="",
        lease_expires_at=None,
    )
    job.refresh_from_db()
    JobSample.objects.create(
        job=job, t=now, objects_done=job.objects_done, bytes_done=job.bytes_done
    )
    JobManifest.objects.update_or_create(
        job=job,
        defaults={
            "sha256": sha256,
            "content": b"",
            "run": SHARDED,
            "chunks": chunks,
            "lines": manifest["lines"],
            "bytes_copied": manifest["bytes_copied"],
            **{f"objects_{action}": manifest[action] for action in ACTIONS},
        },
    )
    # Chunks of attempts whose outcome was never stored (their lease was lost).
    job.manifest_chunks.exclude(Q(shard__isnull=False) & Q(run=F("shard__manifest_run"))).delete()
    audit.record(
        "job.finished",
        target=job,
        team=job.team,
        details={
            "state": state,
            "objects_done": job.objects_done,
            "bytes_done": job.bytes_done,
            "objects_skipped": job.objects_skipped,
            "objects_failed": job.objects_failed,
            "objects_deleted": job.objects_deleted,
            "objects_to_delete": plan["objects_to_delete"] if plan else None,
            "error": error[:500],
            "manifest": {"sha256": sha256, **manifest},
            "shards": len(shards),
        },
    )
    notifications.notify_job(job)
    transaction.on_commit(lambda: broadcast_job(job))
    if state == Job.State.CANCELLED:
        transaction.on_commit(lambda: dispatch.schedule_late_sweeps(job.pk))
    logger.info("job %s: %s (%d shards)", job.pk, state, len(shards))
    return str(state)


def _manifest_summary(shards: list[JobShard]) -> dict:
    total: Counter[str] = Counter()
    for shard in shards:
        summary = (shard.plan or {}).get("manifest") or {}
        for name in (*ACTIONS, "lines", "bytes_copied"):
            total[name] += summary.get(name, 0)
    return {
        "lines": total["lines"],
        **{a: total[a] for a in ACTIONS},
        "bytes_copied": total["bytes_copied"],
    }


def merged_plan(shards: list[JobShard]) -> dict | None:
    """The job's plan summary: the shards' counts added up, their samples in key order."""
    plans = [s.plan for s in shards if s.plan]
    if not plans:
        return None
    merged = {key: value for key, value in plans[0].items() if key != "manifest"}
    for name in (
        "objects_to_copy",
        "bytes_to_copy",
        "objects_to_delete",
        "objects_unchanged",
        "objects_rejected",
    ):
        merged[name] = sum(p.get(name, 0) for p in plans)
    for name in ("sample_to_copy", "sample_to_delete", "sample_rejected"):
        merged[name] = [item for p in plans for item in p.get(name, [])][:SAMPLE_SIZE]
    return merged


def merged_verification(shards: list[JobShard]) -> dict | None:
    """The shards' verifications added up (samples in key order); errors are kept."""
    found = [s.verification for s in shards if s.verification]
    if not found:
        return None
    merged: dict = {"checked": 0, "checksums_compared": 0, "mismatched": 0, "sample": []}
    errors = []
    for verification in found:
        if "error" in verification:
            errors.append(verification["error"])
            continue
        for name in ("checked", "checksums_compared", "mismatched"):
            merged[name] += verification.get(name, 0)
        merged["sample"] += verification.get("sample", [])
    merged["sample"] = merged["sample"][:SAMPLE_SIZE]
    if errors:
        merged["error"] = errors[0]
    return merged


# --- the reaper --------------------------------------------------------------------------------


def reap_shards() -> list[int]:
    """Re-queue (or fail) the running shards whose lease expired, send again the queued
    shards whose message the broker may have lost, hand out pending shards, and finish the
    jobs whose last shard ended without finishing them. Returns the ids of reaped shards."""
    now = timezone.now()
    reaped, teams, jobs = [], set(), set()
    expired = JobShard.objects.filter(state=State.RUNNING, lease_expires_at__lt=now)
    for shard in expired.select_related("job"):
        attempt = shard.attempts
        if shard.job.cancel_requested_at is not None:
            state, error = State.CANCELLED, "Cancelled; the worker stopped responding."
        elif attempt < settings.TRANSFER_MAX_ATTEMPTS:
            state = State.PENDING
            error = f"The worker of attempt {attempt} stopped responding; the shard was re-queued."
        else:
            state = State.FAILED
            error = (
                f"The worker stopped responding (no heartbeat for over "
                f"{settings.TRANSFER_LEASE_SECONDS} s) on attempt {attempt} of "
                f"{settings.TRANSFER_MAX_ATTEMPTS}; the shard was not re-run."
            )
        taken = JobShard.objects.filter(
            pk=shard.pk,
            state=State.RUNNING,
            lease_owner=shard.lease_owner,
            lease_expires_at=shard.lease_expires_at,
        ).update(
            state=state,
            error=error,
            lease_owner="",
            lease_expires_at=None,
            finished_at=None if state == State.PENDING else now,
        )
        if taken:
            logger.warning("job %s: shard %s reaped (%s)", shard.job_id, shard.seq, state)
            reaped.append(shard.pk)
            teams.add(shard.job.team_id)
            jobs.add(shard.job_id)
    # Shards of a cancelled job that had not started (cut after the request came).
    for job_id in set(
        JobShard.objects.filter(state__in=(State.PENDING, State.QUEUED))
        .exclude(job__cancel_requested_at=None)
        .values_list("job_id", flat=True)
        .order_by()
    ):
        cancel_waiting(job_id, now)
        jobs.add(job_id)
    # Queued shards whose message the broker may have lost (as for jobs, see dispatch): those
    # it has no record of, and any still unclaimed TRANSFER_REDISPATCH_SECONDS after sending.
    waiting = JobShard.objects.filter(
        state=State.QUEUED,
        dispatched_at__lt=now - timedelta(seconds=dispatch.DISPATCH_GRACE_SECONDS),
    ).order_by("dispatched_at", "pk")
    stale = now - timedelta(seconds=settings.TRANSFER_REDISPATCH_SECONDS)
    sent = list(waiting.values_list("pk", "dispatched_at")[:500])
    lost = sorted(
        {pk for pk, at in sent if at < stale}
        | set(dispatch.without_record([pk for pk, _ in sent], SHARD_RECORD))
    )
    if lost:
        JobShard.objects.filter(pk__in=lost).update(dispatched_at=now)
        _send(lost)
    teams |= set(
        JobShard.objects.filter(state=State.PENDING)
        .values_list("job__team_id", flat=True)
        .distinct()
        .order_by()
    )
    for team_id in teams:
        dispatch_pending(team_id)
    jobs |= set(
        Job.objects.filter(shards_cut_at__isnull=False, state__in=Job.ACTIVE_STATES)
        .exclude(shards__state__in=ACTIVE)
        .values_list("pk", flat=True)
    )
    for job_id in jobs:
        maybe_finish_job(job_id)
    return reaped


def cancel_waiting(job_id: int, now) -> int:
    """A cancel request: the job's shards that have not started stop at once."""
    return JobShard.objects.filter(job_id=job_id, state__in=(State.PENDING, State.QUEUED)).update(
        state=State.CANCELLED, finished_at=now, error="Cancelled before it ran."
    )
