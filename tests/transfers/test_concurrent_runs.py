"""Concurrent runs with one Idempotency-Key: a client that retries before the first answer
arrives (or several workers of one client) gets the first request's job replayed, never a 409
about the very job its key started. Real concurrency: threads against a real ASGI server
(uvicorn), on the test database; run with DATABASE_URL set to PostgreSQL to exercise row locks.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError

import pytest

from accounts.models import AuditEvent
from accounts.services import create_api_token
from tests.support import enrol_totp, free_port, start_web_server, tcp_open, wait_until
from transfers.models import Job, SyncProfile

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

CLIENTS = 4
ROUNDS = 5


@pytest.fixture
def web_server(process_env, tmp_path):
    """uvicorn on the test database, queueing jobs where no worker takes them: the jobs stay
    queued, which is what makes a duplicate that misses the replay collide with a 409."""
    port = free_port()
    server = start_web_server(
        {**process_env, "TRANSFER_QUEUE": "nobody-listens-here"}, tmp_path / "web.log", port
    )

    def ready():
        if not server.alive():
            raise AssertionError(f"web server died:\n{server.output()}")
        return tcp_open(port)

    wait_until(ready, "the web server", timeout=120)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def run(url: str, token: str, key: str) -> tuple[int, dict, str | None]:
    request = urllib.request.Request(
        url, method="POST", headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response), response.headers["Idempotent-Replayed"]
    except HTTPError as error:
        return error.code, json.load(error), error.headers["Idempotent-Replayed"]


def test_it_replays_the_first_answer_to_concurrent_duplicates(
    web_server, team, operator, offline_endpoint
):
    enrol_totp(operator)
    _, token = create_api_token(
        operator, name="runs", scope="write", teams=[team], expires_in_days=1
    )
    for round_ in range(ROUNDS):
        profile = SyncProfile.objects.create(
            team=team,
            name=f"run {round_}",
            source_endpoint=offline_endpoint,
            source_bucket="source-bucket",
            destination_endpoint=offline_endpoint,
            destination_bucket="target-bucket",
        )
        url = f"{web_server}/api/v1/profiles/{profile.pk}/run"
        start = threading.Barrier(CLIENTS)

        def duplicate(_, url=url, start=start, key=f"nightly-{round_}"):
            start.wait(timeout=30)  # all requests leave together
            return run(url, token, key)

        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(duplicate, range(CLIENTS)))

        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [200] * (CLIENTS - 1) + [201], (round_, answers)
        [job] = Job.objects.filter(profile=profile)
        assert {body["id"] for _, body, _ in answers} == {job.pk}
        assert sorted(str(replayed) for _, _, replayed in answers) == ["None"] + ["true"] * (
            CLIENTS - 1
        )
    assert AuditEvent.objects.filter(action="job.started").count() == ROUNDS
