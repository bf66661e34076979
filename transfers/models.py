from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from accounts.access import TeamScopedQuerySet
from accounts.models import Team
from syncportal.fields import EncryptedTextField
from transfers.cron import Cron, parse, validate_schedule
from transfers.engine.errors import InvalidValue
from transfers.freshness import Freshness, evaluate
from transfers.job_options import JobOptions


class EndpointQuerySet(TeamScopedQuerySet):
    pass


class Endpoint(models.Model):
    """An S3-compatible service (AWS, MinIO, ...) and the credentials a team uses on it."""

    class Addressing(models.TextChoices):
        AUTO = "auto", "Automatic"
        PATH = "path", "Path style (https://host/bucket/key)"
        VIRTUAL = "virtual", "Virtual-hosted (https://bucket.host/key)"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=100)
    url = models.URLField(
        "endpoint URL", max_length=255, blank=True, help_text="Leave blank for AWS S3."
    )
    region = models.CharField(max_length=64, default="us-east-1")
    addressing_style = models.CharField(
        max_length=16, choices=Addressing.choices, default=Addressing.AUTO
    )
    verify_tls = models.BooleanField("verify TLS certificates", default=True)
    access_key_id = models.CharField(max_length=128)
    secret_access_key = EncryptedTextField(help_text="Write-only; stored encrypted.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="endpoint_unique_team_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("endpoint_detail", args=[self.pk])

    @property
    def display_url(self) -> str:
        return self.url or "AWS S3"


class SyncProfileQuerySet(TeamScopedQuerySet):
    def with_last_success(self) -> SyncProfileQuerySet:
        """Annotate `last_success_at` (start of the latest succeeded job), for freshness."""
        succeeded = Job.objects.filter(profile=OuterRef("pk"), state=Job.State.SUCCEEDED)
        latest = succeeded.order_by("-started_at").values("started_at")[:1]
        return self.annotate(last_success_at=Subquery(latest))


_source_s3 = Q(source_endpoint__isnull=False, source_path="") & ~Q(source_bucket="")
_source_local = Q(source_endpoint__isnull=True, source_bucket="", source_prefix="") & ~Q(
    source_path=""
)
_dest_s3 = Q(destination_endpoint__isnull=False, destination_path="") & ~Q(destination_bucket="")
_dest_local = Q(
    destination_endpoint__isnull=True, destination_bucket="", destination_prefix=""
) & ~Q(destination_path="")


class SyncProfile(models.Model):
    """What to move where and how: a source, a destination, a mode, filters and tuning."""

    class Mode(models.TextChoices):
        COPY = "copy", "Copy (copy everything, overwrite)"
        SYNC = "sync", "Sync (copy only new and changed objects)"
        MIRROR = "mirror", "Mirror (sync, then delete what the source no longer has)"

    class Compare(models.TextChoices):
        SIZE_MTIME = "size_mtime", "Size and modification time"
        SIZE_ONLY = "size_only", "Size only"
        CHECKSUM = "checksum", "Checksum (ETag) where comparable"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="profiles")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)

    # A location is an endpoint + bucket + prefix, or a local path under LOCAL_ROOTS.
    source_endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source_bucket = models.CharField(max_length=63, blank=True)
    source_prefix = models.CharField(max_length=1024, blank=True)
    source_path = models.CharField("source local path", max_length=1024, blank=True)
    destination_endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination_bucket = models.CharField(max_length=63, blank=True)
    destination_prefix = models.CharField(max_length=1024, blank=True)
    destination_path = models.CharField("destination local path", max_length=1024, blank=True)

    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.SYNC)
    compare = models.CharField(max_length=16, choices=Compare.choices, default=Compare.SIZE_MTIME)
    include_patterns = models.JSONField(default=list, blank=True)
    exclude_patterns = models.JSONField(default=list, blank=True)
    source_wildcards = models.BooleanField(
        default=False, help_text="Treat * and ? in the source prefix as wildcards, not literally."
    )

    workers = models.PositiveSmallIntegerField(
        default=64,
        validators=[MinValueValidator(1), MaxValueValidator(1024)],
        help_text="Objects transferred in parallel (s5cmd --numworkers).",
    )
    concurrency = models.PositiveSmallIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="Parts per object transferred in parallel.",
    )
    part_size_mb = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(5), MaxValueValidator(5120)],
        help_text="Multipart part size in MiB.",
    )
    storage_class = models.CharField(max_length=32, blank=True)
    verify_after = models.BooleanField(
        default=True, help_text="Compare source and destination listings after the run."
    )
    delete_threshold = models.PositiveIntegerField(
        default=100,
        help_text="A mirror that would delete more objects than this waits for approval.",
    )
    max_parallel_shards = models.PositiveSmallIntegerField(
        "most shards at once",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(256)],
        help_text="A large job is split into shards that run on any free worker: at most this "
        "many of this profile's at a time. Blank: automatic (TRANSFER_SHARDS_PER_JOB).",
    )
    schedule = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_schedule],
        help_text="Cron expression (UTC), e.g. '30 2 * * *'; blank for manual runs only.",
    )
    schedule_enabled = models.BooleanField(
        default=True, help_text="Off: the schedule is kept but does not start runs."
    )
    # The beat entry that fires the schedule (django-celery-beat), kept in step by the services.
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    max_staleness_minutes = models.PositiveIntegerField(
        "freshness target (minutes)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(366 * 24 * 60)],
        help_text="The destination may be at most this far behind: the last successful run "
        "must have started within it. Blank: not tracked.",
    )
    # Set when a missed freshness target was noticed (and notified), cleared once fresh again.
    freshness_breached_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SyncProfileQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="profile_unique_team_name"),
            models.CheckConstraint(
                condition=_source_s3 | _source_local, name="profile_source_is_s3_or_local"
            ),
            models.CheckConstraint(
                condition=_dest_s3 | _dest_local, name="profile_destination_is_s3_or_local"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=["copy", "sync", "mirror"]), name="profile_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("profile_detail", args=[self.pk])

    @property
    def source_display(self) -> str:
        return _location_display(
            self.source_endpoint, self.source_bucket, self.source_prefix, self.source_path
        )

    @property
    def destination_display(self) -> str:
        return _location_display(
            self.destination_endpoint,
            self.destination_bucket,
            self.destination_prefix,
            self.destination_path,
        )

    @property
    def cron(self) -> Cron | None:
        """The parsed schedule; None without one (or for a value saved before validation)."""
        if not self.schedule:
            return None
        try:
            return parse(self.schedule)
        except InvalidValue:
            return None

    @property
    def schedule_description(self) -> str:
        """The schedule in words, e.g. 'At 02:30, Monday through Friday (UTC)'; '' if none."""
        cron = self.cron
        return cron.describe() if cron is not None else ""

    def next_runs(self, count: int = 3, *, after: datetime | None = None) -> list[datetime]:
        """When the schedule fires next (UTC); empty without a schedule or when it is off."""
        cron = self.cron
        if cron is None or not self.schedule_enabled:
            return []
        return cron.next_runs(count, after=after or timezone.now())

    @property
    def next_run_times(self) -> list[datetime]:
        return self.next_runs(3)

    @property
    def freshness(self) -> Freshness:
        """Fresh, stale, never run or untracked, now: see `transfers.freshness`."""
        return self.freshness_at(timezone.now())

    def freshness_at(self, now: datetime) -> Freshness:
        return evaluate(
            target_minutes=self.max_staleness_minutes,
            last_success_at=self.latest_success_start(),
            created_at=self.created_at,
            now=now,
        )

    def latest_success_start(self) -> datetime | None:
        """When the latest succeeded run started: from the `with_last_success()` annotation
        when present, else one query."""
        if "last_success_at" in self.__dict__:
            return self.__dict__["last_success_at"]
        return (
            Job.objects.filter(profile=self, state=Job.State.SUCCEEDED)
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )


