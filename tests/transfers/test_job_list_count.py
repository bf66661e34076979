"""A long job list answers the database's estimate as its `count` (an exact count reads every
matching row, on every page); `?count=exact` asks for the exact one."""

from __future__ import annotations

import pytest
from django.db import connection

from syncportal import pagination
from transfers.models import Job


@pytest.fixture
def jobs(offline_profile):
    return [
        Job.objects.create(
            team=offline_profile.team,
            profile=offline_profile,
            profile_name=offline_profile.name,
            state="failed" if n % 2 else "succeeded",
        )
        for n in range(6)
    ]


@pytest.mark.django_db
def test_a_list_on_one_page_counts_itself_exactly(api_as, viewer, jobs):
    body = api_as(viewer).get("/jobs", state="failed").json()
    assert (len(body["items"]), body["count"], body["count_exact"]) == (3, 3, True)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="estimates come from PostgreSQL")
def test_a_long_list_answers_an_estimate_unless_asked_to_count(api_as, viewer, jobs, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_BELOW", 1)  # six jobs stand for a million
    api = api_as(viewer)
    estimated = api.get("/jobs", limit=2).json()
    assert estimated["count_exact"] is False and estimated["count"] >= 1
    exact = api.get("/jobs", limit=2, count="exact").json()
    assert (exact["count"], exact["count_exact"]) == (6, True)
    walked = api.get("/jobs", limit=2, cursor=exact["next_cursor"], count="exact").json()
    assert (walked["count"], [j["id"] for j in walked["items"]]) == (6, [jobs[3].pk, jobs[2].pk])


@pytest.mark.django_db
def test_a_short_list_counts_exactly_past_its_first_page(api_as, viewer, jobs):
    body = api_as(viewer).get("/jobs", limit=2, offset=2).json()
    assert (body["count"], body["count_exact"]) == (6, True)
    assert api_as(viewer).get("/jobs", count="roughly").status_code == 422
