"""Redis down: running a profile, through the API or the page's Run button, answers at once
with the job queued (it waits in the database), and the job runs once Redis is back; the web
server recovers on its own, without a restart."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from accounts.services import create_api_token
from syncportal.logging import OutageLog
from tests.support import (
    enrol_totp,
    free_port,
    start_celery_beat,
    start_celery_worker,
    start_web_server,
    wait_until,
)
from tests.transfers.support import put_objects, s3_keys, same_bucket_profile, wait_for_job
from transfers import dispatch
from transfers.execution import reap_expired_leases
from transfers.models import Job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Far above a prompt answer (under a second here), far below the ~20 s a request used to hang.
ANSWER_TIMEOUT = 10


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(method: str, url: str, *, headers: dict, data: bytes | None = None):
    """(status, headers, body) of one HTTP request, redirects not followed."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=ANSWER_TIMEOUT) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read().decode()


def web_server(env: dict, log) -> tuple[object, str]:
    port = free_port()
    server = start_web_server(env, log, port)
    url = f"http://127.0.0.1:{port}"

    def ready():
        if not server.alive():
            raise AssertionError(f"web server died:\n{server.output()}")
        try:
            return call("GET", f"{url}/healthz", headers={})[0] == 200
        except OSError:
            return False

    wait_until(ready, "the web server", timeout=120)
    return server, url


def copy_profile(team, operator, s3_a, endpoint_a, name: str):
    bucket = s3_a.bucket("outage")
    put_objects(s3_a.client(), bucket, {"a.txt": b"alpha", "b/c.txt": b"gamma"}, prefix="src/")
    return same_bucket_profile(team, operator, endpoint_a, bucket, name=name), bucket


class Browser:
    """A signed-in browser: keeps the cookies the server sets (session, CSRF, messages)."""

    def __init__(self, user, url: str):
        from django.test import Client

        client = Client()
        client.force_login(user)
        self.url = url
        self.cookies = {"sessionid": client.cookies["sessionid"].value}

    def request(self, method: str, path: str, form: dict | None = None):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = urlencode({"csrfmiddlewaretoken": self.cookies["csrftoken"], **form}).encode()
        status, response_headers, body = call(
            method, f"{self.url}{path}", headers=headers, data=data
        )
        for line in response_headers.get_all("Set-Cookie") or []:
            self.cookies.update({k: m.value for k, m in SimpleCookie(line).items()})
        return status, response_headers, body


def test_runs_started_while_redis_is_down_are_queued_and_run_once_it_is_back(
    own_redis, process_env, tmp_path, team, operator, s3_a, endpoint_a
):
    by_api, api_bucket = copy_profile(team, operator, s3_a, endpoint_a, "by api")
    by_page, page_bucket = copy_profile(team, operator, s3_a, endpoint_a, "by page")
    enrol_totp(operator)
    _, token = create_api_token(
        operator, name="outage", scope="write", teams=[team], expires_in_days=1
    )
    bearer = {"Authorization": f"Bearer {token}"}
    env = {**process_env, "REDIS_URL": own_redis.url, "TRANSFER_REAPER_INTERVAL": "1"}
    web, url = web_server(env, tmp_path / "web.log")
    worker = start_celery_worker(env, tmp_path / "worker.log", name="outage", concurrency=1)
    beat = start_celery_beat(env, tmp_path / "beat.log")
    try:
        browser = Browser(operator, url)
        assert browser.request("GET", by_page.get_absolute_url())[0] == 200  # the CSRF cookie

        own_redis.stop()

        status, headers, body = call(
            "POST", f"{url}/api/v1/profiles/{by_api.pk}/run", headers=bearer
        )
        assert status == 201, body
        assert headers["Content-Type"].startswith("application/json")
        api_job = Job.objects.get(pk=json.loads(body)["id"])
        assert (api_job.profile, api_job.state) == (by_api, Job.State.QUEUED)

        status, headers, _ = browser.request("POST", f"/profiles/{by_page.pk}/run/", form={})
        page_job = Job.objects.get(profile=by_page)
        assert (status, headers["Location"]) == (302, page_job.get_absolute_url())
        status, _, page = browser.request("GET", page_job.get_absolute_url())
        assert status == 200
        assert f"Job #{page_job.pk} of by page queued" in page
        assert "The job queue is unavailable right now" in page

        own_redis.start()  # empty: nothing was ever published

        for job, bucket in ((api_job, api_bucket), (page_job, page_bucket)):
            job = wait_for_job(job, timeout=120)
            assert job.state == Job.State.SUCCEEDED, (job.error, worker.output()[-3000:])
            assert s3_keys(s3_a.client(), bucket, "dst/") == {"a.txt", "b/c.txt"}

        # The web server publishes again by itself: the next run goes straight to a worker.
        status, _, body = call("POST", f"{url}/api/v1/profiles/{by_api.pk}/run", headers=bearer)
        assert status == 201, body
        again = wait_for_job(Job.objects.get(pk=json.loads(body)["id"]), timeout=60)
        assert again.state == Job.State.SUCCEEDED, again.error
        redispatched = [line for line in worker.output().splitlines() if "dispatched again" in line]
        assert not any(f"#{again.pk}" in line for line in redispatched), redispatched
        assert "must be restarted" not in web.output()
    finally:
        beat.stop()
        worker.stop()
        web.stop()


def test_the_reaper_ends_a_dead_workers_job_while_redis_is_down(
    own_redis, monkeypatch, caplog, team
):
    """Its outcome is stored; the late upload sweeps it cannot schedule are logged, and do not
    fail the reaper after the commit."""
    monkeypatch.setattr(
        dispatch, "broker_outage", OutageLog(dispatch.logger, "the job queue (Redis broker)")
    )
    now = timezone.now()
    job = Job.objects.create(
        team=team,
        profile_name="p",
        state=Job.State.RUNNING,
        attempts=1,
        lease_owner="dead-worker",
        lease_expires_at=now - timedelta(seconds=1),
        started_at=now - timedelta(minutes=1),
        cancel_requested_at=now,
    )
    own_redis.stop()

    with caplog.at_level(logging.WARNING, logger="transfers.dispatch"):
        assert reap_expired_leases() == [job.pk]

    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    [warning] = [r.getMessage() for r in caplog.records if r.name == "transfers.dispatch"]
    assert warning.startswith("the job queue (Redis broker) is unavailable (")
    assert warning.endswith(f"job {job.pk}'s late upload sweeps are skipped")


def test_a_notification_that_cannot_be_queued_waits_for_the_resume(own_redis, monkeypatch, caplog):
    """Queued after the commit of a job's outcome: it must not fail the task that stored it."""
    from transfers import notifications

    monkeypatch.setattr(
        dispatch, "broker_outage", OutageLog(dispatch.logger, "the job queue (Redis broker)")
    )
    own_redis.stop()

    with caplog.at_level(logging.WARNING, logger="transfers.dispatch"):
        notifications.enqueue(4321, 2)

    [warning] = [r.getMessage() for r in caplog.records if r.name == "transfers.dispatch"]
    assert warning.endswith("; notification delivery 4321 waits")