def _location_display(endpoint: Endpoint | None, bucket: str, prefix: str, path: str) -> str:
    if endpoint is None:
        return f"local:{path}"
    return f"{endpoint.name}: s3://{bucket}/{prefix}"


def progress_percent(
    objects_done: int, objects_total: int | None, bytes_done: int, bytes_total: int | None
) -> float | None:
    """How far a run is: the lower of its byte and object percentages, so that many small
    objects left after the large ones are done still show (static/js/live.js agrees)."""
    shares = [
        100.0 * done / total
        for done, total in ((bytes_done, bytes_total), (objects_done, objects_total))
        if total
    ]
    return min(100.0, *shares) if shares else None


class JobQuerySet(TeamScopedQuerySet):
    def active(self) -> JobQuerySet:
        return self.filter(state__in=Job.ACTIVE_STATES)

    def lock_if_held(self, pk: int, owner: str) -> dict | None:
        """Lock the job's row, inside a transaction, if `owner` still holds its lease: then
        `{"cancel_requested_at": ...}` (a cancel either came before the lock or waits for it),
        else None (the reaper or another worker has the job)."""
        rows = self.select_for_update().filter(pk=pk, lease_owner=owner)
        return rows.values("cancel_requested_at").first()


class Job(models.Model):
    """One run of a profile, with its state, counters and timings; PostgreSQL is its truth."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        PLANNING = "planning", "Planning"
        RUNNING = "running", "Running"
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        VERIFYING = "verifying", "Verifying"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        API = "api", "API"
        SCHEDULE = "schedule", "Schedule"
        RETRY = "retry", "Retry"
        CONTINUE = "continue", "Continue"

    ACTIVE_STATES = (
        State.QUEUED,
        State.PLANNING,
        State.RUNNING,
        State.AWAITING_APPROVAL,
        State.VERIFYING,
    )
    FINISHED_STATES = (State.SUCCEEDED, State.PARTIAL, State.FAILED, State.CANCELLED)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="jobs")
    # Jobs outlive their profile: the history of a deleted profile stays with its team.
    profile = models.ForeignKey(
        SyncProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    profile_name = models.CharField(max_length=100)
    options = models.JSONField(
        default=dict, blank=True, help_text="The profile's settings when the job was created."
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    idempotency_key = models.CharField(max_length=64, blank=True)
    plan = models.JSONField(
        null=True, blank=True, help_text="What the run planned: counts and sample keys."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    objects_total = models.BigIntegerField(null=True, blank=True)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    objects_done = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    objects_skipped = models.BigIntegerField(default=0)
    objects_failed = models.BigIntegerField(default=0)
    objects_deleted = models.BigIntegerField(default=0)
    throughput_bps = models.BigIntegerField("average throughput (bytes/s)", null=True, blank=True)
    predicted_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Expected duration, from the plan and earlier runs' throughput (see "
        "transfers.prediction); empty when there was nothing to go by.",
    )
    prediction_basis = models.CharField(
        max_length=100,
        blank=True,
        help_text='What the prediction is based on ("based on the last 5 runs of this profile").',
    )

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    command = models.TextField(blank=True, help_text="The s5cmd command line, secrets redacted.")
    exit_code = models.SmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    verification = models.JSONField(null=True, blank=True)

    # The lease: the worker holding the job renews it; an expired lease means the worker died.
    lease_owner = models.CharField(max_length=255, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A large job is cut into shards (JobShard) as its source is listed; set once the cut
    # reached the end of the source (or stopped for a cancel): from then on the job's outcome
    # is derived from its shards when the last of them finishes.
    shards_cut_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "lease_expires_at"]),
            # Lists are newest first by (created_at, id), the API's cursor too: one ordered index
            # range per team, team and state, profile, or date range, however long the history.
            models.Index(fields=["team", "-created_at", "-id"], name="job_team_newest"),
            models.Index(
                fields=["team", "state", "-created_at", "-id"], name="job_team_state_newest"
            ),
            models.Index(fields=["profile", "-created_at", "-id"], name="job_profile_newest"),
            # With the team too: otherwise the planner walks the team's index, and a profile
            # that last ran long ago costs every newer job of the team.
            models.Index(
                fields=["team", "profile", "-created_at", "-id"], name="job_team_profile_newest"
            ),
            models.Index(fields=["-created_at", "-id"], name="job_newest"),  # superusers
            # The dashboard: what finished today, failures of the week, jobs with recent samples.
            models.Index(fields=["team", "-finished_at"], name="job_team_finished"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="job_unique_idempotency_key",
            ),
            # Two runs of one profile would race on the same destination.
            models.UniqueConstraint(
                fields=["profile"],
                condition=Q(
                    state__in=["queued", "planning", "running", "awaiting_approval", "verifying"]
                ),
                name="job_one_active_per_profile",
            ),
            models.CheckConstraint(
                condition=Q(objects_done__gte=0, bytes_done__gte=0), name="job_counters_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Job #{self.pk} ({self.profile_name})"

    def get_absolute_url(self) -> str:
        return reverse("job_detail", args=[self.pk])

    @property
    def run_options(self) -> JobOptions | None:
        """`options` as a typed value (`transfers.job_options`); None for a job stored without
        any (only tests make those)."""
        return JobOptions.from_dict(self.options) if self.options else None

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def duration_seconds(self) -> float | None:
        """From start to finish, or so far while it runs; None before it starts."""
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())

    @property
    def percent(self) -> float | None:
        return progress_percent(
            self.objects_done, self.objects_total, self.bytes_done, self.bytes_total
        )


class JobShardQuerySet(TeamScopedQuerySet):
    team_field = "job__team"


class JobShard(models.Model):
    """One key range of a large job, run as its own task by any worker: the job's plan is cut
    into shards by object count and bytes, each claimed with a lease like a job, and the job's
    counters, outcome and manifest are derived from its shards (docs/engine.md, "Shards").

    The ranges of a job's shards follow each other in key order and cover every key: a shard
    holds the keys k (relative to the profile's prefixes) with `after_key` < k <= `upto_key`.
    Every key is after "" (the first shard's `after_key`); the last shard's `upto_key` is None,
    the end of the key space."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"  # cut, waiting for a free slot under the caps
        QUEUED = "queued", "Queued"  # sent to the broker, not claimed yet
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATES = (State.PENDING, State.QUEUED, State.RUNNING)
    FINISHED_STATES = (State.SUCCEEDED, State.PARTIAL, State.FAILED, State.CANCELLED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="shards")
    seq = models.PositiveIntegerField(help_text="Position in key order, from 0.")
    after_key = models.CharField(max_length=1024, blank=True, default="")
    # None is the end of the key space; "" would be a key before every other.
    upto_key = models.CharField(max_length=1024, null=True, blank=True)  # noqa: DJ001
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)

    # What the cut saw of the source in this range (the shard plans its range itself).
    planned_objects = models.BigIntegerField(default=0)
    planned_bytes = models.BigIntegerField(default=0)

    objects_total = models.BigIntegerField(null=True, blank=True)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    objects_done = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    objects_skipped = models.BigIntegerField(default=0)
    objects_failed = models.BigIntegerField(default=0)
    objects_deleted = models.BigIntegerField(default=0)

    lease_owner = models.CharField(
        max_length=255, blank=True, help_text="The worker running it (host:pid:id)."
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The worker of the last attempt, kept after the lease is released (for the job page).
    worker = models.CharField(max_length=255, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    verification = models.JSONField(null=True, blank=True)
    plan = models.JSONField(null=True, blank=True, help_text="The shard's own plan summary.")
    # When it was last sent to the broker (a queued shard whose message was lost is sent
    # again), and which JobManifestChunk rows (their `run`) are its manifest lines.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    manifest_run = models.CharField(max_length=32, blank=True)

    objects = JobShardQuerySet.as_manager()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="job_shard_seq"),
        ]
        indexes = [
            models.Index(fields=["job", "state"], name="job_shard_state"),
            models.Index(fields=["state", "lease_expires_at"], name="job_shard_lease"),
        ]

    def __str__(self) -> str:
        return f"Shard {self.seq} of job #{self.job_id}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class JobSampleQuerySet(TeamScopedQuerySet):
    team_field = "job__team"


class JobSample(models.Model):
    """A point of a job's progress time series (about one a second), for the throughput chart."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="samples")
    t = models.DateTimeField()
    objects_done = models.BigIntegerField()
    bytes_done = models.BigIntegerField()

    objects = JobSampleQuerySet.as_manager()

    class Meta:
        ordering = ["job", "t"]
        indexes = [models.Index(fields=["job", "t"])]

    def __str__(self) -> str:
        return f"{self.job_id}@{self.t.isoformat()}"


class JobFailureQuerySet(TeamScopedQuerySet):
    team_field = "job__team"


class JobFailure(models.Model):
    """An object a job could not copy, delete or verify, and why; a retry starts from these."""

    class Operation(models.TextChoices):
        COPY = "copy", "Copy"
        DELETE = "delete", "Delete"
        VERIFY = "verify", "Verify"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="failures")
    # The shard (of a sharded job) whose run found it; a new attempt of the shard replaces them.
    shard = models.ForeignKey(
        JobShard, null=True, blank=True, on_delete=models.CASCADE, related_name="failures"
    )
    key = models.CharField(max_length=1024, help_text="Relative to the profile's prefixes.")
    operation = models.CharField(max_length=8, choices=Operation.choices)
    error = models.TextField()

    objects = JobFailureQuerySet.as_manager()

    class Meta:
        ordering = ["job", "id"]
        indexes = [models.Index(fields=["job", "operation"])]

    def __str__(self) -> str:
        return f"{self.operation} {self.key}: {self.error[:80]}"


class JobManifestQuerySet(TeamScopedQuerySet):
    team_field = "job__team"


class JobManifest(models.Model):
    """What a finished job copied, skipped, deleted and failed, object by object, with sizes and
    ETags: gzip'd JSON Lines (in JobManifestChunk rows), whose SHA-256 `job.finished` records."""

    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="manifest")
    created_at = models.DateTimeField(auto_now_add=True)
    # Of the JSON Lines as downloaded (uncompressed): `sha256sum` of the download matches it.
    sha256 = models.CharField(max_length=64)
    # Manifests stored before chunks: the whole gzip here, and no `run`.
    content = models.BinaryField(blank=True, default=b"", help_text="gzip of the JSON Lines.")
    run = models.CharField(
        max_length=32, blank=True, help_text="Which JobManifestChunk rows of the job are its lines."
    )
    chunks = models.PositiveIntegerField(default=0)
    lines = models.BigIntegerField(default=0)
    objects_copied = models.BigIntegerField(default=0)
    objects_skipped = models.BigIntegerField(default=0)
    objects_deleted = models.BigIntegerField(default=0)
    objects_failed = models.BigIntegerField(default=0)
    bytes_copied = models.BigIntegerField(default=0)

    objects = JobManifestQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Manifest of job #{self.job_id}"


