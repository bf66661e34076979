"""The API's interactive docs (/api/v1/docs) render every operation in a real browser, from our
own static files under the CSP, with no console error and no parser error in Swagger UI."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_it_renders_every_operation_of_the_api(page):
    from syncportal.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    operations = sum(len(methods) for methods in schema["paths"].values())
    page.goto("/api/v1/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
    expect(page.locator(".opblock")).to_have_count(operations)
    # Swagger UI shows a document it cannot parse ("duplicated mapping key") in this box.
    expect(page.locator(".errors-wrapper")).to_have_count(0)
    manifest = page.locator(".opblock", has_text="/api/v1/jobs/{job_id}/manifest")
    manifest.locator(".opblock-summary").click()
    expect(manifest.get_by_text("The manifest", exact=True)).to_be_visible()
    screenshot(page, "api-docs")
