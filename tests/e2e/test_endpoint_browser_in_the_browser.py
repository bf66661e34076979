"""The endpoint browser as the profile form's picker: "Browse…" opens the endpoint's buckets
and folders in a dialog, a click fills in the bucket and prefix, and the saved profile has them;
at a laptop's width and a phone's, with nothing wider than the screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, PHONE, sign_in
from tests.support import enrol_totp
from tests.transfers.support import put_objects
from transfers.models import SyncProfile

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

WIDE = {"width": 1400, "height": 900}


def _fits(page, viewport) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} is {width} px wide"


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])
def test_it_picks_the_source_bucket_and_prefix_from_the_endpoint(
    page, operator, team, s3_a, viewport
):
    endpoint = s3_a.endpoint(team, "Provider A")
    bucket = s3_a.bucket("picker")
    put_objects(
        s3_a.client(),
        bucket,
        {"exports/2026/a.csv": b"a" * 2048, "exports/2026/b.csv": b"b", "readme.txt": b"hi"},
    )
    target = s3_a.bucket("picked-to")
    page.set_viewport_size(viewport)
    sign_in(page, operator, totp_secret=enrol_totp(operator))
    width = viewport["width"]

    page.goto("/profiles/new/")
    page.fill("#id_name", "picked by browsing")
    page.select_option("#id_source_endpoint", str(endpoint.pk))
    page.locator("[data-browse='source']").click()
    dialog = page.get_by_role("dialog", name="Choose the source bucket and prefix")
    expect(dialog).to_be_visible()
    dialog.get_by_role("link", name=bucket).click()
    expect(dialog.get_by_role("link", name="exports/")).to_be_visible()
    expect(dialog.locator(".browser-object")).to_contain_text("readme.txt")
    dialog.get_by_role("link", name="exports/").click()
    dialog.get_by_role("link", name="2026/").click()
    expect(dialog.locator("[aria-current=location]")).to_have_text("2026")
    expect(dialog.locator(".browser-object")).to_have_count(2)
    expect(dialog).to_contain_text("2.0 KiB")
    _fits(page, viewport)
    page.screenshot(path=str(ARTIFACTS / f"picker-{width}-dialog.png"))
    dialog.get_by_role("button", name=f"Use s3://{bucket}/exports/2026/").click()

    expect(dialog).to_be_hidden()
    expect(page.locator("#id_source_bucket")).to_have_value(bucket)
    expect(page.locator("#id_source_prefix")).to_have_value("exports/2026/")
    # The other side is typed by hand: the form works without the picker too.
    page.select_option("#id_destination_endpoint", str(endpoint.pk))
    page.fill("#id_destination_bucket", target)
    _fits(page, viewport)
    page.get_by_role("button", name="Create profile").click()

    page.wait_for_url(re.compile(r"/profiles/\d+/$"))
    profile = SyncProfile.objects.get(name="picked by browsing")
    assert (profile.source_endpoint_id, profile.source_bucket, profile.source_prefix) == (
        endpoint.pk,
        bucket,
        "exports/2026/",
    )
    assert (profile.destination_bucket, profile.destination_prefix) == (target, "")
    page.screenshot(path=str(ARTIFACTS / f"picker-{width}-saved.png"), full_page=True)


def test_the_browse_page_counts_a_prefix_when_asked(page, viewer, team, s3_a, celery_worker):
    endpoint = s3_a.endpoint(team, "Provider A")
    bucket = s3_a.bucket("counted")
    put_objects(s3_a.client(), bucket, {f"logs/{n}.log": b"x" * 1024 for n in range(5)})
    sign_in(page, viewer)

    page.goto(f"/endpoints/{endpoint.pk}/")
    page.get_by_role("link", name="Browse", exact=True).click()
    page.get_by_role("link", name=bucket).click()
    page.get_by_role("link", name="logs/").click()
    page.get_by_role("button", name="Count objects and size").click()

    expect(page.locator("[data-usage-result]")).to_have_text("5 objects · 5.0 KiB")
    for viewport in (WIDE, PHONE):
        page.set_viewport_size(viewport)
        _fits(page, viewport)
        page.screenshot(
            path=str(ARTIFACTS / f"browse-{viewport['width']}-counted.png"), full_page=True
        )
