"""Working with the portal in a browser, end to end: a team admin sets up an endpoint and a
scheduled profile with a webhook on the sandbox S3, previews and runs it, watches it live and
sees it fresh afterwards; an operator cancels a running job after its live updates survived a
dropped connection; a viewer gets no buttons and is refused when posting anyway."""

from __future__ import annotations

import itertools
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import one_at_a_time_copy, screenshot, sign_in
from tests.support import enrol_totp
from tests.transfers.support import put_objects, s3_keys, sample_data
from transfers.models import Endpoint, Job, SyncProfile

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.timeout(180)]

# With one s5cmd worker, copying these takes a few seconds on loopback: long enough to watch.
OBJECTS = 1200


def nav(page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def read_job(page) -> dict | None:
    """What the job page shows now (None while it loads)."""
    return page.evaluate(
        """() => {
          const root = document.getElementById("job-live");
          if (!root) return null;  // between two pages: a form posted, the next one loading
          const text = (f) => root.querySelector(`[data-field="${f}"]`).textContent.trim();
          return {
            state: root.querySelector('[data-field="state"]').className.replace("badge badge-", ""),
            objects: Number(text("objects_done").replace(/,/g, "")),
            percent: text("percent"),
            points: Number(document.getElementById("throughput-chart").dataset.points),
            live: document.querySelector("[data-live-status]").dataset.status || "",
          };
        }"""
    )


def watch(page, until, *, timeout: float = 120.0) -> list[dict]:
    """Read the job page every 100 ms until `until(reading)`; returns the readings."""
    readings: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reading = read_job(page)
        if reading is None:
            page.wait_for_load_state()
            continue
        readings.append(reading)
        if until(reading):
            return readings
        page.wait_for_timeout(100)
    raise AssertionError(f"the job page never got there; last: {readings[-1:]}")


def seed_bucket(s3, count: int = OBJECTS) -> str:
    bucket = s3.bucket("e2e")
    objects = list(sample_data(count, size=1000).items())
    chunks = [dict(objects[n::8]) for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda chunk: put_objects(s3.client(), bucket, chunk, prefix="src/"), chunks))
    return bucket


