"""The Security pages (allauth's account and MFA pages: email, password, two-factor overview,
authenticator app, recovery codes, security keys, confirming it is you) look like the rest of
the portal: its navigation, a page head, cards, its buttons and form fields; at 1400 and
390 px, with no console error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, sign_in
from tests.support import enrol_totp

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}

WITHOUT_A_FACTOR = [
    "/accounts/2fa/",
    "/accounts/2fa/totp/activate/",
    "/accounts/2fa/webauthn/add/",
    "/accounts/email/",
    "/accounts/password/change/",
]
WITH_A_FACTOR = [
    "/accounts/2fa/",
    "/accounts/2fa/recovery-codes/generate/",
    "/accounts/2fa/totp/deactivate/",
    "/accounts/2fa/webauthn/",
    "/accounts/reauthenticate/",
]


def assert_in_the_portal(page, url: str, viewport: dict) -> None:
    response = page.goto(url)
    assert response.status == 200 and page.url.endswith(url), (url, response.status, page.url)
    main = page.locator("main")
    expect(page.locator("nav.mainnav")).to_be_attached()  # behind the Menu on a phone
    expect(main.locator(".page-head h1")).to_have_count(1)
    expect(main.locator(".card").first).to_be_visible()
    # Every button and link-button wears the portal's button style, every field its look.
    unstyled = page.evaluate(
        """() => [...document.querySelectorAll("main button, main input[type=submit]")]
              .filter((b) => !b.classList.contains("btn")).map((b) => b.outerHTML)"""
    )
    assert unstyled == [], (url, unstyled)
    loose = page.evaluate(
        """() => [...document.querySelectorAll(
              "main input:not([type=hidden]):not([type=checkbox]):not([type=radio])")]
              .filter((i) => !i.closest(".field, form.stack")).map((i) => i.outerHTML)"""
    )
    assert loose == [], (url, loose)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"], url
    name = url.strip("/").replace("/", "-")
    page.screenshot(
        path=str(ARTIFACTS / f"security-{viewport['width']}-{name}.png"), full_page=True
    )


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["wide", "phone"])
def test_the_security_pages_look_like_the_portal(page, viewer, operator, viewport):
    page.set_viewport_size(viewport)
    sign_in(page, viewer)
    for url in WITHOUT_A_FACTOR:
        assert_in_the_portal(page, url, viewport)

    page.context.clear_cookies()
    secret = enrol_totp(operator)
    sign_in(page, operator, totp_secret=secret)
    for url in WITH_A_FACTOR:
        assert_in_the_portal(page, url, viewport)
