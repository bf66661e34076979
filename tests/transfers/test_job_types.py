"""A job's typed values: its options snapshot, its counters, and the one state table."""

from __future__ import annotations

import pytest

from tests.transfers.support import same_bucket_profile
from transfers import services
from transfers.counters import Counters
from transfers.engine import Outcome, Phase, Progress
from transfers.job_options import JobOptions
from transfers.models import Job
from transfers.specs import options_for, spec_for_job
from transfers.states import LEASED_STATES, PHASE_FOR_STATE, STATE_FOR_OUTCOME, STATE_FOR_PHASE

pytestmark = pytest.mark.django_db


def test_it_stores_the_options_with_their_version_and_reads_them_back(team, operator, endpoint_a):
    profile = same_bucket_profile(
        team, operator, endpoint_a, "bucket", name="p", exclude_patterns=["*.tmp"]
    )
    job = services.start_job(profile, actor=operator)

    assert job.options["version"] == 1
    assert job.run_options == options_for(profile)
    assert job.run_options.exclude == ("*.tmp",)
    assert spec_for_job(job).options.exclude == ("*.tmp",)


def test_it_reads_options_stored_before_they_had_a_version(team, operator, endpoint_a):
    profile = same_bucket_profile(team, operator, endpoint_a, "bucket", name="p")
    stored = options_for(profile).only(["a.csv"]).to_dict()
    del stored["version"]

    options = JobOptions.from_dict(stored)

    assert options.only_keys == ("a.csv",)
    assert options.to_dict() == {**stored, "version": 1}


def test_it_refuses_options_of_an_unknown_version(team, operator, endpoint_a):
    stored = options_for(
        same_bucket_profile(team, operator, endpoint_a, "bucket", name="p")
    ).to_dict()

    with pytest.raises(ValueError, match="version 2"):
        JobOptions.from_dict({**stored, "version": 2})


def test_the_counters_of_a_snapshot_are_those_a_job_stores():
    progress = Progress(
        seq=1,
        phase=Phase.COPYING,
        objects_total=10,
        bytes_total=1000,
        objects_done=4,
        bytes_done=400,
        objects_failed=1,
        objects_skipped=2,
        objects_deleted=3,
        throughput_bps=0,
        eta_seconds=None,
        elapsed_seconds=1.0,
    )
    counters = Counters.of(progress)

    assert counters.as_dict() == {
        "objects_total": 10,
        "bytes_total": 1000,
        "objects_done": 4,
        "bytes_done": 400,
        "objects_failed": 1,
        "objects_skipped": 2,
        "objects_deleted": 3,
    }
    assert set(counters.as_dict()) <= {field.name for field in Job._meta.fields}


def test_every_state_has_a_phase_and_every_outcome_a_state():
    assert set(PHASE_FOR_STATE) == set(Job.State.values)
    assert set(STATE_FOR_OUTCOME) == {
        Outcome.SUCCEEDED,
        Outcome.PARTIAL,
        Outcome.FAILED,
        Outcome.CANCELLED,
        Outcome.AWAITING_APPROVAL,
    }
    assert STATE_FOR_PHASE[Phase.DELETING] == Job.State.RUNNING
    assert Phase.AWAITING_APPROVAL not in STATE_FOR_PHASE  # only the run's end stores it
    assert set(LEASED_STATES) == {Job.State.PLANNING, Job.State.RUNNING, Job.State.VERIFYING}
