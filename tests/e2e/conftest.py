"""Browser tests: headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright
against the real ASGI server (`live_server_url`), a real Celery worker and real S3 (moto).

Each test gets its own Chromium, started after the test database is set up and stopped
before it is flushed, and leaves a full-page screenshot in test-artifacts/<test name>.png.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.support import BASE_DIR, clear_app_cache, totp_code, wait_until

# The S3 service with real credentials, and a proxy before it that can hold a request.
from tests.transfers.conftest import proxy_a, s3_a  # noqa: F401

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = BASE_DIR / "test-artifacts"
PASSWORD = "correct horse battery"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def page(request, transactional_db, live_server_url, monkeypatch):
    """A fresh browser page on the live server; its screenshot is saved when the test ends."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI installs Debian's chromium package")
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps its event loop marked as running in this thread, which makes
    # Django refuse ORM calls "from an async context". Nothing async runs in this thread while
    # the test's own ORM calls do, so they are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    clear_app_cache()  # used TOTP codes and sign-in counters of earlier tests
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=LAPTOP, base_url=live_server_url)
        context.set_default_timeout(20_000)
        tab = context.new_page()
        problems: list[str] = []
        tab.on("pageerror", lambda error: problems.append(str(error)))
        tab.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        try:
            yield tab
        finally:
            tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            context.close()
            browser.close()
    # A CSP violation or a script error is a bug even when the page looks right.
    assert not [p for p in problems if not _expected(p)], problems


def _expected(problem: str) -> bool:
    """Console errors a test provokes on purpose (a refused POST, a form sent back with its
    errors as 422, a dropped socket)."""
    return bool(re.search(r"status of (403|422)|WebSocket connection .* failed", problem))


def sign_in(page, user, *, totp_secret: str | None = None) -> None:
    """Through the sign-in page, and the second-factor page when the user has one."""
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    if totp_secret:
        wait_until(lambda: time.time() % 30 < 25, "a fresh TOTP window", timeout=10)
        page.fill("input[name=code]", totp_code(totp_secret))
        page.get_by_role("button", name=re.compile("sign in", re.I)).click()
    page.wait_for_url(re.compile(r"/$"))


def screenshot(page, name: str, *, phone: bool = False) -> None:
    """An extra screenshot of the page as it is now (at phone width if asked)."""
    if phone:
        page.set_viewport_size(PHONE)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if phone:
        page.set_viewport_size(LAPTOP)


def one_at_a_time_copy(team, owner, endpoint, bucket: str, name: str):
    """A copy profile from `bucket`/src/ to `bucket`/dst/ with one s5cmd worker: slow enough
    to watch in a browser."""
    from transfers.models import SyncProfile

    return SyncProfile.objects.create(
        team=team,
        name=name,
        source_endpoint=endpoint,
        source_bucket=bucket,
        source_prefix="src/",
        destination_endpoint=endpoint,
        destination_bucket=bucket,
        destination_prefix="dst/",
        mode=SyncProfile.Mode.COPY,
        workers=1,
        created_by=owner,
    )
