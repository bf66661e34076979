"""Previewing in a browser: Preview answers at once, the card follows the worker's listing live
(objects listed on each side, elapsed, a Cancel button), then shows the plan; on a laptop and
on a phone, without a console error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, screenshot, sign_in
from tests.support import enrol_totp
from tests.transfers.support import put_objects, same_bucket_profile

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.timeout(180)]

WIDE = {"width": 1400, "height": 900}


def destination_listing(request) -> bool:
    return request.method == "GET" and request.query.get("prefix") == ["dst/"]


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "390px"])
def test_a_preview_shows_its_progress_then_the_plan(
    page, viewport, team, owner, s3_a, proxy_a, celery_worker
):
    bucket = s3_a.bucket("e2e-preview")
    put_objects(
        s3_a.client(), bucket, {f"day-{n:02}.csv": b"x" * n for n in range(30)}, prefix="src/"
    )
    endpoint = s3_a.endpoint(team, "Sandbox S3", url=proxy_a.url)
    profile = same_bucket_profile(team, owner, endpoint, bucket, name="Daily exports")
    # The destination's listing is held: the worker lists the source's first key and waits.
    held = proxy_a.hold(destination_listing)
    page.set_viewport_size(viewport)
    sign_in(page, owner, totp_secret=enrol_totp(owner))
    page.goto(f"/profiles/{profile.pk}/")
    page.get_by_role("button", name="Preview", exact=True).click()

    card = page.locator("#preview")
    expect(card.locator("[data-live-status]")).to_have_attribute("data-status", "live")
    expect(card.locator('[data-preview-field="source_listed"]')).to_have_text("1")
    expect(card.locator('[data-preview-field="destination_listed"]')).to_have_text("0")
    expect(card.locator('[data-preview-field="state"]')).to_have_text("Listing")
    expect(card.get_by_role("button", name="Cancel the preview")).to_be_visible()
    assert held.reached.is_set() and not held.released.is_set()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"preview-listing-{viewport['width']}")

    proxy_a.release(held)
    expect(card.locator('[data-preview="copy"]')).to_have_text("30")
    expect(card).to_contain_text("day-00.csv")
    expect(card.get_by_role("button", name="Cancel the preview")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # A reload shows the same plan: it is kept for a while.
    page.reload()
    expect(page.locator('#preview [data-preview="copy"]')).to_have_text("30")
