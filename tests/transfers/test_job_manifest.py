"""Per-job manifests: what a run copied, skipped, deleted and failed on, with sizes and ETags,
stored compressed, hashed into the job's completion event and downloadable by its team."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import AuditEvent
from tests.support import enrol_totp, wait_until
from tests.transfers.support import put_objects, run_here, wait_for_job
from transfers import manifests, services
from transfers.engine import ManifestEntry, S3Location
from transfers.engine.journal import Journal
from transfers.engine.listing import ObjectInfo
from transfers.engine.locations import EndpointConfig
from transfers.engine.manifest import Manifest
from transfers.engine.planning import Route, plan_listings
from transfers.manifests import ManifestWriter
from transfers.models import Job, JobManifest, JobManifestChunk

LONG_KEY = "deep/" + "k" * 1000  # too long under the destination prefix below: rejected
SOURCE = {"new.csv": b"a,b\n1,2\n", "same.txt": b"unchanged", LONG_KEY: b"never copied"}
DESTINATION = {"same.txt": b"unchanged", "old/gone.bin": b"deleted by the mirror"}
PREFIX = "a-destination-prefix-of-forty-characters/"


def etags(client, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    return {o["Key"][len(prefix) :]: (o["Size"], o["ETag"].strip('"')) for o in listing}


def mirror_profile(team, operator, endpoint, source_bucket: str, destination_bucket: str, **more):
    """A mirror of in/ to PREFIX without verification (the manifest is the report here)."""
    return services.create_profile(
        team,
        actor=operator,
        name="mirror",
        mode="mirror",
        verify_after=False,
        source_endpoint=endpoint,
        source_bucket=source_bucket,
        source_prefix="in/",
        destination_endpoint=endpoint,
        destination_bucket=destination_bucket,
        destination_prefix=PREFIX,
        **more,
    )


def download_lines(response) -> tuple[bytes, list[dict]]:
    body = b"".join(response.streaming_content)
    return body, [json.loads(line) for line in body.splitlines()]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_mirror_run_leaves_a_manifest_hashed_into_its_completion_event(
    celery_worker, client, team, operator, viewer, outsider, s3_a, endpoint_a
):
    s3 = s3_a.client()
    source_bucket, destination_bucket = s3_a.bucket("src"), s3_a.bucket("dst")
    put_objects(s3, source_bucket, SOURCE, prefix="in/")
    put_objects(s3, destination_bucket, DESTINATION, prefix=PREFIX)
    # The destination's copy of same.txt must not look older (size_mtime): S3 times are whole
    # seconds, so put it again once the clock has passed the source's second.
    newest = max(
        item["LastModified"] for item in s3.list_objects_v2(Bucket=source_bucket)["Contents"]
    )
    wait_until(lambda: datetime.now(UTC) >= newest + timedelta(seconds=1), "a later second")
    put_objects(s3, destination_bucket, {"same.txt": DESTINATION["same.txt"]}, prefix=PREFIX)
    source = etags(s3, source_bucket, "in/")
    before = etags(s3, destination_bucket, PREFIX)
    profile = mirror_profile(team, operator, endpoint_a, source_bucket, destination_bucket)

    job = wait_for_job(services.start_job(profile, actor=operator))

    assert job.state == Job.State.PARTIAL, job.error
    client.force_login(viewer)
    response = client.get(f"/jobs/{job.pk}/manifest/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert f"job-{job.pk}-manifest.jsonl" in response["Content-Disposition"]
    body, lines = download_lines(response)
    assert lines == [
        {"key": "new.csv", "action": "copied", "size": 8, "etag": source["new.csv"][1]},
        {"key": "same.txt", "action": "skipped", "size": 9, "etag": source["same.txt"][1]},
        {
            "key": "old/gone.bin",
            "action": "deleted",
            "size": before["old/gone.bin"][0],
            "etag": before["old/gone.bin"][1],
        },
        {
            "key": LONG_KEY,
            "action": "failed",
            "size": 12,
            "etag": source[LONG_KEY][1],
            "operation": "copy",
            "error": "the destination key would be longer than 1024 bytes",
        },
    ]
    digest = hashlib.sha256(body).hexdigest()
    assert response["X-Manifest-SHA256"] == digest

    event = AuditEvent.objects.get(action="job.finished", target_id=str(job.pk))
    assert event.details["manifest"] == {
        "sha256": digest,
        "lines": 4,
        "copied": 1,
        "skipped": 1,
        "deleted": 1,
        "failed": 1,
        "bytes_copied": 8,
    }
    stored = JobManifest.objects.get(job=job)
    assert (stored.objects_copied, stored.objects_failed, stored.sha256) == (1, 1, digest)

    enrol_totp(outsider)  # a team admin elsewhere: MFA, as the policy demands
    client.force_login(outsider)
    assert client.get(f"/jobs/{job.pk}/manifest/").status_code == 404


def test_a_job_without_a_manifest_has_nothing_to_download(client, team, viewer):
    job = Job.objects.create(team=team, profile_name="cancelled before it ran", state="cancelled")
    client.force_login(viewer)
    assert client.get(f"/jobs/{job.pk}/manifest/").status_code == 404


def test_only_completed_copies_count_as_copied():
    """A cancelled run planned three copies and finished one: the manifest says so."""
    source = [(key, ObjectInfo(size=n, etag=f"e{n}")) for n, key in enumerate("abcd", 1)]
    destination = [("d", ObjectInfo(size=4, etag="e4"))]
    plan = plan_listings(
        lambda: source,
        lambda: destination,
        route=Route.SERVER_SIDE,
        mode="sync",
        compare="size_only",
        target=S3Location(EndpointConfig("", "key", "secret"), "bucket", ""),
    )
    journal = Journal()
    journal.copied("b")
    manifest = Manifest(plan=plan, journal=journal)
    assert [(e.key, e.action, e.size) for e in manifest] == [
        ("b", "copied", 2),
        ("d", "skipped", 4),
    ]


@pytest.mark.django_db
def test_a_hundred_thousand_objects_compress_to_little(team):
    job = Job.objects.create(team=team, profile_name="big", state="succeeded")
    entries = (
        ManifestEntry(f"dataset/part-{n:06d}.parquet", "copied", 1_000_000 + n, f"{n:032x}")
        for n in range(100_000)
    )
    written = ManifestWriter(job, chunk_lines=25_000).write(entries)
    chunks = list(JobManifestChunk.objects.filter(job=job).order_by("seq"))
    raw = b"".join(gzip.decompress(bytes(chunk.content)) for chunk in chunks)
    assert raw.count(b"\n") == 100_000 and hashlib.sha256(raw).hexdigest() == written.sha256
    assert [c.lines for c in chunks] == [25_000] * 4
    assert (chunks[0].first_key, chunks[-1].last_key) == (
        "dataset/part-000000.parquet",
        "dataset/part-099999.parquet",
    )
    assert sum(len(c.content) for c in chunks) < len(raw) / 4
    assert written.summary()["bytes_copied"] == sum(1_000_000 + n for n in range(100_000))


@pytest.mark.django_db(transaction=True)
def test_a_manifest_of_many_chunks_downloads_byte_identical_with_its_recorded_hash(
    monkeypatch, settings, client, team, operator, viewer, s3_a, endpoint_a
):
    """Chunks of three lines: every group (copied, skipped, deleted, failed) spans chunks, and
    the download reads them back a few at a time, in order, whatever their number."""
    settings.TRANSFER_QUEUE = "nobody-listens-here"  # run here, with this chunk size
    settings.TRANSFER_MANIFEST_CHUNK_LINES = 3
    s3 = s3_a.client()
    bucket = s3_a.bucket()
    source = {f"new-{n:02d}.txt": b"n" * n for n in range(1, 8)}
    source |= {f"same-{n:02d}.txt": b"s" * n for n in range(1, 6)}
    source |= {f"deep/{n}" + "k" * 1000: b"too long" for n in range(4)}  # rejected: failed
    put_objects(s3, bucket, source, prefix="in/")
    unchanged = {k: v for k, v in source.items() if k.startswith("same-")}
    gone = {f"old/gone-{n}.bin": b"g" * n for n in range(1, 6)}
    put_objects(s3, bucket, unchanged | gone, prefix=PREFIX)
    profile = mirror_profile(team, operator, endpoint_a, bucket, bucket, compare="size_only")
    job = services.start_job(profile, actor=operator)

    run_here(monkeypatch, job)

    job.refresh_from_db()
    assert job.state == Job.State.PARTIAL, job.error
    stored = JobManifest.objects.get(job=job)
    assert stored.lines == 7 + 5 + 5 + 4 and stored.content == b""
    chunks = list(JobManifestChunk.objects.filter(job=job).order_by("seq"))
    assert [c.seq for c in chunks] == list(range(7)) and stored.chunks == 7
    assert [c.lines for c in chunks] == [3] * 7
    client.force_login(viewer)
    response = client.get(f"/jobs/{job.pk}/manifest/")
    assert response.status_code == 200
    body, lines = download_lines(response)
    assert [(line["action"], line["key"]) for line in lines] == (
        [("copied", k) for k in sorted(k for k in source if k.startswith("new-"))]
        + [("skipped", k) for k in sorted(unchanged)]
        + [("deleted", k) for k in sorted(gone)]
        + [("failed", k) for k in sorted(k for k in source if k.startswith("deep/"))]
    )
    assert [(c.first_key, c.last_key) for c in chunks[:1]] == [("new-01.txt", "new-03.txt")]
    digest = hashlib.sha256(body).hexdigest()
    event = AuditEvent.objects.get(action="job.finished", target_id=str(job.pk))
    assert response["X-Manifest-SHA256"] == stored.sha256 == event.details["manifest"]["sha256"]
    assert digest == stored.sha256


@pytest.mark.django_db
def test_the_download_reads_a_few_chunks_per_query(team, django_assert_num_queries):
    job = Job.objects.create(team=team, profile_name="big", state="succeeded")
    entries = [ManifestEntry(f"k{n:03d}", "copied", n, "") for n in range(100)]
    written = ManifestWriter(job, chunk_lines=7).write(entries)
    manifest = written.save(job)
    assert manifest.chunks == 15

    with django_assert_num_queries(-(-15 // manifests.CHUNKS_PER_QUERY)):
        body = b"".join(manifests.lines(manifest))
    assert body.count(b"\n") == 100 and hashlib.sha256(body).hexdigest() == written.sha256


@pytest.mark.django_db
def test_a_manifest_stored_whole_before_chunks_still_downloads(client, team, viewer):
    job = Job.objects.create(team=team, profile_name="older", state="succeeded")
    raw = b'{"key":"a","action":"copied","size":1,"etag":""}\n' * 1000
    JobManifest.objects.create(
        job=job,
        sha256=hashlib.sha256(raw).hexdigest(),
        content=gzip.compress(raw, mtime=0),
        lines=1000,
        objects_copied=1000,
    )
    client.force_login(viewer)
    response = client.get(f"/jobs/{job.pk}/manifest/")
    body = b"".join(response.streaming_content)
    assert body == raw and response["X-Manifest-SHA256"] == hashlib.sha256(raw).hexdigest()


@pytest.mark.django_db
def test_a_new_manifest_replaces_the_chunks_of_an_earlier_one(team):
    job = Job.objects.create(team=team, profile_name="again", state="succeeded")
    lost = ManifestWriter(job, chunk_lines=1).write([ManifestEntry("x", "copied", 1, "")] * 3)
    kept = ManifestWriter(job, chunk_lines=1).write([ManifestEntry("y", "copied", 1, "")] * 2)
    kept.save(job)
    assert set(JobManifestChunk.objects.values_list("run", flat=True)) == {kept.run}
    assert lost.run != kept.run
    assert b"".join(manifests.lines(JobManifest.objects.get(job=job))).count(b'"y"') == 2
