"""A form that comes back with errors says which fields failed, takes the person there, says
each error once, and says when a secret has to be typed again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.support import enrol_totp

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def focused(page) -> str:
    return page.evaluate(
        "() => document.activeElement.id || document.activeElement.className || ''"
    )


def test_it_summarises_the_errors_and_moves_the_focus_there(page, operator, offline_endpoint):
    sign_in(page, operator, totp_secret=enrol_totp(operator))
    page.goto("/profiles/new/")
    page.fill("#id_name", "nightly copy")
    page.fill("#id_schedule", "61 * * * *")
    page.get_by_role("button", name="Create profile").click()

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    assert "error-summary" in focused(page)
    link = summary.get_by_role("link", name="Schedule")
    expect(link).to_be_visible()
    error = page.locator(".field.has-error:has(#id_schedule) .errorlist li").first.text_content()
    assert page.locator("main").text_content().count(error) == 2, "the field and the summary"
    expect(page.locator(".schedule-error")).to_have_count(0)

    link.click()
    assert focused(page) == "id_schedule"
    expect(page.locator("#id_name")).to_have_value("nightly copy")


def test_it_says_when_a_secret_must_be_typed_again(page, owner):
    sign_in(page, owner, totp_secret=enrol_totp(owner))
    page.goto("/endpoints/new/")
    page.fill("#id_name", "archive")
    page.fill("#id_url", "not a url")
    page.fill("#id_access_key_id", "AKIAEXAMPLE")
    page.fill("#id_secret_access_key", "typed-secret-value")
    page.get_by_role("button", name="Add endpoint").click()

    expect(page.locator("[data-error-summary]")).to_contain_text("URL")
    expect(page.locator("#id_secret_access_key")).to_have_value("")
    expect(page.locator(".secret-cleared")).to_contain_text("Type it again")
    assert "typed-secret-value" not in page.content()