class JobManifestChunk(models.Model):
    """Consecutive lines of a job's manifest, gzip'd: written while the manifest is made, read
    one after the other (by `seq`) to download it. `run` tells one writing from another."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="manifest_chunks")
    # A sharded job's chunks belong to the shard that wrote them (`JobShard.manifest_run`).
    shard = models.ForeignKey(
        JobShard, null=True, blank=True, on_delete=models.CASCADE, related_name="manifest_chunks"
    )
    run = models.CharField(max_length=32)
    seq = models.PositiveIntegerField()
    lines = models.PositiveIntegerField()
    first_key = models.CharField(max_length=1024)
    last_key = models.CharField(max_length=1024)
    content = models.BinaryField(help_text="gzip of the chunk's JSON Lines.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "run", "seq"], name="manifest_chunk_seq")
        ]

    def __str__(self) -> str:
        return f"Manifest chunk {self.seq} of job #{self.job_id}"


class SkippedRunQuerySet(TeamScopedQuerySet):
    pass


class SkippedRun(models.Model):
    """A scheduled run that did not start, and why (e.g. the previous run was still going)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(SyncProfile, on_delete=models.CASCADE, related_name="skipped_runs")
    at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    blocking_job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = SkippedRunQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["profile", "-at"])]

    def __str__(self) -> str:
        return f"{self.profile_id} skipped at {self.at.isoformat()}"


