"""From the database to the engine: endpoint credentials, option snapshots, runtime settings.

This is where an endpoint's secret is revealed, to be handed to the engine (and from there
to a boto3 client or s5cmd's environment) and nowhere else.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from transfers.engine import (
    EndpointConfig,
    KeySet,
    LocalLocation,
    Options,
    Runtime,
    S3Location,
    TransferSpec,
)
from transfers.errors import Unavailable
from transfers.job_options import JobOptions, Side
from transfers.models import Endpoint, Job, JobFailure, JobShard, SyncProfile

MiB = 1024 * 1024
# A retry of failed objects names the job whose failures it retries
# (`JobOptions.retry_failures_of`); the keys (any number) are read from that job's JobFailure
# rows by the worker, KEY_PAGE at a time.
KEY_PAGE = 5000


def endpoint_config(endpoint: Endpoint) -> EndpointConfig:
    return EndpointConfig(
        url=endpoint.url,
        access_key_id=endpoint.access_key_id,
        secret_access_key=endpoint.secret_access_key.reveal(),
        region=endpoint.region,
        addressing_style=endpoint.addressing_style,
        verify_tls=endpoint.verify_tls,
    )


def runtime() -> Runtime:
    return Runtime(
        s5cmd_path=settings.S5CMD_PATH,
        local_roots=tuple(str(root) for root in settings.LOCAL_ROOTS),
        allow_private_networks=settings.ENDPOINT_ALLOW_PRIVATE_NETWORKS,
        multipart_copy_threshold=settings.TRANSFER_MULTIPART_COPY_THRESHOLD_MB * MiB,
        relay_buffer_bytes=settings.TRANSFER_RELAY_BUFFER_MB * MiB,
        kill_grace_seconds=float(settings.TRANSFER_KILL_GRACE_SECONDS),
        small_plan_objects=settings.TRANSFER_SMALL_PLAN_OBJECTS,
    )


def options_for(profile: SyncProfile) -> JobOptions:
    """The profile's settings as a job will use them, whatever happens to the profile later."""

    def side(name: str) -> Side:
        return Side(
            endpoint=getattr(profile, f"{name}_endpoint_id"),
            bucket=getattr(profile, f"{name}_bucket"),
            prefix=getattr(profile, f"{name}_prefix"),
            path=getattr(profile, f"{name}_path"),
        )

    return JobOptions(
        source=side("source"),
        destination=side("destination"),
        mode=profile.mode,
        compare=profile.compare,
        include=tuple(profile.include_patterns),
        exclude=tuple(profile.exclude_patterns),
        source_wildcards=profile.source_wildcards,
        workers=profile.workers,
        concurrency=profile.concurrency,
        part_size_mb=profile.part_size_mb,
        storage_class=profile.storage_class,
        verify_after=profile.verify_after,
        delete_threshold=profile.delete_threshold,
    )


def snapshot_options(profile: SyncProfile) -> dict[str, Any]:
    """`options_for(profile)` as a job stores it (`Job.options`)."""
    return options_for(profile).to_dict()


def spec_from_options(
    options: JobOptions,
    *,
    team_id: int,
    delete_threshold: int | None = None,
    only_keys: KeySet | None = None,
    key_range: tuple[str, str | None] | None = None,
) -> TransferSpec:
    """A spec from a snapshot; endpoints are read now, so a rotated secret takes effect."""
    endpoints = Endpoint.objects.filter(team_id=team_id).in_bulk(
        [pk for pk in options.endpoints() if pk is not None]
    )

    def location(name: str):
        side: Side = getattr(options, name)
        if side.endpoint is None:
            return LocalLocation(side.path)
        endpoint = endpoints.get(side.endpoint)
        if endpoint is None:
            raise Unavailable(f"The {name} endpoint of this job no longer exists.")
        return S3Location(endpoint_config(endpoint), side.bucket, side.prefix)

    return TransferSpec(
        source=location("source"),
        destination=location("destination"),
        options=Options(
            mode=options.mode,
            compare=options.compare,
            include=options.include,
            exclude=options.exclude,
            source_wildcards=options.source_wildcards,
            workers=options.workers,
            concurrency=options.concurrency,
            part_size_mb=options.part_size_mb,
            storage_class=options.storage_class,
            verify_after=options.verify_after,
            delete_threshold=(
                options.delete_threshold if delete_threshold is None else delete_threshold
            ),
            only_keys=only_keys if only_keys is not None else options.only_keys,
            skip_intact=options.skip_intact,
            key_range=key_range,
        ),
        runtime=runtime(),
    )


def spec_for_job(
    job: Job,
    *,
    retry_keys: bool = True,
    key_range: tuple[str, str | None] | None = None,
) -> TransferSpec:
    """An approved job may delete as many objects as the approver saw planned. A retry of
    failed objects reads their keys from the failures of the job it retries, into a KeySet
    on disk (close it after the run); without `retry_keys`, the spec has none. `key_range`
    narrows it to one shard's keys (see transfers.shards)."""
    options = job.run_options
    if options is None:
        raise Unavailable("This job has no settings to run with.")
    threshold = options.delete_threshold
    if job.approved_at is not None and job.plan:
        threshold = max(threshold, job.plan.get("objects_to_delete", 0))
    keys = None
    if options.retry_failures_of is not None and retry_keys:
        keys = failed_keys(options.retry_failures_of)
    try:
        return spec_from_options(
            options,
            team_id=job.team_id,
            delete_threshold=threshold,
            only_keys=keys,
            key_range=key_range,
        )
    except Exception:
        if keys is not None:
            keys.close()
        raise


def failed_keys(job_id: int) -> KeySet:
    """The keys of the failures of job `job_id`, read in pages by id into a KeySet."""
    if not Job.objects.filter(pk=job_id).exists():
        raise Unavailable(
            f"Job #{job_id}, whose failed objects this job retries, no longer exists; "
            "run the whole profile instead."
        )
    failures = JobFailure.objects.filter(job_id=job_id).order_by("pk").values_list("pk", "key")

    def keys():
        last = 0
        while page := list(failures.filter(pk__gt=last)[:KEY_PAGE]):
            last = page[-1][0]
            yield from (key for _, key in page)

    return KeySet(keys(), ranges=failed_ranges(job_id))


def failed_ranges(job_id: int) -> list[tuple[str, str | None]]:
    """The key ranges of the shards of job `job_id` that failed as a whole: never planned
    (their listing failed, or their worker died on every attempt), or failed with no failed
    object to retry. A retry lists them again."""
    has_failures = JobFailure.objects.filter(shard=OuterRef("pk"))
    return list(
        JobShard.objects.filter(job_id=job_id, state=JobShard.State.FAILED)
        .filter(Q(plan__isnull=True) | ~Exists(has_failures))
        .order_by("seq")
        .values_list("after_key", "upto_key")
    )
