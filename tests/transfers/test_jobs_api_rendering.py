"""The job list and detail render rows directly (no schema validation, for speed under load):
they must answer exactly what `JobOut` would, field for field, in its order."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder

from transfers.models import Job, JobManifest, JobShard


def _as_schema_renders(job: Job) -> dict:
    from transfers.api.jobs import (  # after the API root, which mounts its routers
        JobOut,
        job_detail,
    )

    dumped = JobOut.model_validate(job_detail(job.pk)).model_dump()
    return json.loads(json.dumps(dumped, cls=NinjaJSONEncoder))


@pytest.fixture
def history(offline_profile, operator, owner):
    started = timezone.now() - timedelta(minutes=5, microseconds=123456)
    first = Job.objects.create(
        team=offline_profile.team,
        profile=offline_profile,
        profile_name=offline_profile.name,
        state="partial",
        trigger="schedule",
        options={"mode": "mirror", "include": ["*.csv"]},
        plan={"to_copy": 3, "to_delete": 1, "unchanged": 0, "sample": ["a.csv"]},
        objects_total=4,
        bytes_total=4096,
        objects_done=3,
        bytes_done=1000,
        objects_failed=1,
        throughput_bps=12345,
        predicted_seconds=42.5,
        started_at=started,
        finished_at=started + timedelta(seconds=61, microseconds=500),
        approved_by=owner,
        approved_at=started,
        command="s5cmd --json sync",
        exit_code=1,
        error="1 object failed",
        verification={"mismatches": 1},
    )
    JobManifest.objects.create(job=first, sha256="ab" * 32, content=b"")
    retry = Job.objects.create(
        team=offline_profile.team,
        profile=None,
        profile_name="deleted profile",
        state="running",
        trigger="retry",
        triggered_by=operator,
        retry_of=first,
        idempotency_key="k-1",
        objects_total=0,
        started_at=timezone.now(),
    )
    queued = Job.objects.create(
        team=offline_profile.team, profile=offline_profile, profile_name="p", state="queued"
    )
    return [queued, retry, first]


@pytest.mark.django_db
def test_it_lists_jobs_as_the_schema_renders_them(api_as, viewer, history):
    items = api_as(viewer).get("/jobs").json()["items"]
    assert [item["id"] for item in items] == [job.pk for job in history]
    for item, job in zip(items, history, strict=True):
        expected = _as_schema_renders(job)
        assert list(item) == list(expected)
        if job.state == "running":  # its duration grows between the two renderings
            assert item.pop("duration_seconds") <= expected.pop("duration_seconds")
        assert item == expected


@pytest.mark.django_db
def test_it_shows_one_job_as_the_schema_renders_it(api_as, viewer, outsider, history):
    first = history[-1]
    response = api_as(viewer).get(f"/jobs/{first.pk}")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body == _as_schema_renders(first)
    assert (body["approved_by"], body["manifest_sha256"], body["percent"]) == (
        "alice",
        "ab" * 32,
        pytest.approx(100 * 1000 / 4096),
    )
    assert api_as(outsider).get(f"/jobs/{first.pk}").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "values",
    [
        # Whole-number doubles (100.0, 42.0), a timestamp without microseconds, one with fewer
        # than a millisecond of them, documents with floats, nesting and escapes.
        {
            "objects_total": 7,
            "objects_done": 7,
            "bytes_total": 10,
            "bytes_done": 10,
            "predicted_seconds": 42.0,
            "started_at": "2026-03-01T10:00:00+00:00",
            "finished_at": "2026-03-01T10:01:00.000400+00:00",
            "options": {"b": 1.5, "a": [1, 2.25, {"z": None, "y": True}], "q": 'say "hi"\n'},
            "error": 'tab\there, quote " and backslash \\',
        },
        # Shares of thirds, a tiny percent, durations with microseconds, no totals at all.
        {
            "objects_total": 3,
            "objects_done": 1,
            "bytes_total": 3 * 10**12,
            "bytes_done": 7,
            "started_at": "2026-03-01T10:00:00.999999+00:00",
            "finished_at": "2026-03-02T11:00:01.000001+00:00",
            "plan": {"objects_to_copy": 3, "sample_to_copy": ["a/b.csv"], "ratio": 0.1},
        },
        {"objects_total": 0, "bytes_total": None, "predicted_seconds": 1e-05},
        # A sharded job: its shards counted by state (every state, some twice, one none).
        {
            "objects_total": 9,
            "objects_done": 4,
            "shards": [
                *("succeeded", "succeeded", "running", "queued"),
                *("pending", "partial", "failed", "running"),
            ],
        },
    ],
)
def test_it_renders_the_same_text_as_the_schema(api_as, viewer, offline_profile, values):
    """Byte for byte, not only equal once parsed: `100` is not `100.0` to every client."""
    from transfers.api.jobs import JobOut, job_detail

    values = dict(values)
    shard_states = values.pop("shards", [])
    job = Job.objects.create(
        team=offline_profile.team,
        profile=offline_profile,
        profile_name=offline_profile.name,
        state="succeeded",
        **values,
    )
    for seq, state in enumerate(shard_states):
        JobShard.objects.create(job=job, seq=seq, after_key=f"k{seq}", state=state)
    dumped = JobOut.model_validate(job_detail(job.pk)).model_dump()
    expected = json.dumps(dumped, cls=NinjaJSONEncoder)
    assert api_as(viewer).get(f"/jobs/{job.pk}").content.decode() == expected
    listed = api_as(viewer).get("/jobs").content.decode()
    assert listed.startswith('{"items": [' + expected + "], ")
    if shard_states:
        assert dumped["shards"] == {
            "total": 8,
            "pending": 1,
            "queued": 1,
            "running": 2,
            "succeeded": 2,
            "partial": 1,
            "failed": 1,
            "cancelled": 0,
        }
    else:
        assert dumped["shards"] is None
