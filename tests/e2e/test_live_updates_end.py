"""A job page whose live updates end for good says why and stops reconnecting: signed out in
another tab, it offers to sign in again; removed from the team, it says updates are
unavailable."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from accounts import services
from accounts.models import Membership
from tests.e2e.conftest import sign_in
from transfers.models import Job

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def job(team):
    # Queued and never picked up: the page keeps its socket open.
    return Job.objects.create(team=team, profile_name="nightly", options={}, objects_total=10)


def watch_job(page, job) -> list:
    sockets = []
    page.on(
        "websocket", lambda socket: sockets.append(socket) if "/ws/jobs/" in socket.url else None
    )
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("[data-live-status]")).to_have_attribute("data-status", "live")
    return sockets


def assert_it_stays_down(page, sockets, status: str) -> None:
    # What makes a page that is only waiting to retry reconnect at once; connecting would
    # change the status in the same turn of the page's event loop.
    after = page.evaluate(
        """() => {
          window.dispatchEvent(new Event("online"));
          document.dispatchEvent(new Event("visibilitychange"));
          return document.querySelector("[data-live-status]").dataset.status;
        }"""
    )
    assert after == status
    assert len(sockets) == 1


# The users and the job come before `page`: Playwright's loop in this thread would keep the
# membership signals from reaching the channel layer (see the page fixture).
def test_a_page_signed_out_in_another_tab_offers_to_sign_in_again(viewer, job, page):
    sign_in(page, viewer)
    sockets = watch_job(page, job)

    other = page.context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Sign out").click()

    status = page.locator("[data-live-status]")
    expect(status).to_have_attribute("data-status", "signed_out")
    expect(status).to_contain_text("Signed out.")
    link = status.get_by_role("link", name="Sign in again")
    expect(link).to_have_attribute(
        "href", re.compile(rf"^/accounts/login/\?next=%2Fjobs%2F{job.pk}%2F$")
    )
    assert_it_stays_down(page, sockets, "signed_out")


def test_a_page_of_a_team_one_left_says_updates_are_unavailable(viewer, owner, team, job, page):
    sign_in(page, viewer)
    sockets = watch_job(page, job)

    membership = Membership.objects.get(user=viewer, team=team)
    with ThreadPoolExecutor(1) as pool:  # off Playwright's loop, as a view would run it
        pool.submit(services.remove_member, membership, actor=owner).result()

    status = page.locator("[data-live-status]")
    expect(status).to_have_attribute("data-status", "refused")
    expect(status).to_have_text("Live updates unavailable")
    assert_it_stays_down(page, sockets, "refused")
