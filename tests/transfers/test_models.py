"""Model constraints of endpoints, profiles and jobs."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from transfers.models import Endpoint, Job, SyncProfile


@pytest.fixture
def endpoint(team):
    return Endpoint.objects.create(team=team, name="s3", access_key_id="a", secret_access_key="s")


def profile_kwargs(team, endpoint, **overrides):
    kwargs = {
        "team": team,
        "name": "nightly",
        "source_endpoint": endpoint,
        "source_bucket": "src",
        "destination_endpoint": endpoint,
        "destination_bucket": "dst",
    }
    kwargs.update(overrides)
    return kwargs


def test_a_profile_goes_from_s3_to_s3(team, endpoint):
    profile = SyncProfile.objects.create(**profile_kwargs(team, endpoint))
    assert profile.source_display == "s3: s3://src/"
    assert profile.mode == SyncProfile.Mode.SYNC and profile.verify_after


def test_a_profile_may_use_a_local_path(team, endpoint):
    profile = SyncProfile.objects.create(
        **profile_kwargs(
            team, endpoint, source_endpoint=None, source_bucket="", source_path="/data/exports"
        )
    )
    assert profile.source_display == "local:/data/exports"


@pytest.mark.parametrize(
    "overrides",
    [
        {"source_path": "/data"},  # both a bucket and a path
        {"source_endpoint": None},  # a bucket without an endpoint
        {"destination_bucket": ""},  # an endpoint without a bucket
        {"destination_endpoint": None, "destination_bucket": "", "destination_path": ""},  # nowhere
        {"mode": "teleport"},
    ],
)
def test_a_profile_location_must_be_one_thing(team, endpoint, overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncProfile.objects.create(**profile_kwargs(team, endpoint, **overrides))


def test_endpoint_names_are_unique_per_team(team, other_team, endpoint):
    Endpoint.objects.create(team=other_team, name="s3", access_key_id="a", secret_access_key="s")
    with pytest.raises(IntegrityError), transaction.atomic():
        Endpoint.objects.create(team=team, name="s3", access_key_id="a", secret_access_key="s")


def test_an_idempotency_key_is_used_once_per_team(team, other_team):
    Job.objects.create(team=team, profile_name="p", idempotency_key="abc")
    Job.objects.create(team=other_team, profile_name="p", idempotency_key="abc")
    Job.objects.create(team=team, profile_name="p")  # blank keys do not collide
    Job.objects.create(team=team, profile_name="p")
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(team=team, profile_name="p", idempotency_key="abc")


def test_a_job_reports_the_lower_of_its_byte_and_object_percent(team):
    job = Job(team=team, profile_name="p", bytes_total=200, bytes_done=50, objects_total=4)
    assert job.percent == 0.0  # 25 % of the bytes, but no object done yet
    job.objects_done = 3
    assert job.percent == 25.0
    assert Job(team=team, profile_name="p").percent is None
