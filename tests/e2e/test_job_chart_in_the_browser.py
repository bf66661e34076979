"""The job page's throughput chart in a browser: round ticks in the unit shown, time since the
job started on the x axis (labelled from two points on), a tooltip on hover and on touch,
bytes/s and objects/s, and a live chart that ends where the counters beside it are."""

from __future__ import annotations

import itertools
import math
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import one_at_a_time_copy, screenshot, sign_in
from tests.e2e.test_jobs_in_the_browser import seed_bucket
from tests.support import enrol_totp
from tests.transfers.pages import endpoint, finished_job, profile
from transfers.models import Job, JobSample

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
MiB = 1024 * 1024
# 1/2/5 x 10^n, in the unit shown.
ROUND = re.compile(r"^(?P<n>\d+(\.\d+)?) (?P<unit>B|KiB|MiB|GiB|obj)/s$")


def odd_paced_job(team, seconds: int = 40):
    """A finished job that moved 3.3 MiB and 7 objects a second (ticks at 4.8, 9.5 ... before)."""
    now = timezone.now()
    job = finished_job(
        profile(team, endpoint(team)),
        started_at=now - timedelta(seconds=seconds),
        finished_at=now,
    )
    job.samples.all().delete()
    JobSample.objects.bulk_create(
        JobSample(
            job=job,
            t=job.started_at + timedelta(seconds=s),
            objects_done=7 * s,
            bytes_done=int(3.3 * MiB * s),
        )
        for s in range(1, seconds + 1)
    )
    return job


def ticks(page, axis: str) -> list[str]:
    value = page.locator("#throughput-chart").get_attribute(f"data-{axis}-ticks") or ""
    return value.split("|") if value else []


def assert_round(labels: list[str], unit: str) -> None:
    assert labels, "no tick labels"
    numbers = []
    for label in labels:
        found = ROUND.match(label)
        assert found and found["unit"] == unit, labels
        numbers.append(float(found["n"]))
    step = numbers[1] - numbers[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1, 2, 5), labels
    assert numbers[0] == 0 and all(
        abs((b - a) - step) < 1e-6 for a, b in itertools.pairwise(numbers)
    ), labels


def hover_middle(page) -> None:
    over = page.locator("#throughput-chart .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])
def test_the_chart_reads_well(page, team, viewer, viewport):
    job = odd_paced_job(team)
    page.set_viewport_size(viewport)
    sign_in(page, viewer)
    page.goto(f"/jobs/{job.pk}/")
    chart = page.locator("#throughput-chart")
    expect(chart).not_to_have_class(re.compile("chart-empty"))

    assert_round(ticks(page, "y"), "MiB")  # e.g. 0, 1, 2, 3, 4 MiB/s: not 4.8 / 9.5 / 14.3
    x = ticks(page, "x")
    assert x[0] == "0 s" and all(re.fullmatch(r"\d+ s", label) for label in x), x

    hover_middle(page)
    tip = page.locator("#throughput-chart .chart-tip")
    expect(tip).to_be_visible()
    expect(tip).to_have_text(re.compile(r"^3\.3 MiB/s\d+ s in \(\d\d:\d\d:\d\d"))
    screenshot(page, f"job-chart-tooltip-{viewport['width']}")

    page.get_by_role("button", name="Objects/s").click()
    expect(page.get_by_role("button", name="Objects/s")).to_have_attribute("aria-pressed", "true")
    expect(chart).to_have_attribute("data-kind", "objects")
    expect(page.locator("[data-chart-unit]")).to_have_text("objects per second")
    assert_round(ticks(page, "y"), "obj")
    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
    # A finger shows the same tooltip (uPlot follows only the mouse).
    page.evaluate(
        """() => {
          const over = document.querySelector("#throughput-chart .u-over");
          const box = over.getBoundingClientRect();
          const touch = new Touch({identifier: 1, target: over,
            clientX: box.left + box.width * 0.6, clientY: box.top + box.height / 2});
          over.dispatchEvent(new TouchEvent("touchstart", {touches: [touch], bubbles: true}));
        }"""
    )
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("7 objects/s")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    screenshot(page, f"job-chart-objects-{viewport['width']}")


def test_two_points_get_time_labels(page, team, viewer):
    job = odd_paced_job(team, seconds=4)  # stored in 2 s buckets: two points

    sign_in(page, viewer)
    page.goto(f"/jobs/{job.pk}/")

    expect(page.locator("#throughput-chart")).to_have_attribute("data-points", "2")
    labels = ticks(page, "x")
    assert len(labels) >= 2 and labels[0] == "0 s", labels


@pytest.mark.worker
@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])
def test_the_live_chart_ends_where_the_counters_are(
    page, team, owner, operator, s3_a, celery_worker, viewport
):
    bucket = seed_bucket(s3_a)
    copy = one_at_a_time_copy(team, owner, s3_a.endpoint(team, "Sandbox S3"), bucket, "Chart")
    secret = enrol_totp(operator)
    page.set_viewport_size(viewport)
    sign_in(page, operator, totp_secret=secret)
    page.goto(f"/profiles/{copy.pk}/")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    # Each time the "now" tile changes, the chart's last point must already show that value.
    page.evaluate(
        """() => {
          window.checks = [];
          const tile = document.querySelector('#job-tiles [data-field="throughput"]');
          const chart = document.getElementById("throughput-chart");
          new MutationObserver(() => {
            const last = chart.dataset.last;
            if (!last || document.getElementById("job-live").dataset.state !== "running") return;
            window.checks.push([tile.textContent, SyncPortal.format.rate(Number(last))]);
          }).observe(tile, {childList: true, characterData: true, subtree: true});
        }"""
    )
    job = Job.objects.get(profile=copy)
    expect(page.locator("#job-summary")).to_be_visible(timeout=180_000)
    checks = page.evaluate("() => window.checks")
    assert len(checks) >= 2, checks  # it was watched while it ran
    assert [shown for shown, drawn in checks if shown != drawn] == [], checks
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    labels = ticks(page, "x")
    assert labels and labels[0] == "0 s", labels
