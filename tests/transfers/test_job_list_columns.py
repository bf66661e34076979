"""The jobs list has failed, skipped and percent columns (the percent of active jobs follows
their socket), and pages name a plan's route in words."""

from __future__ import annotations

import re

import pytest

from tests.transfers.pages import endpoint, finished_job, parsed, profile, signed_in
from transfers.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightly(team):
    return profile(team, endpoint(team))


def test_the_plan_names_its_route_in_words(team, viewer, nightly):
    plan = {"objects_to_copy": 3, "bytes_to_copy": 30, "objects_unchanged": 0}
    server_side = finished_job(
        nightly, plan={**plan, "objects_to_delete": 0, "route": "server_side"}
    )
    relay = finished_job(nightly, plan={**plan, "objects_to_delete": 0, "route": "relay"})
    client = signed_in(viewer)

    page = client.get(f"/jobs/{server_side.pk}/").content.decode()
    assert "server-side copy" in page and "server_side" not in page
    page = client.get(f"/jobs/{relay.pk}/").content.decode()
    assert "relay between endpoints" in page and "route relay" not in page


def test_the_jobs_list_shows_failed_skipped_and_percent(team, viewer, nightly):
    finished_job(nightly, Job.State.PARTIAL, objects_skipped=7, objects_failed=3)
    running = Job.objects.create(
        team=team,
        profile=profile(team, nightly.source_endpoint, "Weekly"),
        profile_name="Weekly",
        state=Job.State.RUNNING,
        objects_total=260,
        objects_done=116,
        bytes_total=1000,
        bytes_done=1000,
    )

    page = signed_in(viewer).get("/jobs/").content.decode()
    table = page[page.index('<table class="jobs-table') : page.index("</table>")]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    rows = {}
    for row in re.findall(r"<tr data-job=.*?</tr>", table, re.S):
        parser = parsed(row, "data-field")
        rows[int(parser.tags[0][1]["data-job"])] = (parser.texts, parser.tags[0][1])

    assert {"Done", "Skipped", "Failed"} <= set(headers)
    partial = next(pk for pk in rows if pk != running.pk)
    assert rows[partial][0]["objects_skipped"] == "7"
    assert rows[partial][0]["objects_failed"] == "3"
    assert rows[running.pk][0]["percent"] == "44 %"
    # Rows of active jobs follow the team's socket; the page loads the script that does it.
    assert "data-live" in rows[running.pk][1] and "data-live" not in rows[partial][1]
    assert "js/job-list.js" in page and 'id="state-labels"' in page
