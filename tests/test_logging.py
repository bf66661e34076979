"""Structured logs: JSON lines carrying request and job ids, with credentials masked."""

from __future__ import annotations

import io
import json
import logging

import pytest

from syncportal import logging as log_context
from syncportal.logging import ContextFilter, JsonFormatter, redact
from tests.support import loopback_profile, run_to_the_end, wait_until


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s", timestamp="time"
        )
    )
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_it_writes_one_json_object_per_line_with_the_job_id(json_log):
    logger, stream = json_log
    token = log_context.job_id.set("42")
    try:
        logger.info("copied %d objects", 7, extra={"bytes": 1024})
    finally:
        log_context.job_id.reset(token)
    [record] = lines(stream)
    assert record["message"] == "copied 7 objects"
    assert (record["levelname"], record["job_id"], record["bytes"]) == ("INFO", "42", 1024)
    assert record["time"].endswith("+00:00")


def test_requests_are_tagged_with_their_request_id(client, caplog):
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="trace-abc-123")
    assert response["X-Request-ID"] == "trace-abc-123"
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.request_id == "trace-abc-123"


def test_credentials_are_masked(json_log):
    logger, stream = json_log
    logger.info("env AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG and password: hunter2")
    logger.info("db postgres://portal:s3cret@db:5432/portal")
    try:
        raise RuntimeError("Authorization: Bearer sp_live_0123456789abcdef")
    except RuntimeError:
        logger.exception("request failed")
    output = stream.getvalue()
    for secret in ("wJalrXUtnFEMI", "hunter2", "s3cret", "sp_live_0123456789abcdef"):
        assert secret not in output
    assert "[redacted]" in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token=abc123", "token=[redacted]"),
        ('{"secret_access_key": "xyz"}', '{"secret_access_key": "[redacted]"}'),
        ("redis://:pw@host:6379/0", "redis://:[redacted]@host:6379/0"),
        ("copied s3://bucket/key to s3://other/key", "copied s3://bucket/key to s3://other/key"),
    ],
)
def test_redaction_keeps_ordinary_text(text, expected):
    assert redact(text) == expected


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_workers_lines_about_a_job_carry_its_id(team, s3, celery_worker):
    from transfers import services

    profile = loopback_profile(team, s3, {"a.txt": b"a", "b.txt": b"bb"})
    job = run_to_the_end(services.start_job(profile, actor=None))

    def records():
        return [
            json.loads(line)
            for line in celery_worker.output().splitlines()
            if line.startswith("{") and f"job {job.pk}:" in line
        ]

    # The job's row says succeeded before the worker writes its last line about it.
    wait_until(
        lambda: any(r["message"].startswith(f"job {job.pk}: succeeded") for r in records()),
        "the worker's line about the job's end",
    )
    records = records()
    messages = {record["message"].split(" by ")[0]: record for record in records}
    assert f"job {job.pk}: claimed" in messages and f"job {job.pk}: succeeded" in messages
    assert {record["job_id"] for record in records} == {str(job.pk)}


def test_an_outage_is_logged_once_then_reminded_each_minute_and_its_end(caplog):
    from syncportal.logging import OutageLog

    now = [1000.0]
    outage = OutageLog(logging.getLogger("tests.outage"), "the queue", clock=lambda: now[0])
    error = ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with caplog.at_level(logging.INFO, logger="tests.outage"):
        outage.succeeded()  # nothing to say while it works
        for _ in range(60):  # a failure a second for a minute
            outage.failed(error, "jobs wait")
            now[0] += 1
        outage.failed(error, "jobs wait")  # a minute after the first: the reminder
        now[0] += 30
        outage.failed(error, "jobs wait")  # half a minute after the reminder: nothing
        outage.succeeded()
        outage.succeeded()

    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "the queue is unavailable (ConnectionError: Error 111 connecting to "
            "127.0.0.1:6379. Connection refused.); jobs wait",
        ),
        (
            "WARNING",
            "the queue is still unavailable after 60 s, 61 failed attempts (ConnectionError: "
            "Error 111 connecting to 127.0.0.1:6379. Connection refused.); jobs wait",
        ),
        ("INFO", "the queue works again, after 90 s and 62 failed attempts"),
    ]
    assert not any(r.exc_info for r in caplog.records)
