"""Predicted duration: from the plan's totals and the median throughput of earlier runs,
stored on the job once planned, shown next to the actual duration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from tests.transfers.support import (
    finished_run,
    put_objects,
    same_bucket_profile,
    wait_for_job,
)
from transfers import services
from transfers.models import Endpoint, Job, SyncProfile
from transfers.prediction import Rates, predict_for, rates_for


@pytest.fixture
def profile(offline_profile):
    return offline_profile


def past_run(profile, *, seconds, objects, bytes, state=Job.State.SUCCEEDED, **fields):
    started = timezone.now() - timedelta(hours=1, seconds=seconds)
    return finished_run(
        profile,
        started_at=started,
        seconds=seconds,
        state=state,
        objects_done=objects,
        bytes_done=bytes,
        **fields,
    )


@pytest.mark.django_db
def test_it_uses_the_median_rates_of_the_profiles_successful_runs(profile):
    past_run(profile, seconds=10, objects=100, bytes=1000)  # 10 obj/s, 100 B/s
    past_run(profile, seconds=10, objects=200, bytes=4000)  # 20 obj/s, 400 B/s
    past_run(profile, seconds=10, objects=900, bytes=90000)  # outlier: 90 obj/s, 9000 B/s
    past_run(profile, seconds=1, objects=1, bytes=10**9, state=Job.State.FAILED)  # ignored
    past_run(profile, seconds=5, objects=0, bytes=0)  # copied nothing: ignored

    rates = rates_for(profile_id=profile.pk, team_id=profile.team_id)

    assert rates == Rates(400.0, 20.0, 3, "profile")
    # 1,000 objects at 20/s = 50 s; 8,000 bytes at 400 B/s = 20 s: the slower bound wins
    assert rates.predict(objects=1000, bytes=8000) == 50.0
    assert rates.predict(objects=10, bytes=400_000) == 1000.0
    assert rates.predict(objects=None, bytes=None) is None


@pytest.mark.django_db
def test_without_its_own_history_the_teams_runs_stand_in(profile, team):
    sibling = SyncProfile.objects.create(
        team=team,
        name="sibling",
        source_endpoint=profile.source_endpoint,
        source_bucket="other-source",
        destination_endpoint=profile.source_endpoint,
        destination_bucket="other-target",
    )
    assert rates_for(profile_id=profile.pk, team_id=team.pk) is None

    past_run(sibling, seconds=4, objects=8, bytes=4096)

    assert rates_for(profile_id=profile.pk, team_id=team.pk) == Rates(1024.0, 2.0, 1, "team")


def snapshot_of(profile) -> dict:
    """The endpoint ids of a job's options snapshot, as transfers.specs stores them."""
    return {
        "source": {"endpoint": profile.source_endpoint_id},
        "destination": {"endpoint": profile.destination_endpoint_id},
    }


@pytest.mark.django_db
def test_runs_between_the_same_endpoints_come_before_the_teams(profile, team, offline_endpoint):
    other = Endpoint.objects.create(team=team, name="elsewhere", url="https://other.test")
    same_endpoints = SyncProfile.objects.create(
        team=team,
        name="same endpoints",
        source_endpoint=offline_endpoint,
        source_bucket="a",
        destination_endpoint=offline_endpoint,
        destination_bucket="b",
    )
    elsewhere = SyncProfile.objects.create(
        team=team,
        name="elsewhere",
        source_endpoint=other,
        source_bucket="a",
        destination_endpoint=other,
        destination_bucket="b",
    )
    past_run(same_endpoints, seconds=4, objects=8, bytes=4096, options=snapshot_of(profile))
    # A slow profile on other endpoints must not lend its pace (22 s predicted, 1 s taken).
    for _ in range(3):
        past_run(elsewhere, seconds=100, objects=1, bytes=1, options=snapshot_of(elsewhere))

    rates = rates_for(
        profile_id=profile.pk,
        team_id=team.pk,
        endpoints=(offline_endpoint.pk, offline_endpoint.pk),
    )

    assert rates == Rates(1024.0, 2.0, 1, "endpoints")
    assert rates.describe() == "based on the last run between these endpoints"
    forecast = predict_for(profile, objects=8, bytes=4096)
    assert forecast.seconds == 4.0 and forecast.rates.basis == "endpoints"


def test_an_estimate_says_what_it_is_based_on():
    assert Rates(1, 1, 5, "profile").describe() == "based on the last 5 runs of this profile"
    assert Rates(1, 1, 2, "team").describe() == "based on the last 2 runs of this team"


@pytest.mark.django_db
def test_the_partial_names_the_basis_of_the_prediction(profile):
    job = past_run(profile, seconds=3, objects=1, bytes=1)
    job.predicted_seconds = 2.0
    job.prediction_basis = "based on the last 5 runs of this profile"
    html = render_to_string("transfers/partials/job_duration.html", {"job": job})
    assert "predicted 2 s" in html and "(based on the last 5 runs of this profile)" in html


@pytest.mark.django_db
def test_the_partial_compares_the_prediction_with_the_actual(profile):
    job = past_run(profile, seconds=130, objects=1, bytes=1)
    job.predicted_seconds = 120.0
    html = render_to_string("transfers/partials/job_duration.html", {"job": job})
    assert "predicted 2 min, took 2 min 10 s" in html

    job.finished_at = None
    job.started_at = timezone.now() - timedelta(seconds=65)
    html = render_to_string("transfers/partials/job_duration.html", {"job": job})
    assert "predicted 2 min, running for 1 min 5 s" in html

    queued = Job(team=profile.team, profile_name="x")
    html = render_to_string("transfers/partials/job_duration.html", {"job": queued})
    assert "no estimate" in html and "took" not in html


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_stores_its_prediction_once_planned(team, operator, s3_a, endpoint_a, celery_worker):
    bucket = s3_a.bucket("predict")
    put_objects(s3_a.client(), bucket, {f"f{n}.txt": b"x" * 100 for n in range(4)}, prefix="src/")
    profile = same_bucket_profile(team, operator, endpoint_a, bucket, name="predicted")
    past_run(profile, seconds=10, objects=20, bytes=100_000)  # 2 objects/s, 10 kB/s

    job = wait_for_job(services.start_job(profile, actor=operator))

    assert job.state == Job.State.SUCCEEDED, job.error
    assert (job.objects_total, job.bytes_total) == (4, 400)
    assert job.predicted_seconds == 2.0  # 4 objects at 2 per second
    assert job.prediction_basis == "based on the last run of this profile"
    assert job.duration_seconds > 0
