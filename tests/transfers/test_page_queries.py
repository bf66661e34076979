"""No page's query count grows with its rows: each list page is rendered with several rows of
everything it shows, and held to the queries it needs for one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.transfers.pages import endpoint, failures, finished_job, profile, signed_in
from transfers.models import Job

pytestmark = pytest.mark.django_db

ROWS = 6


@pytest.fixture
def busy_team(team, owner, other_team):
    """Several endpoints, profiles (scheduled, with freshness targets they miss), succeeded,
    failed and running jobs."""
    long_ago = timezone.now() - timedelta(hours=3)
    for n in range(ROWS):
        store = endpoint(team, f"Store {n}")
        nightly = profile(
            team, store, f"Nightly {n}", schedule=f"{n} 2 * * *", max_staleness_minutes=60
        )
        finished_job(nightly, started_at=long_ago, finished_at=long_ago + timedelta(seconds=10))
        failed = finished_job(nightly, Job.State.PARTIAL, error="3 objects failed")
        failures(failed, 3)
        Job.objects.create(team=team, profile=nightly, profile_name=nightly.name, state="running")
    profile(other_team, endpoint(other_team, "Theirs"), "Not ours")
    return team


@pytest.mark.parametrize(
    ("path", "queries"),
    [
        # Every page reads the session, its user and the user's memberships (once, for the
        # MFA policy, the Audit link and the buttons: User.team_memberships); none writes the
        # session (accounts.middleware).
        ("/", 10),  # + the profiles with a freshness target, for the stale ones
        ("/endpoints/", 5),
        ("/profiles/", 5),
        ("/jobs/", 7),  # a history that fits its page is not counted
        ("/jobs/?state=partial&team={team}", 8),  # the form looks the team up
    ],
)
def test_a_list_page_makes_a_fixed_number_of_queries(
    busy_team, owner, path, queries, django_assert_num_queries
):
    client = signed_in(owner)
    with django_assert_num_queries(queries):
        response = client.get(path.format(team=busy_team.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Not ours" not in page
    if path in ("/", "/profiles/"):  # the freshness badges came from the annotation
        assert page.count(">Stale</span>") == ROWS


def test_a_job_page_with_failures_and_samples_makes_a_fixed_number_of_queries(
    busy_team, owner, django_assert_num_queries
):
    client = signed_in(owner)
    job = Job.objects.filter(state=Job.State.PARTIAL).first()
    # + the manifest's hash, + the names of the endpoints in its options, + its shards counted
    # by state (none: no Shards card)
    with django_assert_num_queries(11):
        response = client.get(f"/jobs/{job.pk}/")
    assert response.status_code == 200
    assert response.context["chart"]["t"]
    assert len(response.context["failures"]) == 3


def test_a_finished_jobs_row_is_kept_but_follows_renames(busy_team, owner):
    """Finished rows come from the fragment cache (they no longer change), keyed by what can
    still be renamed; a running job's row is rendered afresh."""
    client = signed_in(owner)

    def rows() -> str:
        page = client.get("/jobs/").content.decode()
        return page[page.index("<tbody>") : page.index("</tbody>")]

    assert rows() == rows()
    busy_team.name = "Renamed team"
    busy_team.save()
    Job.objects.filter(state=Job.State.RUNNING).update(objects_done=4321)
    page = rows()
    assert page.count("Renamed team") == Job.objects.count()
    assert page.count(">4,321<") == ROWS