def test_an_admin_sets_up_previews_runs_and_watches_a_job(page, owner, team, s3_a, celery_worker):
    secret = enrol_totp(owner)
    bucket = seed_bucket(s3_a)
    sign_in(page, owner, totp_secret=secret)

    # An endpoint on the sandbox S3, and its connection test.
    nav(page, "Endpoints")
    page.get_by_role("link", name="New endpoint").click()
    page.get_by_label("Name").fill("Sandbox S3")
    page.get_by_label("Endpoint URL").fill(s3_a.url)
    page.get_by_label("Addressing style").select_option("path")
    page.get_by_label("Access key ID").fill(s3_a.access_key)
    page.get_by_label("Secret access key").fill(s3_a.secret_key)
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="Sandbox S3")).to_be_visible()
    assert s3_a.secret_key not in page.content()
    page.get_by_label("Bucket").fill(bucket)
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("[data-check-result]")
    expect(result).to_have_attribute("data-check-result", "ok")
    expect(result).to_contain_text(f"{bucket} is listable")

    # A profile that copies src/ to dst/ in the same bucket, one object at a time.
    nav(page, "Profiles")
    page.get_by_role("link", name="New profile").click()
    page.get_by_label("Name").fill("Sandbox copy")
    source, destination = (
        page.locator("#id_source_endpoint"),
        page.locator("#id_destination_endpoint"),
    )
    source.select_option(label=f"Sandbox S3 ({s3_a.url})")
    page.locator("#id_source_bucket").fill(bucket)
    page.locator("#id_source_prefix").fill("src/")
    destination.select_option(label=f"Sandbox S3 ({s3_a.url})")
    page.locator("#id_destination_bucket").fill(bucket)
    page.locator("#id_destination_prefix").fill("dst/")
    page.get_by_label("Copy (copy everything, overwrite)").check()
    page.get_by_label("Workers").fill("1")
    # A nightly schedule, said in words under the field as it is typed, and a freshness target.
    page.locator("#id_schedule").fill("30 2 * * *")
    expect(page.locator("#schedule-preview")).to_contain_text("At 02:30 (UTC)")
    page.locator("#id_max_staleness_minutes").fill("1500")
    page.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("heading", name="Sandbox copy")).to_be_visible()
    expect(page.locator("#schedule")).to_contain_text("At 02:30 (UTC)")
    expect(page.locator("#schedule .next-runs li")).to_have_count(3)
    expect(page.locator("#freshness")).to_contain_text("No run has succeeded yet")

    # A webhook for failures: its signing secret is shown once, then only the host is.
    page.get_by_text("Add a notification").click()
    page.get_by_label("Webhook", exact=True).check()
    page.get_by_label("Email address or webhook URL").fill("http://127.0.0.1:9/hooks/e2e-token")
    page.get_by_role("button", name="Add notification").click()
    expect(page.get_by_role("heading", name="Webhook added")).to_be_visible()
    signing_secret = page.locator("#webhook-secret").input_value()
    assert len(signing_secret) >= 32
    page.get_by_role("link", name="Done").click()
    expect(page.locator("#notifications")).to_contain_text("http://127.0.0.1:9/…")
    expect(page.locator("#notifications")).to_contain_text("Run failed, Run partly failed")
    assert signing_secret not in page.content() and "e2e-token" not in page.content()
    screenshot(page, "profile-scheduled")

    # Preview: what a run would copy, without copying.
    page.get_by_role("button", name="Preview").click()
    expect(page.locator('[data-preview="copy"]')).to_have_text(str(OBJECTS))
    assert s3_keys(s3_a.client(), bucket, "dst/") == set()

    # Run it and watch the page follow the job: counters and chart advance, then it succeeds.
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    readings = watch(page, lambda r: r["state"] == "running" and r["objects"] > 0)
    screenshot(page, "job-running")
    readings += watch(page, lambda r: r["state"] == "succeeded", timeout=90)
    counts = [r["objects"] for r in readings]
    assert counts == sorted(counts), "the object count went backwards"
    running = [r for r in readings if r["state"] == "running"]
    assert len({r["objects"] for r in running}) >= 3, "the progress did not advance live"
    assert len({r["points"] for r in running}) >= 2, "the chart did not advance live"
    assert readings[-1]["objects"] == OBJECTS
    expect(page.locator("#job-live [data-field=percent]")).to_have_text("100 %")
    assert readings[-1]["live"] == "ended"
    assert len(s3_keys(s3_a.client(), bucket, "dst/")) == OBJECTS

    # Reloaded, the finished job draws the same chart from its stored samples.
    page.reload()
    expect(page.locator("#throughput-chart")).not_to_have_attribute("data-points", "0")
    expect(page.locator("#verification")).to_contain_text(f"All {OBJECTS:,} objects checked match")
    expect(page.locator("#job-duration")).to_contain_text("took")
    screenshot(page, "job-finished-phone", phone=True)

    # The first success makes the profile fresh; its schedule shows in words on the list.
    nav(page, "Profiles")
    row = page.get_by_role("row", name=re.compile("Sandbox copy"))
    expect(row).to_contain_text("Fresh")
    expect(row).to_contain_text("At 02:30 (UTC)")
    screenshot(page, "profiles")

    nav(page, "Dashboard")
    expect(page.locator("[data-live-status]")).to_have_attribute("data-status", "live")
    expect(page.locator("#dashboard-stats")).to_contain_text("Finished today")
    screenshot(page, "dashboard")
    screenshot(page, "dashboard-phone", phone=True)


def let_through(proxy, held, copies: int):
    """Releases the copies `held` keeps back and lets `copies` more through, holding every one
    after them; returns the new gate and how many copies went through (objects done)."""
    following = itertools.count(1)
    gate = proxy.hold(lambda request: request.is_copy() and next(following) > copies)
    return gate, proxy.release(held) + copies


