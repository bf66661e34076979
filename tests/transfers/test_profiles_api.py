"""The profiles API: viewers read, operators create, change, schedule, run and preview (with
how long a run would take); a run with an Idempotency-Key is started once however often it is
sent; scheduled runs that could not start are listed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from transfers.models import Endpoint, Job, SkippedRun, SyncProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(offline_endpoint):
    return offline_endpoint


@pytest.fixture
def profile(offline_profile):
    return offline_profile


def profile_fields(team, endpoint, **fields):
    return {
        "team_id": team.pk,
        "name": "hourly",
        "source_endpoint": endpoint.pk,
        "source_bucket": "raw",
        "source_prefix": "events/",
        "destination_endpoint": endpoint.pk,
        "destination_bucket": "archive",
        "mode": "mirror",
        "exclude_patterns": ["*.tmp"],
        **fields,
    }


def test_it_lists_and_shows_profiles_of_your_teams(
    api_as, viewer, outsider, profile, endpoint, django_assert_max_num_queries
):
    api = api_as(viewer)
    with django_assert_max_num_queries(6):
        body = api.get("/profiles").json()
    assert body["count"] == 1
    item = body["items"][0]
    assert (item["id"], item["source_endpoint"], item["mode"]) == (profile.pk, endpoint.pk, "sync")
    assert api.get(f"/profiles/{profile.pk}").json() == item
    assert api_as(outsider).get("/profiles").json()["count"] == 0
    assert api_as(outsider).get(f"/profiles/{profile.pk}").status_code == 404


def test_an_operator_creates_a_profile(api_as, operator, team, endpoint):
    response = api_as(operator).post("/profiles", profile_fields(team, endpoint))
    assert response.status_code == 201, response.content
    profile = SyncProfile.objects.get(pk=response.json()["id"])
    assert (profile.mode, profile.exclude_patterns, profile.created_by) == (
        "mirror",
        ["*.tmp"],
        operator,
    )
    event = AuditEvent.objects.get(action="profile.created")
    assert (event.actor, event.team, event.details["after"]["source_bucket"]) == (
        operator,
        team,
        "raw",
    )


def test_viewers_may_not_create_profiles(api_as, viewer, team, endpoint):
    assert api_as(viewer).post("/profiles", profile_fields(team, endpoint)).status_code == 403


def test_a_profile_must_make_sense(api_as, operator, team, endpoint, other_team):
    theirs = Endpoint.objects.create(
        team=other_team, name="theirs", access_key_id="x", secret_access_key="y"
    )
    response = api_as(operator).post(
        "/profiles",
        profile_fields(
            team,
            endpoint,
            source_endpoint=theirs.pk,
            destination_bucket="Not A Bucket",
            workers=0,
            mode="teleport",
        ),
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"workers", "mode"}  # the schema first
    response = api_as(operator).post(
        "/profiles",
        profile_fields(
            team, endpoint, source_endpoint=theirs.pk, destination_bucket="Not A Bucket"
        ),
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"source_endpoint", "destination_bucket"}  # then the service's rules


def test_it_refuses_bucket_names_s3_reserves(api_as, operator, team, endpoint):
    api = api_as(operator)
    for field, bucket, message in (
        ("source_bucket", "xn--x", "cannot start with 'xn--'"),
        ("destination_bucket", "b-s3alias", "cannot end with '-s3alias'"),
        ("destination_bucket", "10.0.0.1", "cannot look like an IP address"),
    ):
        response = api.post("/profiles", profile_fields(team, endpoint, **{field: bucket}))
        assert response.status_code == 422, (bucket, response.content)
        [error] = response.json()["errors"]
        assert error["field"] == field and message in error["message"], error
    assert not SyncProfile.objects.exists()
    refused = api.post(f"/endpoints/{endpoint.pk}/test", {"bucket": "amzn-s3-demo-bucket"})
    assert refused.status_code == 422
    assert "amzn-s3-demo-" in refused.json()["errors"][0]["message"]


def test_schedules_and_freshness_targets_are_set_shown_paused_and_cleared(
    api_as, operator, team, endpoint
):
    api = api_as(operator)
    fields = profile_fields(team, endpoint, schedule="@daily", max_staleness_minutes=1500)
    created = api.post("/profiles", fields).json()
    assert (created["schedule"], created["schedule_enabled"]) == ("0 0 * * *", True)
    assert created["schedule_description"] == "At 00:00 (UTC)"
    assert len(created["next_runs"]) == 3 and created["next_runs"][0].endswith("T00:00:00Z")
    assert created["freshness"] == {
        "status": "never_run",
        "breached": False,
        "max_staleness_minutes": 1500,
        "last_success_at": None,
        "behind_seconds": None,
        "due_at": None,
    }
    profile = SyncProfile.objects.get(pk=created["id"])
    assert profile.periodic_task.enabled

    started = timezone.now() - timedelta(hours=30)
    Job.objects.create(
        team=team, profile=profile, profile_name="hourly", state="succeeded", started_at=started
    )
    body = api.get(f"/profiles/{profile.pk}").json()
    assert (body["freshness"]["status"], body["freshness"]["breached"]) == ("stale", True)
    assert body["freshness"]["behind_seconds"] >= 30 * 3600

    paused = api.patch(f"/profiles/{profile.pk}", {"schedule_enabled": False}).json()
    assert (paused["schedule"], paused["next_runs"]) == ("0 0 * * *", [])
    cleared = api.patch(f"/profiles/{profile.pk}", {"schedule": "", "max_staleness_minutes": None})
    assert cleared.status_code == 200
    body = cleared.json()
    assert (body["schedule_description"], body["freshness"]["status"]) == ("", "untracked")
    profile.refresh_from_db()
    assert (profile.periodic_task, profile.max_staleness_minutes) == (None, None)
    event = AuditEvent.objects.filter(action="profile.updated").order_by("id").last()
    assert event.details["after"] == {"schedule": "", "max_staleness_minutes": None}


def test_a_bad_schedule_or_target_is_refused_on_its_field(api_as, operator, profile):
    api = api_as(operator)
    response = api.patch(f"/profiles/{profile.pk}", {"schedule": "0 2 * * 1 extra"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "schedule" and "five fields" in error["message"]
    response = api.patch(f"/profiles/{profile.pk}", {"max_staleness_minutes": 0})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "max_staleness_minutes"
    assert api.patch(f"/profiles/{profile.pk}", {"schedule_enabled": None}).status_code == 422


def test_skipped_runs_are_listed_newest_first(api_as, viewer, outsider, profile):
    blocking = Job.objects.create(
        team=profile.team, profile=profile, profile_name="nightly", state="running"
    )
    now = timezone.now()
    for minutes in (30, 10):
        SkippedRun.objects.create(
            team=profile.team,
            profile=profile,
            at=now - timedelta(minutes=minutes),
            reason="The profile nightly has a job in progress.",
            blocking_job=blocking,
        )
    body = api_as(viewer).get(f"/profiles/{profile.pk}/skipped-runs").json()
    assert body["count"] == 2
    first, second = body["items"]
    assert first["at"] > second["at"] and first["blocking_job_id"] == blocking.pk
    assert "job in progress" in first["reason"]
    assert api_as(outsider).get(f"/profiles/{profile.pk}/skipped-runs").status_code == 404


def test_an_update_records_before_and_after(api_as, operator, profile):
    response = api_as(operator).patch(
        f"/profiles/{profile.pk}", {"mode": "copy", "include_patterns": ["*.csv"]}
    )
    assert response.status_code == 200
    assert response.json()["mode"] == "copy"
    event = AuditEvent.objects.get(action="profile.updated")
    assert event.details == {
        "before": {"mode": "sync", "include_patterns": []},
        "after": {"mode": "copy", "include_patterns": ["*.csv"]},
        "api_token": event.details["api_token"],
    }


def test_a_profile_without_a_job_in_progress_is_deleted(api_as, operator, profile):
    Job.objects.create(team=profile.team, profile=profile, profile_name="nightly", state="running")
    api = api_as(operator)
    assert api.delete(f"/profiles/{profile.pk}").status_code == 409
    Job.objects.update(state="succeeded")
    assert api.delete(f"/profiles/{profile.pk}").status_code == 204
    assert Job.objects.get().profile_name == "nightly"  # the history stays
    assert AuditEvent.objects.filter(action="profile.deleted").count() == 1


def test_an_operator_runs_a_profile(api_as, operator, profile, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_as(operator).post(f"/profiles/{profile.pk}/run")
    assert response.status_code == 201
    job = response.json()
    assert (job["state"], job["trigger"], job["triggered_by"], job["profile_id"]) == (
        "queued",
        "api",
        "oscar",
        profile.pk,
    )
    assert len(callbacks) == 2  # the task is enqueued once the transaction commits
    assert AuditEvent.objects.get(action="job.started").target_id == str(job["id"])


def test_a_profile_runs_one_job_at_a_time(api_as, operator, profile):
    api = api_as(operator)
    assert api.post(f"/profiles/{profile.pk}/run").status_code == 201
    response = api.post(f"/profiles/{profile.pk}/run")
    assert response.status_code == 409
    assert "already has a job in progress" in response.json()["detail"]


def test_an_idempotency_key_starts_one_job(api_as, operator, profile, team, endpoint):
    api = api_as(operator)
    key = {"Idempotency-Key": "nightly-2026-11-25"}
    first = api.post(f"/profiles/{profile.pk}/run", headers=key)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    Job.objects.update(state="succeeded")  # even after it finished, the key means that job
    again = api.post(f"/profiles/{profile.pk}/run", headers=key)
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["state"] == "succeeded"
    assert Job.objects.count() == 1
    assert AuditEvent.objects.filter(action="job.started").count() == 1

    other = SyncProfile.objects.create(
        team=team,
        name="other",
        source_endpoint=endpoint,
        source_bucket="a",
        destination_endpoint=endpoint,
        destination_bucket="c",
    )
    reused = api.post(f"/profiles/{other.pk}/run", headers=key)
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "idempotency_key"
    bad = api.post(f"/profiles/{other.pk}/run", headers={"Idempotency-Key": "x" * 65})
    assert bad.status_code == 422


@pytest.mark.parametrize("who, status", [("viewer", 403), ("outsider", 404)])
def test_running_needs_an_operator_of_the_team(api_as, request, profile, who, status):
    api = api_as(request.getfixturevalue(who))
    assert api.post(f"/profiles/{profile.pk}/run").status_code == status
    assert api.post(f"/profiles/{profile.pk}/preview").status_code == status
    assert api.patch(f"/profiles/{profile.pk}", {"mode": "copy"}).status_code == status
    assert api.delete(f"/profiles/{profile.pk}").status_code == status
    assert not Job.objects.exists()


def test_a_preview_lists_real_buckets_and_moves_nothing(api_as, operator, team, s3_a):
    from tests.transfers.support import put_objects

    endpoint = s3_a.endpoint(team, "Provider A")
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"a.csv": b"1", "b.csv": b"22", "c.tmp": b"333"}, prefix="in/")
    put_objects(client, bucket, {"old.csv": b"x"}, prefix="out/")
    profile = SyncProfile.objects.create(
        team=team,
        name="preview",
        mode="mirror",
        exclude_patterns=["*.tmp"],
        source_endpoint=endpoint,
        source_bucket=bucket,
        source_prefix="in/",
        destination_endpoint=endpoint,
        destination_bucket=bucket,
        destination_prefix="out/",
    )
    plan = _previewed(api_as(operator), profile)
    assert (plan["route"], plan["objects_to_copy"], plan["bytes_to_copy"]) == ("server_side", 2, 3)
    assert (plan["objects_to_delete"], plan["sample_to_copy"]) == (1, ["a.csv", "b.csv"])
    assert plan["predicted_seconds"] is None  # nothing to go by yet
    assert not Job.objects.exists()

    # An earlier run of the team moved 4 objects (12 bytes) in 8 s: at that pace the plan's 2
    # objects take 4 s (its 3 bytes would take 2 s; the slower of the two counts).
    started = timezone.now() - timedelta(seconds=8)
    Job.objects.create(
        team=team,
        profile_name="earlier",
        state="succeeded",
        objects_done=4,
        bytes_done=12,
        started_at=started,
        finished_at=started + timedelta(seconds=8),
    )
    plan = _previewed(api_as(operator), profile)
    assert plan["predicted_seconds"] == 4.0
    assert plan["prediction_basis"] == "based on the last run of this team"


def _previewed(api, profile) -> dict:
    """Start a preview through the API and run its task here (tests/transfers/test_previews.py
    runs them in a real worker); the plan it leaves."""
    from transfers.previews import run_preview

    preview_id = api.post(f"/profiles/{profile.pk}/previews").json()["id"]
    assert run_preview(preview_id) == "succeeded"
    return api.get(f"/previews/{preview_id}").json()["result"]
