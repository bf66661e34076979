"""Continuing a cancelled job: a new job of what the cancelled one did not do. What arrived
intact before the cancel is skipped (in copy mode too, which otherwise copies everything), the
rest is copied, and the destination ends byte-exact."""

from __future__ import annotations

import json
import threading

import pytest
from django.test import Client

from accounts.models import AuditEvent
from tests.support import wait_until
from tests.transfers.conftest import audit_actions
from tests.transfers.pages import signed_in
from tests.transfers.support import (
    hashes,
    put_objects,
    s3_hashes,
    s3_keys,
    s5cmd_processes,
    same_bucket_profile,
    sample_data,
    wait_for_job,
)
from transfers import manifests, services
from transfers.errors import JobStateError, ProfileBusy
from transfers.models import Job, JobManifest
from transfers.specs import snapshot_options

pytestmark = [pytest.mark.django_db(transaction=True)]

OBJECTS = sample_data(8, seed="continue")
COPIED_FIRST = 3  # copies let through before the rest are held and the job cancelled


def manifest_actions(job: Job) -> dict[str, str]:
    content = b"".join(manifests.lines(JobManifest.objects.get(job=job)))
    entries = [json.loads(line) for line in content.decode().splitlines()]
    return {entry["key"]: entry["action"] for entry in entries}


@pytest.fixture
def cancelled_copy(celery_worker, team, operator, s3_a, proxy_a):
    """A copy-mode job (through the proxy) cancelled after exactly COPIED_FIRST copies: the
    later ones are held until the test ends, so they never reach the server."""
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, OBJECTS, prefix="src/")
    endpoint = s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url)
    profile = same_bucket_profile(
        team, operator, endpoint, bucket, name="copy to continue", mode="copy", workers=1
    )
    holding = threading.Event()
    holding.set()
    let_through: list[str] = []

    def after_the_first_copies(request) -> bool:
        if not (holding.is_set() and request.is_copy()):
            return False
        if len(let_through) < COPIED_FIRST:
            let_through.append(request.key)
            return False
        return True

    held = proxy_a.hold(after_the_first_copies)
    job = services.start_job(profile, actor=operator)
    assert held.reached.wait(120), "no copy was held"
    services.cancel_job(job, actor=operator)
    wait_until(lambda: s5cmd_processes(proxy_a.url) == [], "s5cmd to stop")
    job = wait_for_job(job)
    holding.clear()  # what comes next goes through; the held copies stay held
    assert job.state == Job.State.CANCELLED
    wait_until(
        lambda: len(s3_keys(client, bucket, "dst/")) == COPIED_FIRST, "the first copies to land"
    )
    job.bucket = bucket
    job.copied_first = {key.removeprefix("dst/") for key in let_through}
    return job


@pytest.mark.worker
def test_it_copies_only_what_the_cancelled_job_did_not(cancelled_copy, operator, s3_a, proxy_a):
    client, bucket = s3_a.client(), cancelled_copy.bucket
    before = s3_keys(client, bucket, "dst/")
    assert before == cancelled_copy.copied_first and len(before) < len(OBJECTS)
    seen = len(proxy_a.seen)

    follow_up = services.continue_job(cancelled_copy, actor=operator)
    follow_up = wait_for_job(follow_up)

    assert follow_up.state == Job.State.SUCCEEDED, follow_up.error
    assert (follow_up.trigger, follow_up.retry_of_id) == ("continue", cancelled_copy.pk)
    assert follow_up.options["mode"] == "copy" and follow_up.options["skip_intact"] is True
    # Byte-exact at the end, and nothing that was there was copied again.
    assert s3_hashes(client, bucket, "dst/") == hashes(OBJECTS)
    copied = {
        request.key.removeprefix("dst/") for request in proxy_a.seen[seen:] if request.is_copy()
    }
    assert copied == set(OBJECTS) - before
    actions = manifest_actions(follow_up)
    assert {key for key, action in actions.items() if action == "skipped"} == before
    assert {key for key, action in actions.items() if action == "copied"} == copied
    assert (follow_up.objects_skipped, follow_up.objects_done) == (len(before), len(copied))
    event = AuditEvent.objects.get(action="job.continued")
    assert (event.actor, event.target_id, event.details) == (
        operator,
        str(follow_up.pk),
        {"continues": cancelled_copy.pk},
    )


