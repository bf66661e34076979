"""Watching a real job end in the browser: without a reload its page turns into the report
(summary tiles, no "Time left", no stale "queued" banner, the chart as a reload would draw
it), and the jobs list, open in another tab, follows the job to its end; at laptop and phone
widths, with no console error."""

from __future__ import annotations

import re

import pytest
from django.template import Context, Template
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, LAPTOP, PHONE, one_at_a_time_copy, screenshot, sign_in
from tests.e2e.test_jobs_in_the_browser import OBJECTS, seed_bucket
from tests.support import enrol_totp
from transfers.models import Job, progress_percent

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.timeout(240)]


@pytest.fixture
def copy_profile(team, owner, s3_a):
    # One s5cmd worker over OBJECTS small objects: seconds of planning and copying, so the
    # page is live before the job ends.
    bucket = seed_bucket(s3_a)
    endpoint = s3_a.endpoint(team, "Sandbox S3")
    return one_at_a_time_copy(team, owner, endpoint, bucket, "Report copy")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_the_job_page_turns_into_its_report_when_the_job_ends(
    page, operator, copy_profile, celery_worker, viewport
):
    secret = enrol_totp(operator)
    page.set_viewport_size(viewport)
    sign_in(page, operator, totp_secret=secret)
    page.goto(f"/profiles/{copy_profile.pk}/")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(profile=copy_profile)

    # Live, with the banner of the start; a marker tells whether the document is ever reloaded.
    expect(page.locator("#job-live")).to_have_attribute("data-live", "1")
    expect(page.locator(".messages")).to_contain_text(f"Job #{job.pk}")
    expect(page.locator("#job-tiles")).to_contain_text("Time left")
    page.evaluate("() => { window.sameDocument = true; }")

    # The jobs list, opened while the job is active, follows its row to the end.
    jobs = page.context.new_page()
    jobs.set_viewport_size(viewport)
    jobs.goto("/jobs/")
    row = jobs.locator(f'tr[data-job="{job.pk}"]')
    expect(row).to_have_attribute("data-live", "")
    jobs.evaluate("() => { window.sameDocument = true; }")

    summary = page.locator("#job-summary")
    expect(summary).to_be_visible(timeout=180_000)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert page.evaluate("() => window.sameDocument === true")  # no reload
    # The summary opens the page: above the progress card.
    assert page.evaluate(
        """() => document.getElementById("job-summary").compareDocumentPosition(
            document.getElementById("job-tiles")) & Node.DOCUMENT_POSITION_FOLLOWING"""
    )

    # The report: the summary's tiles, the run's figures instead of the live-only ones.
    expect(summary.locator('[data-summary="transferred"]')).to_contain_text(f"{OBJECTS:,} objects")
    for name in ("skipped", "deleted", "failed", "verified", "average", "peak", "elapsed"):
        expect(summary.locator(f'[data-summary="{name}"]')).to_be_visible()
    expect(summary.locator('[data-summary="started-by"]')).to_contain_text(str(operator))
    # One set of counters: the summary's; the live-only tiles are gone, not repeated.
    expect(page.locator("#job-tiles .stat")).to_have_count(0)
    for label in ("Skipped", "Failed", "Deleted", "Average throughput", "Elapsed"):
        expect(page.locator(".stat .label", has_text=label)).to_have_count(1)
    expect(page.get_by_text("Time left")).to_have_count(0)
    expect(page.locator(".messages")).to_have_count(0)
    expect(page.locator("[data-live-status]")).to_have_attribute("data-status", "ended")
    expect(page.locator('#job-live [data-field="percent"]')).to_have_text("100 %")
    chart = page.locator("#throughput-chart")
    expect(chart).not_to_have_attribute("data-empty", re.compile("starts with the first"))
    # The chart shows the stored samples, as a reload would.
    stored = len(
        page.evaluate("() => JSON.parse(document.getElementById('job-summary').dataset.chart).t")
    )
    expect(chart).to_have_attribute("data-points", str(stored))
    expect(page.locator("#job-report")).to_contain_text("server-side copy")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    screenshot(page, f"job-report-{viewport['width']}")

    expect(row.locator('[data-field="state"]')).to_have_text("Succeeded")
    expect(row.locator('[data-field="percent"]')).to_have_text("100 %")
    expect(row.locator('[data-field="objects_done"]')).to_have_text(f"{OBJECTS:,}")
    expect(row.locator('[data-field="objects_failed"]')).to_have_text("0")
    assert jobs.evaluate("() => window.sameDocument === true")
    assert jobs.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    jobs.screenshot(path=str(ARTIFACTS / f"jobs-list-{viewport['width']}.png"), full_page=True)
    jobs.close()


@pytest.mark.parametrize(
    "counts",
    [
        (116, 260, 1000, 1000),  # bytes done, 144 objects to go
        (250, 260, 100, 1000),
        (3, 4, 0, 0),  # empty objects
        (7, 9, 12345, 99999),
        (0, None, 0, None),
    ],
)
def test_the_browser_reckons_percent_as_the_server_does(page, counts):
    objects_done, objects_total, bytes_done, bytes_total = counts
    page.goto("/accounts/login/")
    page.add_script_tag(url="/static/js/live.js")
    in_browser = page.evaluate(
        """([od, ot, bd, bt]) => SyncPortal.percentText(SyncPortal.percentOf({
            objects_done: od, objects_total: ot, bytes_done: bd, bytes_total: bt, final: false,
        }))""",
        list(counts),
    )
    on_server = Template("{% load portal %}{{ value|percent }}").render(
        Context({"value": progress_percent(objects_done, objects_total, bytes_done, bytes_total)})
    )
    assert in_browser == on_server
