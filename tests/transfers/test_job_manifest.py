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
from tests.transfers.support import put_objects, wait_for_job
from transfers import services
from transfers.engine import ManifestEntry, S3Location
from transfers.engine.listing import ObjectInfo
from transfers.engine.locations import EndpointConfig
from transfers.engine.manifest import Manifest
from transfers.engine.planning import Route, plan_listings
from transfers.manifests import Built
from transfers.models import Job, JobManifest

LONG_KEY = "deep/" + "k" * 1000  # too long under the destination prefix below: rejected
SOURCE = {"new.csv": b"a,b\n1,2\n", "same.txt": b"unchanged", LONG_KEY: b"never copied"}
DESTINATION = {"same.txt": b"unchanged", "old/gone.bin": b"deleted by the mirror"}
PREFIX = "a-destination-prefix-of-forty-characters/"


def etags(client, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    return {o["Key"][len(prefix) :]: (o["Size"], o["ETag"].strip('"')) for o in listing}


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
    profile = services.create_profile(
        team,
        actor=operator,
        name="mirror",
        mode="mirror",
        verify_after=False,
        source_endpoint=endpoint_a,
        source_bucket=source_bucket,
        source_prefix="in/",
        destination_endpoint=endpoint_a,
        destination_bucket=destination_bucket,
        destination_prefix=PREFIX,
    )

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
    manifest = Manifest(plan=plan, copied={"b"}, deleted=set(), failures={})
    assert [(e.key, e.action, e.size) for e in manifest] == [
        ("b", "copied", 2),
        ("d", "skipped", 4),
    ]


def test_a_hundred_thousand_objects_compress_to_little(django_assert_num_queries):
    entries = (
        ManifestEntry(f"dataset/part-{n:06d}.parquet", "copied", 1_000_000 + n, f"{n:032x}")
        for n in range(100_000)
    )
    built = Built(entries)
    raw = gzip.decompress(built.content)
    assert raw.count(b"\n") == 100_000 and hashlib.sha256(raw).hexdigest() == built.sha256
    assert len(built.content) < len(raw) / 4
    assert built.summary()["bytes_copied"] == sum(1_000_000 + n for n in range(100_000))
