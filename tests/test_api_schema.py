"""Schemathesis against the published OpenAPI: generated requests to every operation, with a
team admin's token and real objects to act on, must never get a server error, a status the
schema does not list, a body the schema does not describe, or a secret (an endpoint's, a
webhook's signing secret or the token in its URL).

Requests go through Django's WSGI handler in this process (schemathesis' WSGI transport), so
they see the test's data; each example runs in a savepoint that is rolled back, so a generated
DELETE or cancel does not leave the next example with nothing but 404s. Every operation gets
examples with the ids of real objects (mostly 2xx and 4xx about content) and examples with
generated ids (404s), both of valid and of invalid input. Hypothesis is derandomised: CI runs
the same examples every time.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from accounts import audit
from accounts.models import Membership, User
from accounts.services import create_api_token
from tests.support import clear_app_cache, enrol_totp
from transfers import services
from transfers.engine import ManifestEntry
from transfers.manifests import ManifestWriter
from transfers.models import (
    Delivery,
    Endpoint,
    Job,
    JobFailure,
    JobSample,
    JobShard,
    Preview,
    SyncProfile,
)

pytestmark = pytest.mark.django_db

SECRET = "schema-run-secret-9f8e7d6c5b4a3210"
WEBHOOK_SECRET = "schema-run-webhook-secret-0a1b2c3d"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, without closing the database connection after each request
    (it holds the test's transaction), as Django's own test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(team, owner, s3):
    """A team admin with MFA and a write token, and one of everything to act on; the endpoint
    is a real S3 server on loopback, so tests and previews of it answer."""
    clear_app_cache()
    for bucket in ("in-bucket", "out-bucket"):
        s3.client().create_bucket(Bucket=bucket)
    enrol_totp(owner)
    member = User.objects.create_user("member", "member@example.com", "correct horse battery")
    Membership.objects.create(user=member, team=team, role="viewer")
    endpoint = Endpoint.objects.create(
        team=team,
        name="s3",
        url=s3.url,
        addressing_style="path",
        access_key_id="AKIA",
        secret_access_key=SECRET,
    )
    profile = SyncProfile.objects.create(
        team=team,
        name="nightly",
        source_endpoint=endpoint,
        source_bucket="in-bucket",
        destination_endpoint=endpoint,
        destination_bucket="out-bucket",
    )
    finished = Job.objects.create(
        team=team, profile=profile, profile_name="nightly", state="partial"
    )
    JobSample.objects.create(job=finished, t=finished.created_at, objects_done=1, bytes_done=9)
    JobFailure.objects.create(job=finished, key="a.csv", operation="copy", error="denied")
    JobShard.objects.create(job=finished, seq=0, upto_key="a.csv", state="succeeded")
    JobShard.objects.create(
        job=finished, seq=1, after_key="a.csv", state="failed", worker="w1:7:ab", attempts=2
    )
    ManifestWriter(finished).write(
        [ManifestEntry("a.csv", "failed", 9, "", "copy", "denied")]
    ).save(finished)
    hook = services.add_notification(
        profile,
        actor=owner,
        channel="webhook",
        target="http://127.0.0.1:9/hooks/s3cr3t-path",
        events=["job.failed"],
        secret=WEBHOOK_SECRET,
    )
    Delivery.objects.create(notification=hook, event="job.failed", job=finished, payload={})
    preview = Preview.objects.create(
        team=team,
        profile=profile,
        requested_by=owner,
        state="succeeded",
        source_listed=2,
        destination_listed=1,
        result={
            "route": "server_side",
            "mode": "sync",
            "objects_to_copy": 1,
            "bytes_to_copy": 9,
            "objects_to_delete": 0,
            "objects_unchanged": 1,
            "objects_rejected": 0,
            "sample_to_copy": ["a.csv"],
            "sample_to_delete": [],
            "sample_rejected": [],
            "predicted_seconds": None,
            "prediction_basis": "",
        },
        started_at=timezone.now(),
        finished_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    queued = Job.objects.create(team=team, profile_name="queued")
    waiting = Job.objects.create(team=team, profile_name="waiting", state="awaiting_approval")
    event = audit.record("team.created", actor=owner, target=team, team=team)
    _, token = create_api_token(
        owner, name="schema", scope="write", teams=[team], expires_in_days=1
    )
    ids = {
        "team_id": team.pk,
        "user_id": member.pk,
        "endpoint_id": endpoint.pk,
        "profile_id": profile.pk,
        "event_id": event.pk,
        "notification_id": hook.pk,
        "preview_id": preview.pk,
    }
    job_for = {"cancel": queued.pk, "approve": waiting.pk}
    return {"token": token, "ids": ids, "job_for": job_for, "finished_job": finished.pk}


def operations():
    from django.conf import settings as django_settings

    from syncportal.api import api

    django_settings.ALLOWED_HOSTS  # noqa: B018 - settings are configured by now
    schema = openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1/"))
    return [result.ok() for result in schema.get_all_operations()]


def real_ids(operation, world) -> dict:
    """The path parameters naming objects the operation can act on."""
    names = {p.name for p in operation.path_parameters}
    values = {name: world["ids"][name] for name in names if name in world["ids"]}
    if "job_id" in names:
        action = operation.path.rstrip("/").rsplit("/", 1)[-1]
        values["job_id"] = world["job_for"].get(action, world["finished_job"])
    return values


def real_query(operation, path_parameters) -> dict | None:
    """With real ids, a browse or a usage read names a bucket the world's endpoint has (a
    generated name is almost never one: 422 or 502); the prefix and cursor are still generated."""
    reads_a_bucket = operation.path.endswith(("/browse", "/usage")) and operation.method == "get"
    if path_parameters and reads_a_bucket:
        return {"bucket": "in-bucket"}
    return None


@pytest.mark.timeout(240)
@pytest.mark.parametrize("operation", operations(), ids=lambda op: f"{op.method.upper()} {op.path}")
def test_generated_requests_get_documented_answers(world, wsgi_app, operation):
    app = wsgi_app
    headers = {"Authorization": f"Bearer {world['token']}"}
    seen: list[int] = []

    def exercise(case) -> None:
        with transaction.atomic():
            response = case.call(app=app, headers=headers)
            seen.append(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)
            for secret in (SECRET, WEBHOOK_SECRET, "s3cr3t-path"):
                assert secret not in response.text
            transaction.set_rollback(True)

    for mode, count in EXAMPLES.items():
        for path_parameters in (real_ids(operation, world), None):
            strategy = operation.as_strategy(
                generation_mode=mode,
                path_parameters=path_parameters,
                query=real_query(operation, path_parameters),
            )
            run = settings(
                max_examples=count,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )(given(case=strategy)(exercise))
            run()
    assert any(status < 400 for status in seen) or operation.method.upper() != "GET", seen
