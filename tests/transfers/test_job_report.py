"""A finished job's page reads as a report: an execution summary at the top (transferred,
skipped, deleted, failed, verified, average and peak throughput, elapsed, who started and who
cancelled it), and no live-only tiles."""

from __future__ import annotations

import re

import pytest

from tests.transfers.pages import endpoint, finished_job, parsed, profile, signed_in
from transfers import services
from transfers.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightly(team):
    return profile(team, endpoint(team))


def summary_of(page: str) -> dict[str, str]:
    """The summary's tiles and people, by name: "label value note"."""
    if 'id="job-summary"' not in page:
        return {}
    return parsed(page, "data-summary").texts


def test_a_finished_job_opens_with_its_summary(team, viewer, operator, nightly):
    job = finished_job(
        nightly,
        Job.State.PARTIAL,
        triggered_by=operator,
        objects_skipped=4,
        objects_deleted=2,
        objects_failed=1,
        verification={"checked": 10, "checksums_compared": 8, "mismatched": 1, "sample": []},
    )

    page = signed_in(viewer).get(f"/jobs/{job.pk}/").content.decode()
    summary = summary_of(page)

    assert summary["transferred"] == "Transferred 10.0 MiB 10 objects"
    assert summary["skipped"] == "Skipped 4 unchanged"
    assert summary["deleted"] == "Deleted 2 at the destination"
    assert summary["failed"] == "Failed 1 objects"
    assert summary["verified"] == "Verified 10 1 did not match"
    assert summary["average"] == "Average throughput 1.0 MiB/s over the run"
    # The samples add 1 MiB a second: the peak over 2 s buckets is that rate.
    assert summary["peak"] == "Peak throughput 1.0 MiB/s over 2 s"
    assert summary["elapsed"] == "Elapsed 10 s from start to end"
    assert summary["started-by"] == f"{operator} (manual)"
    assert "cancelled-by" not in summary
    # The live-only tiles are gone; the chart says what it would say after a reload.
    assert "Time left" not in page and ">now<" not in page
    assert "The chart starts with the first measurements." not in page


def test_a_cancelled_job_says_who_cancelled_it(
    team, operator, nightly, django_assert_max_num_queries
):
    client = signed_in(operator)
    job = Job.objects.create(team=team, profile=nightly, profile_name=nightly.name)
    services.cancel_job(job, actor=operator)

    # test_page_queries' 14, + who cancelled it (the audit trail)
    with django_assert_max_num_queries(15):
        page = client.get(f"/jobs/{job.pk}/").content.decode()
    summary = summary_of(page)

    assert summary["cancelled-by"].startswith(f"{operator},")
    assert summary["elapsed"] == "Elapsed — never started"
    assert summary["peak"] == "Peak throughput — too short to measure"


def test_a_running_job_has_live_tiles_and_no_summary(team, viewer, nightly):
    job = Job.objects.create(
        team=team,
        profile=nightly,
        profile_name=nightly.name,
        state=Job.State.RUNNING,
        objects_total=260,
        objects_done=116,
        bytes_total=1000,
        bytes_done=1000,
    )
    page = signed_in(viewer).get(f"/jobs/{job.pk}/").content.decode()
    assert summary_of(page) == {}
    assert "Time left" in page
    # Bytes are done, 144 of 260 objects are not: the page says 44 %, not 100 %.
    assert re.search(r'data-field="percent">44 %<', page)
