"""A new portal in a browser: the empty dashboard points at the demo profile (or at creating a
profile) with a Run button; a job that starts appears on /jobs/ without a reload; a cancelled
job's page offers Continue. At 1400 and 390 px, with no console error."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, sign_in
from tests.support import enrol_totp
from tests.transfers.pages import endpoint, profile
from transfers.demo import DEMO_PROFILE_NAME
from transfers.models import Job
from transfers.specs import snapshot_options

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])


def fits(page, viewport) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]


def shot(page, name: str, viewport) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}-{viewport['width']}.png"), full_page=True)


@VIEWPORTS
def test_the_empty_dashboard_runs_the_demo_profile(page, team, operator, viewport):
    demo = profile(team, endpoint(team, "Sandbox S3"), name=DEMO_PROFILE_NAME)
    profile(team, endpoint(team, "Other"), name="Another one")
    secret = enrol_totp(operator)
    page.set_viewport_size(viewport)
    sign_in(page, operator, totp_secret=secret)

    first_run = page.locator("#first-run")
    expect(first_run).to_contain_text("No job has run yet")
    expect(first_run.get_by_role("link", name=DEMO_PROFILE_NAME)).to_have_attribute(
        "href", f"/profiles/{demo.pk}/"
    )
    fits(page, viewport)
    shot(page, "first-run-demo", viewport)
    first_run.get_by_role("button", name=f"Run {DEMO_PROFILE_NAME}").click()

    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get()
    assert (job.profile, job.triggered_by) == (demo, operator)
    page.goto("/")
    expect(page.locator("#first-run")).to_have_count(0)  # once a job exists


@VIEWPORTS
def test_without_a_profile_it_points_at_creating_one(page, team, operator, viewer, viewport):
    secret = enrol_totp(operator)
    page.set_viewport_size(viewport)
    sign_in(page, operator, totp_secret=secret)

    first_run = page.locator("#first-run")
    expect(first_run).to_contain_text("Nothing to run yet")
    first_run.get_by_role("link", name="Create a profile").click()
    page.wait_for_url("**/profiles/new/")
    fits(page, viewport)

    page.context.clear_cookies()
    profile(team, endpoint(team))
    sign_in(page, viewer)  # a viewer is told who can run it, and gets no button
    expect(page.locator("#first-run")).to_contain_text("An operator of")
    expect(page.locator("#first-run").get_by_role("button")).to_have_count(0)
    shot(page, "first-run-viewer", viewport)


def started_elsewhere(nightly, operator) -> Job:
    """Start a job from another thread: this one runs Playwright's event loop, where the
    broadcast after the commit (async_to_sync) cannot run."""
    from django.db import connection

    from transfers import services

    def start() -> Job:
        try:
            return services.start_job(nightly, actor=operator)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(start).result()


@VIEWPORTS
def test_a_job_that_starts_appears_on_the_jobs_list(page, team, operator, viewer, viewport):
    """The list inserts the row of a job started elsewhere (here: by an operator, through the
    service), from the team's socket messages, without a reload."""
    nightly = profile(team, endpoint(team))
    older = Job.objects.create(team=team, profile=nightly, profile_name="Nightly", state="failed")
    page.set_viewport_size(viewport)
    sign_in(page, viewer)
    page.goto("/jobs/")
    expect(page.locator(f'tr[data-job="{older.pk}"]')).to_be_visible()
    # The socket is open before the job starts.
    expect(page.locator("#job-results")).to_have_attribute("data-following", "1")
    page.evaluate("() => { window.sameDocument = true; }")

    job = started_elsewhere(nightly, operator)  # queued: no worker in this test

    row = page.locator(f'tr[data-job="{job.pk}"]')
    expect(row).to_be_visible(timeout=15_000)
    # Queued, unless a worker the suite started for other tests took it (its endpoint has no
    # reachable URL here, so that run fails): the row is there either way.
    expect(row.locator('[data-field="state"]')).to_have_text(re.compile("Queued|Planning|Failed"))
    assert page.evaluate("() => window.sameDocument === true")
    first = page.locator("#job-results tbody tr").first
    expect(first).to_have_attribute("data-job", str(job.pk))  # newest first
    fits(page, viewport)
    shot(page, "jobs-list-new-row", viewport)


@VIEWPORTS
def test_a_cancelled_job_continues_from_its_page(page, team, operator, viewport):
    nightly = profile(team, endpoint(team))
    cancelled = Job.objects.create(
        team=team,
        profile=nightly,
        profile_name="Nightly",
        state=Job.State.CANCELLED,
        options=snapshot_options(nightly),
    )
    secret = enrol_totp(operator)
    page.set_viewport_size(viewport)
    sign_in(page, operator, totp_secret=secret)
    page.goto(f"/jobs/{cancelled.pk}/")
    fits(page, viewport)
    shot(page, "job-cancelled-continue", viewport)

    # The confirmation is in the page the button leads to. A worker the suite started for
    # other tests may take the new job and end it (its endpoint is unreachable here), and the
    # page then reloads as a report without it: read the first answer, not the live page.
    new_page = re.compile(rf"/jobs/(?!{cancelled.pk}/)\d+/$")
    with page.expect_response(lambda r: bool(new_page.search(r.url))) as answer:
        page.get_by_role("button", name="Continue", exact=True).click()
    assert f"continues job #{cancelled.pk}" in answer.value.text()

    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    follow_up = Job.objects.exclude(pk=cancelled.pk).get()
    assert page.url.endswith(f"/jobs/{follow_up.pk}/")
    expect(page.locator(".subtitle")).to_contain_text(f"continues #{cancelled.pk}")
    assert (follow_up.trigger, follow_up.options["skip_intact"]) == ("continue", True)
