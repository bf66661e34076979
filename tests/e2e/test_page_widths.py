"""Every page fits the screen, at a laptop's width and a phone's: no page is wider than the
viewport, and on a phone the navigation folds behind a Menu button that opens it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, LAPTOP, PHONE, sign_in
from tests.support import enrol_totp
from tests.transfers.pages import finished_job

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PAGES = [
    "/",
    "/profiles/",
    "/profiles/new/",
    "/jobs/",
    "/endpoints/",
    "/endpoints/new/",
    "/teams/",
    "/audit/",
    "/tokens/",
    "/accounts/2fa/",
]


@pytest.fixture
def superuser(owner):
    """A team admin who is also a superuser, so every link of the navigation shows; with an
    authenticator, as the MFA policy wants before any page opens."""
    owner.is_superuser = owner.is_staff = True
    owner.save(update_fields=["is_superuser", "is_staff"])
    owner.totp_secret = enrol_totp(owner)
    return owner


@pytest.fixture
def history(offline_profile):
    offline_profile.schedule = "0 2 * * *"
    offline_profile.save(update_fields=["schedule"])
    return [finished_job(offline_profile), finished_job(offline_profile, state="failed")]


def _page_urls(offline_profile, history) -> list[str]:
    return [
        *PAGES,
        f"/profiles/{offline_profile.pk}/",
        f"/endpoints/{offline_profile.source_endpoint_id}/",
        f"/jobs/{history[0].pk}/",
        f"/teams/{offline_profile.team.slug}/",
    ]


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_it_keeps_every_page_within_the_viewport(
    page, superuser, offline_profile, history, viewport
):
    page.set_viewport_size(viewport)
    sign_in(page, superuser, totp_secret=superuser.totp_secret)
    too_wide = {}
    for url in _page_urls(offline_profile, history):
        page.goto(url)
        assert page.url.endswith(url), f"{url} sent us to {page.url}"
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            too_wide[url] = width
        name = url.strip("/").replace("/", "-") or "dashboard"
        page.screenshot(path=str(ARTIFACTS / f"width-{viewport['width']}-{name}.png"))
    assert too_wide == {}, f"pages wider than {viewport['width']} px: {too_wide}"


def test_it_folds_the_navigation_behind_a_menu_on_a_phone(page, superuser):
    page.set_viewport_size(PHONE)
    sign_in(page, superuser, totp_secret=superuser.totp_secret)
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")

    expect(nav).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    for name in ("Dashboard", "Profiles", "Jobs", "Endpoints", "Teams", "Audit", "Admin"):
        link = nav.get_by_role("link", name=name)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    nav.get_by_role("link", name="Teams").click()
    page.wait_for_url(re.compile(r"/teams/"))
    expect(nav).to_be_hidden()  # a new page starts with the menu folded
    menu.click()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(menu).to_be_focused()


def test_it_shows_the_navigation_without_a_menu_on_a_laptop(page, superuser):
    sign_in(page, superuser, totp_secret=superuser.totp_secret)

    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit")
    ).to_be_visible()
