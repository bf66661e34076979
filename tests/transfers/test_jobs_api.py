"""The jobs API: lists with filters and a cursor, one job, cancel, retry, approve, samples,
failures and the manifest — by state and role, and end to end with a real worker and S3."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEvent
from syncportal import pagination
from tests.transfers.support import put_objects, wait_for_job, write_files
from transfers.engine import ManifestEntry
from transfers.manifests import ManifestWriter
from transfers.models import Job, JobFailure, JobSample, SyncProfile

MiB = 1024 * 1024


@pytest.fixture
def profile(offline_profile):
    return offline_profile


def make_job(profile, state="succeeded", **fields):
    return Job.objects.create(
        team=profile.team, profile=profile, profile_name=profile.name, state=state, **fields
    )


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [job["id"] for job in response.json()["items"]]


# --- Reading ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_lists_jobs_newest_first_with_filters(api_as, viewer, profile, team, other_team):
    failed = make_job(profile, "failed")
    running = make_job(profile, "running", trigger="api")
    succeeded = make_job(profile, "succeeded")
    Job.objects.create(team=other_team, profile_name="theirs", state="failed")
    old = make_job(profile, "cancelled")
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    api = api_as(viewer)

    # Newest first by creation time (the old job was created last, but three days ago).
    assert ids(api.get("/jobs")) == [succeeded.pk, running.pk, failed.pk, old.pk]
    assert ids(api.get("/jobs", state=["failed", "running"])) == [running.pk, failed.pk]
    assert ids(api.get("/jobs", trigger="api")) == [running.pk]
    assert ids(api.get("/jobs", profile=profile.pk, team=team.pk)) == [
        succeeded.pk,
        running.pk,
        failed.pk,
        old.pk,
    ]
    assert ids(api.get("/jobs", team=other_team.pk)) == []
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(api.get("/jobs", created_after=yesterday)) == [
        succeeded.pk,
        running.pk,
        failed.pk,
    ]
    assert ids(api.get("/jobs", created_before=yesterday)) == [old.pk]
    assert ids(api.get("/jobs", created_before="2026-01-01T00:00:00")) == []  # naive = UTC
    assert api.get("/jobs", state="exploded").status_code == 422


@pytest.mark.django_db
def test_a_cursor_walks_a_growing_list_without_repeats(api_as, viewer, profile):
    jobs = [make_job(profile) for _ in range(5)]
    api = api_as(viewer)
    first = api.get("/jobs", limit=2).json()
    assert [j["id"] for j in first["items"]] == [jobs[4].pk, jobs[3].pk]
    assert first["count"] == 5 and first["next_cursor"]

    make_job(profile)  # arrives while the client pages: an offset would repeat jobs[3]
    second = api.get("/jobs", limit=2, cursor=first["next_cursor"]).json()
    assert [j["id"] for j in second["items"]] == [jobs[2].pk, jobs[1].pk]
    last = api.get("/jobs", limit=2, cursor=second["next_cursor"]).json()
    assert [j["id"] for j in last["items"]] == [jobs[0].pk]
    assert last["next_cursor"] is None and last["count"] == 6

    bad = api.get("/jobs", cursor="not-a-cursor")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


@pytest.mark.django_db
def test_a_cursor_keeps_jobs_of_the_same_instant_and_reads_older_cursors(api_as, viewer, profile):
    jobs = [make_job(profile) for _ in range(3)]
    Job.objects.update(created_at=timezone.now())  # one instant: the id breaks the tie
    api = api_as(viewer)
    first = api.get("/jobs", limit=2).json()
    assert [j["id"] for j in first["items"]] == [jobs[2].pk, jobs[1].pk]
    assert ids(api.get("/jobs", limit=2, cursor=first["next_cursor"])) == [jobs[0].pk]

    # Cursors given out before the list was ordered by time name an id only.
    older = base64.urlsafe_b64encode(f"id<{jobs[1].pk}".encode()).decode().rstrip("=")
    assert ids(api.get("/jobs", cursor=older)) == [jobs[0].pk]
    forged = base64.urlsafe_b64encode(b"at<99999999999999999999<1").decode()
    assert api.get("/jobs", cursor=forged).status_code == 422


@pytest.mark.django_db
def test_listing_jobs_takes_the_same_queries_for_many(
    api_as, viewer, operator, profile, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr(pagination, "ESTIMATE_SECONDS", 3600)  # remembered however slow we are
    monkeypatch.setattr(pagination, "_estimates", {})
    api = api_as(viewer)
    api.get("/jobs")  # the token's first use looks it up; then the process remembers it

    def queries_for(count: int) -> None:
        for _ in range(count):
            make_job(profile, triggered_by=operator, approved_by=operator)
        total = Job.objects.count()
        # The page alone: a list that fits on its page is its own count.
        with django_assert_num_queries(1):
            assert len(api.get("/jobs").json()["items"]) == total
        # A page of a longer list also counts it: exactly, as it is short (on PostgreSQL after
        # asking the planner's estimate, which the process then remembers for a few seconds;
        # SQLite has none).
        planned = connection.vendor == "postgresql" and count == 2
        with django_assert_num_queries(3 if planned else 2):
            body = api.get("/jobs", limit=1, state="succeeded").json()
        assert (len(body["items"]), body["count"], body["count_exact"]) == (1, total, True)
        # One job: one query, whoever triggered or approved it.
        newest = Job.objects.latest("pk")
        with django_assert_num_queries(1):
            assert api.get(f"/jobs/{newest.pk}").json()["approved_by"] == "oscar"

    queries_for(2)
    queries_for(20)


@pytest.mark.django_db
def test_one_job_shows_everything_but_secrets(api_as, viewer, outsider, profile, operator):
    job = make_job(profile, triggered_by=operator, command="s5cmd --json run", exit_code=0)
    api = api_as(viewer)
    body = api.get(f"/jobs/{job.pk}").json()
    assert (body["id"], body["state"], body["triggered_by"], body["manifest_sha256"]) == (
        job.pk,
        "succeeded",
        "oscar",
        None,
    )
    assert "secret" not in str(body["options"]).lower()
    assert api_as(outsider).get(f"/jobs/{job.pk}").status_code == 404
    assert api.get("/jobs/999999").status_code == 404


@pytest.mark.django_db
def test_a_job_says_how_long_it_was_predicted_to_take_and_took(api_as, viewer, profile):
    queued = make_job(profile, "queued")
    started = timezone.now() - timedelta(seconds=130)
    done = make_job(
        profile,
        started_at=started,
        finished_at=started + timedelta(seconds=130),
        predicted_seconds=120.0,
    )
    api = api_as(viewer)
    body = api.get(f"/jobs/{queued.pk}").json()
    assert (body["predicted_seconds"], body["duration_seconds"]) == (None, None)
    body = api.get(f"/jobs/{done.pk}").json()
    assert (body["predicted_seconds"], body["duration_seconds"]) == (120.0, 130.0)


@pytest.mark.django_db
def test_samples_come_oldest_first_and_since_an_instant(api_as, viewer, outsider, profile):
    job = make_job(profile, "running")
    start = timezone.now()
    for n in range(3):
        JobSample.objects.create(
            job=job, t=start + timedelta(seconds=n), objects_done=n, bytes_done=n * 100
        )
    api = api_as(viewer)
    body = api.get(f"/jobs/{job.pk}/samples").json()
    assert [s["bytes_done"] for s in body["items"]] == [0, 100, 200]
    later = api.get(f"/jobs/{job.pk}/samples", since=start.isoformat()).json()
    assert [s["objects_done"] for s in later["items"]] == [1, 2]
    assert api_as(outsider).get(f"/jobs/{job.pk}/samples").status_code == 404


@pytest.mark.django_db
def test_failures_list_keys_and_reasons(api_as, viewer, outsider, profile):
    job = make_job(profile, "partial")
    JobFailure.objects.create(job=job, key="a.csv", operation="copy", error="AccessDenied")
    JobFailure.objects.create(job=job, key="b.csv", operation="verify", error="size differs")
    api = api_as(viewer)
    body = api.get(f"/jobs/{job.pk}/failures").json()
    assert body["items"] == [
        {"key": "a.csv", "operation": "copy", "error": "AccessDenied"},
        {"key": "b.csv", "operation": "verify", "error": "size differs"},
    ]
    assert api.get(f"/jobs/{job.pk}/failures", operation="verify").json()["count"] == 1
    assert api_as(outsider).get(f"/jobs/{job.pk}/failures").status_code == 404


@pytest.mark.django_db
def test_the_manifest_downloads_with_its_hash(api_as, viewer, outsider, profile):
    job = make_job(profile)
    assert api_as(viewer).get(f"/jobs/{job.pk}/manifest").status_code == 404  # none yet
    entries = [ManifestEntry("a.csv", "copied", 3, "e1"), ManifestEntry("b", "skipped", 1, "")]
    built = ManifestWriter(job).write(entries)
    built.save(job)
    response = api_as(viewer).get(f"/jobs/{job.pk}/manifest")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == (
        b'{"key":"a.csv","action":"copied","size":3,"etag":"e1"}\n'
        b'{"key":"b","action":"skipped","size":1,"etag":""}\n'
    )
    assert response["X-Manifest-SHA256"] == hashlib.sha256(body).hexdigest() == built.sha256
    assert api_as(viewer).get(f"/jobs/{job.pk}").json()["manifest_sha256"] == built.sha256
    assert api_as(outsider).get(f"/jobs/{job.pk}/manifest").status_code == 404


# --- Acting -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_operator_cancels_a_queued_job_at_once(api_as, operator, profile):
    job = make_job(profile, "queued")
    response = api_as(operator).post(f"/jobs/{job.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    event = AuditEvent.objects.get(action="job.cancelled")
    assert (event.actor, event.target_id, event.details["state"]) == (
        operator,
        str(job.pk),
        "queued",
    )


@pytest.mark.django_db
def test_cancelling_a_finished_job_is_a_conflict(api_as, operator, profile):
    job = make_job(profile, "succeeded")
    response = api_as(operator).post(f"/jobs/{job.pk}/cancel")
    assert response.status_code == 409
    assert "already finished" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="job.cancelled").exists()


@pytest.mark.django_db
def test_retrying_starts_a_new_job_of_the_failed_objects(api_as, operator, profile):
    job = make_job(profile, "partial")
    JobFailure.objects.create(job=job, key="a.csv", operation="copy", error="timeout")
    response = api_as(operator).post(f"/jobs/{job.pk}/retry")
    assert response.status_code == 201
    retry = Job.objects.get(pk=response.json()["id"])
    assert (retry.retry_of, retry.trigger, retry.options["retry_failures_of"]) == (
        job,
        "retry",
        job.pk,
    )
    assert response.json()["retry_of"] == job.pk
    whole = api_as(operator).post(f"/jobs/{job.pk}/retry", {"all": True})
    assert whole.status_code == 409  # the first retry is still queued: one job at a time
    event = AuditEvent.objects.get(action="job.retried")
    assert event.details["retry_of"] == job.pk and event.details["scope"] == "failed"


@pytest.mark.django_db
def test_only_unsuccessful_jobs_are_retried(api_as, operator, profile):
    job = make_job(profile, "succeeded")
    response = api_as(operator).post(f"/jobs/{job.pk}/retry", {"all": True})
    assert response.status_code == 409


@pytest.mark.django_db
def test_approving_needs_a_job_that_waits(api_as, operator, profile):
    waiting = make_job(profile, "awaiting_approval", plan={"objects_to_delete": 500})
    response = api_as(operator).post(f"/jobs/{waiting.pk}/approve")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["approved_by"]) == ("queued", "oscar")
    assert AuditEvent.objects.get(action="job.approved").details["objects_to_delete"] == 500
    assert api_as(operator).post(f"/jobs/{waiting.pk}/approve").status_code == 409


@pytest.mark.django_db
@pytest.mark.parametrize("who, status", [("viewer", 403), ("outsider", 404)])
def test_acting_on_jobs_needs_an_operator_of_the_team(api_as, request, profile, who, status):
    queued = make_job(profile, "queued")
    api = api_as(request.getfixturevalue(who))
    assert api.post(f"/jobs/{queued.pk}/cancel").status_code == status
    assert api.post(f"/jobs/{queued.pk}/approve").status_code == status
    queued.state = "failed"
    queued.save()
    assert api.post(f"/jobs/{queued.pk}/retry").status_code == status
    assert Job.objects.count() == 1


# --- With a real worker -----------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_mirror_runs_pauses_is_approved_and_leaves_a_manifest(
    celery_worker, api_as, operator, viewer, team, s3_a
):
    endpoint = s3_a.endpoint(team, "Provider A")
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"keep.csv": b"keep me"}, prefix="in/")
    put_objects(client, bucket, {"gone-1.csv": b"1", "gone-2.csv": b"2"}, prefix="out/")
    api = api_as(operator)
    created = api.post(
        "/profiles",
        {
            "team_id": team.pk,
            "name": "careful mirror",
            "mode": "mirror",
            "delete_threshold": 1,
            "source_endpoint": endpoint.pk,
            "source_bucket": bucket,
            "source_prefix": "in/",
            "destination_endpoint": endpoint.pk,
            "destination_bucket": bucket,
            "destination_prefix": "out/",
        },
    )
    assert created.status_code == 201, created.content
    run = api.post(f"/profiles/{created.json()['id']}/run")
    assert run.status_code == 201
    job = Job.objects.get(pk=run.json()["id"])

    wait_for_job(job, states=[Job.State.AWAITING_APPROVAL])
    assert api.get(f"/jobs/{job.pk}/manifest").status_code == 404  # nothing done yet
    approved = api.post(f"/jobs/{job.pk}/approve").json()
    assert approved["approved_by"] == "oscar" and approved["state"] != "awaiting_approval"
    job = wait_for_job(job)
    assert job.state == Job.State.SUCCEEDED, job.error

    shown = api_as(viewer).get(f"/jobs/{job.pk}").json()
    assert (shown["objects_done"], shown["objects_deleted"]) == (1, 2)
    download = api_as(viewer).get(f"/jobs/{job.pk}/manifest")
    body = b"".join(download.streaming_content)
    digest = hashlib.sha256(body).hexdigest()
    assert shown["manifest_sha256"] == digest == download["X-Manifest-SHA256"]
    assert [line.split(b'"action":"')[1][:6] for line in body.splitlines()] == [
        b"copied",
        b"delete",
        b"delete",
    ]
    finished = AuditEvent.objects.get(action="job.finished", target_id=str(job.pk))
    assert finished.details["manifest"]["sha256"] == digest
    assert api_as(viewer).get(f"/jobs/{job.pk}/samples").json()["count"] >= 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_job_stops_it_and_a_retry_finishes_it(
    celery_worker, api_as, operator, team, s3_a, proxy_a, local_dir
):
    # The proxy holds the first upload until the cancel has landed: mid-copy, whatever the
    # machine's speed, with a few small objects.
    objects = {f"small-{n}.bin": os.urandom(64 * 1024) for n in range(4)}
    write_files(local_dir, objects)
    first_upload = proxy_a.hold(lambda request: request.is_put(), count=1)
    endpoint = s3_a.endpoint(team, "Provider A, through a proxy", url=proxy_a.url)
    bucket = s3_a.bucket("dst")
    profile = SyncProfile.objects.create(
        team=team,
        name="held upload",
        mode="sync",
        workers=1,
        source_path=str(local_dir),
        destination_endpoint=endpoint,
        destination_bucket=bucket,
    )
    api = api_as(operator)
    job_id = api.post(f"/profiles/{profile.pk}/run").json()["id"]

    assert first_upload.reached.wait(60), "the copy never started"
    assert Job.objects.get(pk=job_id).state == Job.State.RUNNING
    response = api.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 200
    assert response.json()["cancel_requested_at"] is not None
    job = wait_for_job(Job.objects.get(pk=job_id))
    first_upload.release()
    assert job.state == Job.State.CANCELLED
    assert job.objects_done < len(objects)
    assert api.post(f"/jobs/{job_id}/cancel").status_code == 409

    retry = api.post(f"/jobs/{job_id}/retry", {"all": True})
    assert retry.status_code == 201
    done = wait_for_job(Job.objects.get(pk=retry.json()["id"]), timeout=120)
    assert done.state == Job.State.SUCCEEDED, done.error
    assert done.objects_done + done.objects_skipped == len(objects)
    listed = s3_a.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(objects)


@pytest.mark.django_db
def test_the_browser_session_cancels_with_a_csrf_token(operator, profile):
    from django.test import Client

    from tests.support import enrol_totp

    enrol_totp(operator)
    job = make_job(profile, "queued")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)
    refused = browser.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF check failed")
    assert browser.get(f"/api/v1/jobs/{job.pk}").json()["state"] == "queued"  # reads need none
    browser.get("/teams/")  # a page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(f"/api/v1/jobs/{job.pk}/cancel", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert AuditEvent.objects.get(action="job.cancelled").details.get("api_token") is None


@pytest.mark.django_db
def test_failures_are_paged_oldest_first_with_a_cursor(
    api_as, viewer, profile, django_assert_max_num_queries
):
    job = make_job(profile, "partial")
    JobFailure.objects.bulk_create(
        JobFailure(job=job, key=f"k{n:03d}", operation="copy", error="denied") for n in range(120)
    )
    api = api_as(viewer)
    keys, cursor, pages = [], None, 0
    while True:
        with django_assert_max_num_queries(8):
            body = api.get(
                f"/jobs/{job.pk}/failures", limit=50, **({"cursor": cursor} if cursor else {})
            ).json()
        keys += [item["key"] for item in body["items"]]
        pages += 1
        assert body["count"] == 120
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert keys == [f"k{n:03d}" for n in range(120)] and pages == 3
    refused = api.get(f"/jobs/{job.pk}/failures", cursor="bm90LWEtY3Vyc29y")
    assert refused.status_code == 422
    assert "not one the API gave out" in refused.content.decode()
