"""The Shards card of a sharded job in a real browser: at a laptop's width and a phone's, the
counts by state, the hosts running shards and one cell per shard, each named in words; while
the job runs the card follows its shards, and once it ends it keeps the final strip. A member
of another team gets a 404."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, PHONE, sign_in
from tests.support import enrol_totp
from tests.transfers.pages import endpoint, finished_job, profile
from tests.transfers.test_job_shards import STATES, WORKERS, make_shards
from transfers.models import Job, JobShard

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
WIDE = {"width": 1400, "height": 900}


@pytest.fixture
def sharded(team):
    nightly = profile(team, endpoint(team))
    job = finished_job(nightly, Job.State.RUNNING, finished_at=None, objects_total=800)
    make_shards(job, STATES, WORKERS)
    return job


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    strip = page.locator(".shard-strip").bounding_box()
    assert strip["x"] >= 0 and strip["x"] + strip["width"] <= width, strip


def test_a_viewer_watches_a_jobs_shards(page, team, viewer, outsider, sharded):
    page.set_viewport_size(WIDE)
    sign_in(page, viewer)
    page.goto(f"/jobs/{sharded.pk}/")
    card = page.locator("#job-shards")
    expect(card.get_by_role("heading", name=re.compile("Shards"))).to_be_visible()
    counts = card.locator("[data-field=shard-counts]")
    expect(counts).to_have_text("1 pending · 1 queued · 3 running · 2 succeeded · 1 failed")
    expect(card.locator("[data-field=shard-workers]")).to_have_text(
        "Running on worker-a (2), worker-b (1)"
    )
    cells = card.get_by_role("img")
    expect(cells).to_have_count(len(STATES))
    expect(cells.nth(7)).to_have_attribute(
        "aria-label", re.compile(r"^Shard 7: Failed, on worker-c, 2 attempts; .*to the last key")
    )
    running_on_b = card.get_by_role("img", name=re.compile(r"^Shard 4: Running, on worker-b"))
    expect(running_on_b).to_be_visible()
    _fits(page, WIDE["width"])
    page.screenshot(path=str(ARTIFACTS / "shards-1400-running.png"), full_page=True)

    # The worker moves on: the card follows without a reload.
    JobShard.objects.filter(job=sharded, seq__in=[2, 3, 4]).update(
        state="succeeded", objects_done=100, finished_at=timezone.now()
    )
    JobShard.objects.filter(job=sharded, seq=5).update(state="running", worker="worker-b:7:y2")
    expect(counts).to_have_text("1 pending · 1 running · 5 succeeded · 1 failed")
    expect(card.locator("[data-field=shard-workers]")).to_have_text("Running on worker-b (1)")
    expect(cells.nth(2)).to_have_class(re.compile(r"\bshard-succeeded\b"))

    # The job ends: the card keeps the final strip and stops following.
    JobShard.objects.filter(job=sharded, state__in=["pending", "running"]).update(
        state="succeeded", objects_done=100, finished_at=timezone.now()
    )
    Job.objects.filter(pk=sharded.pk).update(state="partial", finished_at=timezone.now())
    expect(counts).to_have_text("7 succeeded · 1 failed")
    expect(card).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(card.locator("[data-field=shard-workers]")).to_have_count(0)

    page.set_viewport_size(PHONE)
    page.reload()
    expect(card.get_by_role("img")).to_have_count(len(STATES))
    _fits(page, PHONE["width"])
    page.screenshot(path=str(ARTIFACTS / "shards-390-finished.png"), full_page=True)

    # Someone of another team: no such job, no such card.
    page.context.clear_cookies()
    secret = enrol_totp(outsider)
    sign_in(page, outsider, totp_secret=secret)
    assert page.request.get(f"/jobs/{sharded.pk}/").status == 404
    assert page.request.get(f"/jobs/{sharded.pk}/shards/").status == 404


def test_a_job_of_thousands_of_shards_stays_a_small_page(page, team, viewer):
    nightly = profile(team, endpoint(team))
    job = finished_job(nightly, Job.State.SUCCEEDED)
    states = ["succeeded"] * 3000
    states[1234] = "failed"
    make_shards(job, states)
    sign_in(page, viewer)
    for viewport in (WIDE, PHONE):
        page.set_viewport_size(viewport)
        response = page.goto(f"/jobs/{job.pk}/")
        assert len(response.body()) < 200_000
        cells = page.locator("#job-shards").get_by_role("img")
        expect(cells).to_have_count(200)
        expect(page.locator(".shard-cell.shard-failed")).to_have_count(1)
        expect(page.locator(".shard-cell.shard-failed")).to_have_attribute(
            "aria-label", re.compile(r"^Shards 1230 to 1244: 1 failed, 14 succeeded")
        )
        _fits(page, viewport["width"])
        page.screenshot(
            path=str(ARTIFACTS / f"shards-{viewport['width']}-3000-shards.png"), full_page=True
        )


def test_shards_cut_after_the_page_opened_appear_from_the_jobs_socket(page, team, viewer):
    """The job had no shards when the page opened; a live message that counts some (`shards`,
    {state: count}) makes the page fetch the card, without a reload."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from transfers.progress import job_group, message_for_job, publish

    nightly = profile(team, endpoint(team))
    job = finished_job(nightly, Job.State.RUNNING, finished_at=None)
    sign_in(page, viewer)
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("#job-shards")).to_be_hidden()
    expect(page.locator("[data-live-status]")).to_have_attribute("data-status", "live")
    make_shards(job, ["running", "queued", "pending"], {0: "worker-a:1:x"})

    def send() -> None:
        # From another thread: this one runs Playwright's event loop (see
        # test_first_run_and_live_list_in_the_browser.started_elsewhere).
        try:
            counts = {"running": 1, "queued": 1, "pending": 1}
            publish(lambda: {**message_for_job(job), "shards": counts}, [job_group(job.pk)], "t")
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(send).result()
    card = page.locator("#job-shards")
    expect(card.get_by_role("img")).to_have_count(3)
    expect(card.locator("[data-field=shard-counts]")).to_have_text(
        "1 pending · 1 queued · 1 running"
    )
    expect(card.locator("[data-field=shard-workers]")).to_have_text("Running on worker-a (1)")