class NotificationQuerySet(TeamScopedQuerySet):
    team_field = "profile__team"


class Notification(models.Model):
    """Who hears about a profile: an email address or a webhook URL, and for which events."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Event(models.TextChoices):
        FAILED = "job.failed", "Run failed"
        PARTIAL = "job.partial", "Run partly failed"
        SUCCEEDED = "job.succeeded", "Run succeeded"
        STALE = "profile.stale", "Freshness target missed"

    profile = models.ForeignKey(SyncProfile, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=2000, help_text="An email address or a webhook URL.")
    events = models.JSONField(default=list, help_text="The events this target wants.")
    secret = EncryptedTextField(
        null=True, blank=True, help_text="Webhooks: the signing key. Write-only; stored encrypted."
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["profile", "channel", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "channel", "target"], name="notification_unique_target"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["email", "webhook"]), name="notification_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        # Shown wherever the notification is named (admin pages, choices): never the token.
        return f"{self.get_channel_display()} {self.target_display}"

    def wants(self, event: str) -> bool:
        return self.enabled and event in self.events

    @property
    def target_display(self) -> str:
        """Webhook URLs often carry a token in their path: show and log only scheme and host."""
        if self.channel == self.Channel.WEBHOOK:
            parts = urlsplit(self.target)
            return f"{parts.scheme}://{parts.netloc}/…"
        return self.target

    @property
    def event_labels(self) -> list[str]:
        return [self.Event(event).label for event in self.events if event in self.Event.values]


class DeliveryQuerySet(TeamScopedQuerySet):
    team_field = "notification__profile__team"


class Delivery(models.Model):
    """One event sent to one notification target: its attempts, the answer and the last error."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=32, choices=Notification.Event.choices)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField(help_text="What the event says; the body sent is built from it.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["notification", "-created_at"]),
            models.Index(fields=["state", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.notification_id}: {self.state}"


class PreviewQuerySet(TeamScopedQuerySet):
    def fresh(self, now: datetime | None = None) -> PreviewQuerySet:
        """Previews whose result is still kept (PREVIEW_RESULT_HOURS after they were asked for,
        or after they finished); older ones are pruned."""
        return self.filter(expires_at__gt=now or timezone.now())


class Preview(models.Model):
    """A dry run of a profile in a worker: both sides listed and merged into a plan, with its
    progress while it lists and the plan's summary once done; moves nothing."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Listing"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(SyncProfile, on_delete=models.CASCADE, related_name="previews")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    source_listed = models.BigIntegerField(default=0, help_text="Source objects listed so far.")
    destination_listed = models.BigIntegerField(
        null=True, blank=True, help_text="Destination objects listed so far; empty in copy mode."
    )
    result = models.JSONField(
        null=True,
        blank=True,
        help_text="The plan's counts and sample keys, and the predicted duration (bounded).",
    )
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Renewed by the worker while it lists: a running preview whose worker died stops being
    # renewed, and the reaper fails it.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    objects = PreviewQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["profile", "-created_at", "-id"], name="preview_profile_newest"),
            models.Index(fields=["state", "heartbeat_at"], name="preview_state_heartbeat"),
            models.Index(fields=["expires_at"], name="preview_expires"),
        ]
        constraints = [
            # A second listing of the same buckets at once would only double their load.
            models.UniqueConstraint(
                fields=["profile"],
                condition=Q(state__in=["queued", "running"]),
                name="preview_one_active_per_profile",
            ),
        ]

    def __str__(self) -> str:
        return f"Preview #{self.pk} of profile {self.profile_id}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def elapsed_seconds(self) -> float:
        """From the request (or the start of the listing) to the end, or so far."""
        start = self.started_at or self.created_at
        end = self.finished_at or timezone.now()
        return max(0.0, round((end - start).total_seconds(), 3))