@pytest.fixture
def sandbox_profile(team, owner, s3_a, proxy_a):
    # Copied one at a time through the proxy, which holds a copy whenever the test wants the
    # job to stay where it is: it runs until the test has cancelled it, on any machine.
    bucket = seed_bucket(s3_a, count=OBJECTS // 4)
    endpoint = s3_a.endpoint(team, "Sandbox S3", url=proxy_a.url)
    return one_at_a_time_copy(team, owner, endpoint, bucket, "Slow copy")


def test_an_operator_follows_and_cancels_a_job_across_a_dropped_connection(
    page, operator, sandbox_profile, proxy_a, celery_worker
):
    secret = enrol_totp(operator)
    sign_in(page, operator, totp_secret=secret)
    dashboard = page.context.new_page()
    dashboard.goto("/")
    expect(dashboard.locator("[data-live-status]")).to_have_attribute("data-status", "live")
    expect(dashboard.locator("#running-jobs")).to_contain_text("Nothing is running")
    sockets = []

    def relay(socket):  # a pass-through proxy the test can cut, standing for a network drop
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/ws/jobs/\d+/$"), relay)
    held = proxy_a.hold(lambda request: request.is_copy())
    page.goto(f"/profiles/{sandbox_profile.pk}/")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(profile=sandbox_profile)

    # The dashboard, open all along, lists the new job and follows it: nothing done while the
    # proxy holds every copy, then exactly what it let through.
    row = dashboard.locator(f'#running-jobs tr[data-job="{job.pk}"]')
    expect(row).to_be_visible()
    done = row.locator('[data-field="objects_done"]')
    assert held.reached.wait(60), "the copy never started"  # planning first: slow when busy
    expect(done).to_have_text("0")
    held, copied = let_through(proxy_a, held, 20)
    expect(done).to_have_text(str(copied))
    expect(dashboard.locator('[data-stat="running"]')).to_have_text("1")
    expect(dashboard.locator('[data-stat="throughput"]')).not_to_have_text("0 B/s")
    screenshot(dashboard, "dashboard-running")

    # The job page's socket drops; the page says so, reconnects and resumes.
    watch(
        page, lambda r: r["state"] == "running" and r["objects"] == copied and r["live"] == "live"
    )
    sockets[-1].close()
    watch(page, lambda r: r["live"] == "reconnecting")
    held, more = let_through(proxy_a, held, 20)
    copied += more
    after = watch(page, lambda r: r["live"] == "live" and r["objects"] == copied)
    assert len(sockets) == 2 and after[-1]["state"] == "running"

    # Cancelled while the proxy holds the next copies: the job is still running at the click.
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():  # the form posts, and the job page comes back
        page.get_by_role("button", name="Cancel job").click()
    watch(page, lambda r: r["state"] == "cancelled")
    proxy_a.release(held)
    expect(page.locator("#job-live [data-field=state]")).to_have_text("Cancelled")
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert job.objects_done == copied
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    retry = page.get_by_role("button", name=re.compile("Run the whole profile again"))
    expect(retry).to_be_visible()
    expect(dashboard.locator("#running-jobs")).to_contain_text("Nothing is running")
    dashboard.close()


def test_a_viewer_sees_no_buttons_and_is_refused_anyway(page, viewer, team, owner):
    endpoint = Endpoint.objects.create(
        team=team,
        name="Sandbox S3",
        url="http://127.0.0.1:9",
        access_key_id="AKIA1",
        secret_access_key="viewer-must-not-see-this",
    )
    profile = SyncProfile.objects.create(
        team=team,
        name="Nightly",
        source_endpoint=endpoint,
        source_bucket="raw",
        destination_endpoint=endpoint,
        destination_bucket="archive",
        created_by=owner,
    )
    job = Job.objects.create(team=team, profile=profile, profile_name="Nightly")
    sign_in(page, viewer)

    nav(page, "Profiles")
    expect(page.get_by_role("link", name="Nightly")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Run"))).to_have_count(0)
    expect(page.get_by_role("link", name="New profile")).to_have_count(0)
    page.get_by_role("link", name="Nightly").click()
    for name in ("Run now", "Preview", "Delete"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    page.goto(f"/jobs/{job.pk}/")
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
    page.goto(f"/endpoints/{endpoint.pk}/")
    expect(page.get_by_role("button", name="Test connection")).to_have_count(0)
    assert "viewer-must-not-see-this" not in page.content()

    # Posting anyway, with a valid session and CSRF token, is refused by the server.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    headers = {"X-CSRFToken": csrf, "Referer": page.url}
    for path in (f"/profiles/{profile.pk}/run/", f"/jobs/{job.pk}/cancel/"):
        response = page.request.post(path, headers=headers, max_redirects=0)
        assert response.status == 403, path
    assert Job.objects.filter(profile=profile).count() == 1
    assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED
    page.goto(f"/profiles/{profile.pk}/")