@pytest.mark.worker
def test_a_plain_rerun_of_a_copy_copies_everything_again(cancelled_copy, operator, s3_a, proxy_a):
    """What Continue saves: "Run the whole profile again" in copy mode copies every object."""
    seen = len(proxy_a.seen)

    rerun = wait_for_job(services.retry_job(cancelled_copy, actor=operator, failed_only=False))

    assert rerun.state == Job.State.SUCCEEDED, rerun.error
    copied = {
        request.key.removeprefix("dst/") for request in proxy_a.seen[seen:] if request.is_copy()
    }
    assert copied == set(OBJECTS)


@pytest.mark.parametrize("state", ["succeeded", "failed", "partial", "running", "queued"])
def test_only_a_cancelled_job_can_be_continued(state, team, operator, s3_a, endpoint_a):
    profile = same_bucket_profile(team, operator, endpoint_a, s3_a.bucket(), name="p")
    job = Job.objects.create(team=team, profile=profile, profile_name="p", state=state)
    events = AuditEvent.objects.count()

    with pytest.raises(JobStateError, match=f"Only a cancelled job can be continued; .* {state}"):
        services.continue_job(job, actor=operator)

    assert Job.objects.count() == 1 and AuditEvent.objects.count() == events


def test_a_job_of_a_deleted_profile_cannot_be_continued(team, operator):
    job = Job.objects.create(team=team, profile_name="gone", state=Job.State.CANCELLED)

    with pytest.raises(JobStateError, match="its profile has been deleted"):
        services.continue_job(job, actor=operator)

    assert Job.objects.count() == 1


def test_a_busy_profile_is_not_continued(settings, team, operator, s3_a, endpoint_a):
    settings.TRANSFER_QUEUE = "nobody-listens-here"
    profile = same_bucket_profile(team, operator, endpoint_a, s3_a.bucket(), name="busy")
    job = Job.objects.create(
        team=team, profile=profile, profile_name="busy", state=Job.State.CANCELLED
    )
    running = services.start_job(profile, actor=operator)

    with pytest.raises(ProfileBusy, match=f"#{running.pk}"):
        services.continue_job(job, actor=operator)

    assert Job.objects.count() == 2


def test_it_answers_201_over_the_api_and_the_page_redirects_to_the_new_job(
    settings, api_as, team, operator, s3_a, endpoint_a
):
    settings.TRANSFER_QUEUE = "nobody-listens-here"
    profile = same_bucket_profile(team, operator, endpoint_a, s3_a.bucket(), name="api")
    job = Job.objects.create(
        team=team,
        profile=profile,
        profile_name="api",
        state=Job.State.CANCELLED,
        options={**snapshot_options(profile), "workers": 3},
    )

    api = api_as(operator)
    response = api.post(f"/jobs/{job.pk}/continue")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["trigger"], body["retry_of"], body["state"]) == ("continue", job.pk, "queued")
    # The cancelled job's own options, not the profile's current ones.
    assert body["options"]["workers"] == 3 and body["options"]["skip_intact"] is True
    again = api.post(f"/jobs/{job.pk}/continue")
    assert again.status_code == 409 and "already has a job in progress" in again.json()["detail"]

    Job.objects.filter(pk=body["id"]).update(state=Job.State.CANCELLED)
    client = Client()
    client.force_login(operator)  # api_as gave the operator an authenticator app already
    page = client.post(f"/jobs/{job.pk}/continue/")
    newest = Job.objects.latest("pk")
    assert page.status_code == 302 and page["Location"] == f"/jobs/{newest.pk}/"
    assert newest.trigger == "continue" and newest.retry_of_id == job.pk
    assert audit_actions().count("job.continued") == 2


def test_the_cancelled_job_page_offers_continue_to_operators_only(
    team, operator, viewer, s3_a, endpoint_a
):
    profile = same_bucket_profile(team, operator, endpoint_a, s3_a.bucket(), name="page")
    job = Job.objects.create(
        team=team, profile=profile, profile_name="page", state=Job.State.CANCELLED
    )
    page = signed_in(operator).get(f"/jobs/{job.pk}/").text
    assert f'action="/jobs/{job.pk}/continue/"' in page and "continues" not in page
    assert "/continue/" not in signed_in(viewer).get(f"/jobs/{job.pk}/").text
