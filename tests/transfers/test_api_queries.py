"""The routes polled hardest hold to a fixed number of queries, however many jobs they show:
once a web process remembers the caller's token (API_TOKEN_CACHE_SECONDS), the job list is one
query for its page (plus a count when it runs past it) and the job detail is one query."""

from __future__ import annotations

import pytest
from django.db import connection

from syncportal import pagination
from tests.transfers.pages import endpoint, finished_job, profile
from transfers.models import Job, JobManifest, JobShard

pytestmark = pytest.mark.django_db

ROWS = 6


@pytest.fixture
def history(team, owner, operator):
    store = endpoint(team, "Store")
    nightly = profile(team, store, "Nightly")
    jobs = [finished_job(nightly) for _ in range(ROWS)]
    for job in jobs:  # everything a row shows from elsewhere: who ran, approved, the manifest
        Job.objects.filter(pk=job.pk).update(triggered_by=operator, approved_by=owner)
        JobManifest.objects.create(job=job, sha256="ab" * 32, content=b"")
    for job in jobs[:3]:  # sharded: their counts by state come in the same query
        JobShard.objects.bulk_create(
            JobShard(job=job, seq=n, after_key=f"k{n}", state="succeeded") for n in range(4)
        )
    return jobs


@pytest.fixture
def api(api_as, viewer, history):
    caller = api_as(viewer)
    assert caller.get("/jobs").status_code == 200  # the token is remembered from here on
    return caller


def test_the_job_list_is_one_query(api, history, django_assert_num_queries):
    with django_assert_num_queries(1):
        body = api.get("/jobs").json()
    assert len(body["items"]) == ROWS
    assert {item["manifest_sha256"] for item in body["items"]} == {"ab" * 32}
    assert {item["triggered_by"] for item in body["items"]} == {"oscar"}
    totals = sorted((item["shards"] or {}).get("total", 0) for item in body["items"])
    assert totals == [0, 0, 0, 4, 4, 4]


def test_a_page_of_a_longer_list_counts_with_one_more(api, django_assert_num_queries):
    # The page, and its exact count (short lists count exactly; SQLite has no estimate).
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL estimates: see the next test")
    with django_assert_num_queries(2):
        body = api.get("/jobs", limit=2, state="succeeded").json()
    assert len(body["items"]) == 2 and body["count"] == ROWS
    with django_assert_num_queries(2):
        body = api.get("/jobs", limit=2, cursor=body["next_cursor"]).json()
    assert len(body["items"]) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="estimates come from PostgreSQL")
def test_a_long_list_plans_its_estimate_once(api, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(pagination, "EXACT_COUNT_BELOW", 1)  # six jobs stand for a million
    monkeypatch.setattr(pagination, "ESTIMATE_SECONDS", 3600)  # remembered however slow we are
    monkeypatch.setattr(pagination, "_estimates", {})
    with django_assert_num_queries(2):  # the page and the planner's estimate
        first = api.get("/jobs", limit=2).json()
    assert first["count_exact"] is False
    with django_assert_num_queries(1):  # the estimate is remembered for a few seconds
        again = api.get("/jobs", limit=2).json()
    assert again["count"] == first["count"]
    with django_assert_num_queries(1):  # a later page of the same list shares it
        api.get("/jobs", limit=2, cursor=first["next_cursor"])


def test_the_job_detail_is_one_query(api, history, django_assert_num_queries):
    with django_assert_num_queries(1):
        body = api.get(f"/jobs/{history[0].pk}").json()
    assert (body["id"], body["approved_by"]) == (history[0].pk, "alice")
    assert body["shards"]["succeeded"] == 4


def test_a_jobs_shards_are_two_queries_a_page(api, history, django_assert_num_queries):
    # The job (for access) and the page; a page that does not hold them all counts them too.
    with django_assert_num_queries(2):
        body = api.get(f"/jobs/{history[0].pk}/shards").json()
    assert [item["seq"] for item in body["items"]] == [0, 1, 2, 3]
    with django_assert_num_queries(3):
        body = api.get(f"/jobs/{history[0].pk}/shards", limit=3).json()
    assert body["count"] == 4 and body["next_cursor"]
