"""A long job history in the browser: the jobs list pages by cursor (Older, Newer, Newest),
each page the next 50 jobs, and a job that starts meanwhile does not shift the older pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from syncportal import pagination
from tests.e2e.conftest import sign_in
from transfers.models import Job

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_a_viewer_walks_the_history_older_and_back(page, viewer, team, monkeypatch):
    # Counted exactly, whatever the planner guesses of a table earlier tests wrote to.
    monkeypatch.setattr(pagination, "EXACT_COUNT_BELOW", 10**9)
    at = timezone.now() - timedelta(hours=1)
    Job.objects.bulk_create(
        Job(team=team, profile_name="Nightly", state="succeeded", created_at=at) for _ in range(120)
    )
    newest_first = list(Job.objects.order_by("-created_at", "-pk").values_list("pk", flat=True))
    rows = page.locator("#job-results tbody tr[data-job]")

    def shown() -> list[int]:
        return [int(pk) for pk in rows.evaluate_all("(rows) => rows.map((r) => r.dataset.job)")]

    sign_in(page, viewer)
    page.goto("/jobs/")
    expect(page.locator("[data-job-count]")).to_have_text("120 jobs")
    expect(rows).to_have_count(50)
    assert shown() == newest_first[:50]
    expect(page.get_by_role("link", name="← Newer")).to_have_count(0)

    Job.objects.create(team=team, profile_name="Nightly", state="succeeded")  # starts meanwhile
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(re.compile(r"before="))
    expect(rows).to_have_count(50)
    assert shown() == newest_first[50:100]
    page.get_by_role("link", name="Older →").click()
    expect(rows).to_have_count(20)
    assert shown() == newest_first[100:]
    expect(page.get_by_role("link", name="Older →")).to_have_count(0)

    page.get_by_role("link", name="← Newer").click()
    page.wait_for_url(re.compile(r"after="))
    expect(rows).to_have_count(50)
    assert shown() == newest_first[50:100]
    page.get_by_role("link", name="« Newest").click()
    expect(rows).to_have_count(50)
    assert shown()[1:] == newest_first[:49]  # the new job on top
    expect(page.locator("[data-job-count]")).to_have_text("121 jobs")
