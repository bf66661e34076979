"""The job pages: the filtered history, one job's report, chart and predicted against actual
duration, the failures as CSV, and the cancel and retry buttons."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from syncportal import pagination
from tests.support import pager_link
from tests.transfers.pages import endpoint, failures, finished_job, profile, signed_in
from transfers.models import Job, JobFailure

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightly(team):
    return profile(team, endpoint(team))


def test_it_filters_by_team_profile_state_and_date(team, other_team, owner, nightly):
    client = signed_in(owner)
    weekly = profile(team, nightly.source_endpoint, "Weekly")
    old = finished_job(nightly, Job.State.FAILED)
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    failed = finished_job(nightly, Job.State.FAILED)
    done = finished_job(weekly)
    theirs = finished_job(profile(other_team, endpoint(other_team), "Theirs"))

    def listed(query: str) -> set[int]:
        response = client.get(f"/jobs/?{query}")
        assert response.status_code == 200
        return {job.pk for job in response.context["page"].object_list}

    assert listed("") == {old.pk, failed.pk, done.pk}
    assert listed("state=failed") == {old.pk, failed.pk}
    assert listed(f"profile={weekly.pk}") == {done.pk}
    assert listed(f"team={team.pk}&state=succeeded") == {done.pk}
    today = timezone.now().date().isoformat()
    assert listed(f"since={today}&until={today}") == {failed.pk, done.pk}
    assert listed(f"team={other_team.pk}") == {old.pk, failed.pk, done.pk}  # ignored: not theirs
    assert theirs.pk not in listed(f"profile={theirs.profile_id}")


def _rows(response) -> list[int]:
    assert response.status_code == 200
    return [job.pk for job in response.context["page"].object_list]


def test_it_pages_the_history_by_cursor(team, viewer, nightly, monkeypatch):
    # Counted exactly, whatever the planner guesses of a table earlier tests wrote to.
    monkeypatch.setattr(pagination, "EXACT_COUNT_BELOW", 10**9)
    client = signed_in(viewer)
    # One instant for all, so the order within it is the id's; and jobs of another state.
    at = timezone.now() - timedelta(hours=1)
    Job.objects.bulk_create(
        Job(team=team, profile_name="Nightly", state="succeeded", created_at=at) for _ in range(120)
    )
    Job.objects.bulk_create(
        Job(team=team, profile_name="Nightly", state="failed") for _ in range(3)
    )
    newest_first = list(
        Job.objects.filter(state="succeeded")
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
    )
    first = client.get("/jobs/?state=succeeded")
    html = first.content.decode()
    assert _rows(first) == newest_first[:50] and "120 jobs" in html
    assert pager_link(html, "prev") is None and first.context["page"].first
    older = pager_link(html, "next")
    assert older.startswith("?state=succeeded&before=") and "page=" not in older

    # A job that starts meanwhile does not shift the older pages.
    finished_job(nightly)
    second = client.get("/jobs/" + older)
    assert _rows(second) == newest_first[50:100]
    third = client.get("/jobs/" + pager_link(second.content.decode(), "next"))
    html = third.content.decode()
    assert _rows(third) == newest_first[100:] and pager_link(html, "next") is None

    # Back again: whole pages newer, then the newest page once less than a page is left.
    back = client.get("/jobs/" + pager_link(html, "prev"))
    assert _rows(back) == newest_first[50:100] and not back.context["page"].first
    assert pager_link(back.content.decode(), "first") == "?state=succeeded"
    back = client.get("/jobs/" + pager_link(back.content.decode(), "prev"))
    assert _rows(back) == newest_first[:50] and not back.context["page"].first  # + the new one
    newest = client.get("/jobs/" + pager_link(back.content.decode(), "prev"))
    assert _rows(newest)[1:] == newest_first[:49] and newest.context["page"].first
    assert pager_link(newest.content.decode(), "prev") is None


@pytest.mark.parametrize(
    "cursor", ["before=bm9uc2Vuc2U", "after=%00", "before=" + "A" * 80, "page=9"]
)
def test_a_cursor_it_did_not_give_out_shows_the_newest_page(team, viewer, nightly, cursor):
    job = finished_job(nightly)
    response = signed_in(viewer).get(f"/jobs/?{cursor}")
    assert _rows(response) == [job.pk]


def test_an_older_link_with_nothing_left_beyond_it_shows_the_newest_page(team, viewer, nightly):
    Job.objects.bulk_create(
        Job(team=team, profile_name="Nightly", state="failed") for _ in range(55)
    )
    client = signed_in(viewer)
    first = client.get("/jobs/")
    older = pager_link(first.content.decode(), "next")
    Job.objects.filter(pk__in=_rows(client.get("/jobs/" + older))).delete()  # pruned meanwhile
    again = client.get("/jobs/" + older)
    assert _rows(again) == _rows(first) and again.context["page"].first


@pytest.mark.skipif(connection.vendor != "postgresql", reason="estimates come from PostgreSQL")
def test_a_long_history_is_neither_counted_nor_skipped(team, viewer, nightly, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_BELOW", 1)  # 60 jobs stand for a million
    Job.objects.bulk_create(
        Job(team=team, profile_name="Nightly", state="failed") for _ in range(60)
    )
    client = signed_in(viewer)
    older = pager_link(client.get("/jobs/").content.decode(), "next")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/jobs/" + older)
    assert len(_rows(response)) == 10
    assert "about " in response.content.decode()  # the planner's estimate
    sql = " ".join(query["sql"] for query in queries.captured_queries).upper()
    assert "COUNT(*)" not in sql and "OFFSET" not in sql  # (a row's shards are counted)


def test_a_finished_jobs_row_is_kept_until_a_name_it_shows_changes(team, viewer, nightly):
    done = finished_job(nightly)
    running = finished_job(nightly, Job.State.RUNNING, finished_at=None)
    caches["fragments"].clear()
    client = signed_in(viewer)
    assert f'data-job="{done.pk}"' in client.get("/jobs/").content.decode()
    # A finished job's counters do not change: its row is the one rendered before. An active
    # job's row is rendered afresh.
    Job.objects.filter(pk__in=[done.pk, running.pk]).update(objects_skipped=424242)
    page = client.get("/jobs/").content.decode()
    assert page.count("424,242") == 1 and f'data-job="{running.pk}"' in page
    team.name = "Renamed team"
    team.save()
    page = client.get("/jobs/").content.decode()
    assert page.count("Renamed team") >= 2 and page.count("424,242") == 2


def test_the_job_page_shows_progress_failures_and_verification(team, viewer, nightly):
    client = signed_in(viewer)
    job = finished_job(
        nightly,
        Job.State.PARTIAL,
        error="3 objects failed",
        verification={"checked": 10, "checksums_compared": 8, "mismatched": 0, "sample": []},
    )
    failures(job, 3)
    response = client.get(f"/jobs/{job.pk}/")
    page = response.content.decode()
    assert response.context["chart"]["t"]  # drawn from the stored samples
    assert 'id="throughput-data"' in page
    assert "dir/object-2.bin" in page and "AccessDenied" in page
    assert "All 10 objects checked match." in page
    assert f"/jobs/{job.pk}/failures.csv" in page
    assert "Retry" not in page and "Cancel job" not in page  # a viewer's page has no buttons
    assert 'data-live="0"' in page  # a finished job's page does not open a socket


def test_the_job_page_shows_the_predicted_duration_then_the_actual_one(team, viewer, nightly):
    client = signed_in(viewer)
    job = Job.objects.create(team=team, profile=nightly, profile_name="Nightly")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "no estimate until it has planned" in page

    started = timezone.now() - timedelta(seconds=65)
    Job.objects.filter(pk=job.pk).update(
        state="running", started_at=started, objects_total=10, predicted_seconds=120.0
    )
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert re.search(r"predicted 2 min, running for 1 min \d+ s", page)

    Job.objects.filter(pk=job.pk).update(
        state="succeeded", finished_at=started + timedelta(seconds=130)
    )
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "predicted 2 min, took 2 min 10 s" in page


def test_the_failures_download_as_csv(team, viewer, nightly):
    client = signed_in(viewer)
    job = finished_job(nightly, Job.State.PARTIAL)
    failures(job, 3)
    response = client.get(f"/jobs/{job.pk}/failures.csv")
    assert response["Content-Disposition"] == f'attachment; filename="job-{job.pk}-failures.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["key", "operation", "error"]
    assert rows[1:] == [[f"dir/object-{n}.bin", "copy", "AccessDenied"] for n in range(3)]


def test_an_operator_cancels_a_queued_job(team, operator, nightly):
    client = signed_in(operator)
    job = Job.objects.create(team=team, profile=nightly, profile_name="Nightly")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Cancel job" in page and 'data-live="1"' in page
    response = client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert f"Job #{job.pk} cancelled." in response.content.decode()


def test_cancelling_a_finished_job_explains_why_not(team, operator, nightly):
    client = signed_in(operator)
    job = finished_job(nightly)
    response = client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert "has already finished" in response.content.decode()


@pytest.mark.parametrize(("scope", "keys"), [("failed", 3), ("all", None)])
def test_an_operator_retries_failed_objects_or_everything(team, operator, nightly, scope, keys):
    client = signed_in(operator)
    job = finished_job(nightly, Job.State.PARTIAL)
    failures(job, 3)
    response = client.post(f"/jobs/{job.pk}/retry/", {"scope": scope})
    retry = Job.objects.get(retry_of=job)
    assert response["Location"] == f"/jobs/{retry.pk}/"
    retried = retry.options.get("retry_failures_of")
    assert (job.failures.count() if retried == job.pk else None) == keys


def test_the_failures_of_a_job_are_paged_with_their_counts(
    team, viewer, nightly, django_assert_max_num_queries
):
    client = signed_in(viewer)
    job = finished_job(nightly, Job.State.PARTIAL)
    failures(job, 250)
    JobFailure.objects.create(job=job, key="late.bin", operation="verify", error="size differs")

    first = client.get(f"/jobs/{job.pk}/")
    shown = first.context["failures"]
    assert [f.key for f in shown] == [f"dir/object-{n}.bin" for n in range(100)]
    assert first.context["failure_count"] == 251
    assert first.context["failure_counts"] == [("Copy", 250), ("Verify", 1)]
    page = first.content.decode()
    assert "Copy: 250 · Verify: 1. Showing 100 of 251" in page
    after = shown[-1].pk
    assert f'href="?failures_after={after}#failures"' in page

    with django_assert_max_num_queries(15):
        third = client.get(f"/jobs/{job.pk}/", {"failures_after": after + 100})
    assert [f.key for f in third.context["failures"]][-2:] == ["dir/object-249.bin", "late.bin"]
    assert third.context["failures_next"] is None
    assert 'href="?#failures">First page' in third.content.decode()

    beyond = client.get(f"/jobs/{job.pk}/", {"failures_after": after + 10_000})
    assert "No failures after these." in beyond.content.decode()
    nonsense = client.get(f"/jobs/{job.pk}/", {"failures_after": "-1; drop"})
    assert len(nonsense.context["failures"]) == 100  # the first page
