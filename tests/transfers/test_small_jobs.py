"""Small jobs: a server-side plan of a few objects is copied with CopyObject, without starting
s5cmd, with the same manifest and verification; the boto3 clients a run makes are kept for
the process's next runs, and made again when the endpoint's secret is rotated."""

from __future__ import annotations

import threading

import pytest

from tests.support import wait_until
from tests.transfers.support import (
    hashes,
    put_objects,
    run_here,
    s3_hashes,
    same_bucket_profile,
    wait_for_job,
)
from transfers import manifests, services
from transfers.engine import clients as kept_clients
from transfers.models import Job, JobManifest

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OBJECTS = {"one.bin": b"1" * 70_000, "folder/two.txt": b"two", "with space.txt": b"3"}


def manifest_lines(job: Job) -> list[bytes]:
    return b"".join(manifests.lines(JobManifest.objects.get(job=job))).splitlines()


def copied_by(proxy, since: int) -> set[str]:
    """Who sent the CopyObject requests the proxy saw: 's5cmd' or 'boto3'."""
    agents = set()
    for request in proxy.seen[since:]:
        if request.is_copy():
            agent = next(v for k, v in request.headers.items() if k.lower() == "user-agent")
            agents.add("boto3" if "Boto3/" in agent else "s5cmd")
    return agents


@pytest.fixture
def here(settings):
    settings.TRANSFER_QUEUE = "nobody-listens-here"  # this process runs the jobs


def test_a_few_objects_are_copied_without_s5cmd_with_the_same_manifest_and_verification(
    here, settings, monkeypatch, team, operator, s3_a, proxy_a
):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, OBJECTS, prefix="src/")
    endpoint = s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url)
    jobs, agents = {}, {}
    for limit, prefix in ((0, "by-s5cmd/"), (len(OBJECTS), "small/")):
        settings.TRANSFER_SMALL_PLAN_OBJECTS = limit
        profile = same_bucket_profile(
            team, operator, endpoint, bucket, name=prefix, destination_prefix=prefix
        )
        seen = len(proxy_a.seen)
        job = services.start_job(profile, actor=operator)
        assert run_here(monkeypatch, job) == "succeeded"
        jobs[prefix] = Job.objects.get(pk=job.pk)
        agents[prefix] = copied_by(proxy_a, seen)
        assert s3_hashes(client, bucket, prefix) == hashes(OBJECTS)

    s5cmd, small = jobs["by-s5cmd/"], jobs["small/"]
    # s5cmd beside CopyObject for the key it copies badly (a space); CopyObject alone.
    assert agents == {"by-s5cmd/": {"s5cmd", "boto3"}, "small/": {"boto3"}}
    assert "s5cmd" in s5cmd.command and s5cmd.exit_code == 0
    assert small.command.startswith("CopyObject ") and small.exit_code is None
    assert (small.objects_done, small.bytes_done) == (s5cmd.objects_done, s5cmd.bytes_done)
    assert small.verification == s5cmd.verification
    assert small.verification["checked"] == len(OBJECTS)
    assert manifest_lines(small) == manifest_lines(s5cmd)


def test_a_plan_over_the_limit_goes_to_s5cmd(
    here, settings, monkeypatch, team, operator, s3_a, proxy_a
):
    settings.TRANSFER_SMALL_PLAN_OBJECTS = len(OBJECTS) - 1
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, OBJECTS, prefix="src/")
    endpoint = s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url)
    profile = same_bucket_profile(team, operator, endpoint, bucket, name="over")

    job = services.start_job(profile, actor=operator)
    assert run_here(monkeypatch, job) == "succeeded"

    job.refresh_from_db()
    assert "s5cmd" in job.command
    # Keys s5cmd copies badly (a space) still go through CopyObject beside it.
    assert copied_by(proxy_a, 0) == {"s5cmd", "boto3"}
    assert s3_hashes(client, bucket, "dst/") == hashes(OBJECTS)


def test_a_cancel_does_not_wait_for_a_copy_held_at_the_server(
    celery_worker, team, operator, s3_a, proxy_a
):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"only.bin": b"o" * 1000}, prefix="src/")
    endpoint = s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url)
    profile = same_bucket_profile(team, operator, endpoint, bucket, name="held")
    held = proxy_a.hold(lambda request: request.is_copy())
    try:
        job = services.start_job(profile, actor=operator)
        assert held.reached.wait(60), "the copy never reached the proxy"
        services.cancel_job(job, actor=operator)
        job = wait_for_job(job, timeout=30)  # the copy is still held meanwhile
        assert held.reached.is_set() and job.state == Job.State.CANCELLED
        assert job.objects_done == 0
    finally:
        proxy_a.release(held)


def test_a_run_borrows_the_client_the_previous_run_gave_back(s3_a, team, endpoint_a):
    from transfers.specs import endpoint_config

    config = endpoint_config(endpoint_a)
    first = kept_clients.borrow(config, max_connections=10)
    kept_clients.give_back(first)
    again = kept_clients.borrow(config, max_connections=10)
    kept_clients.give_back(again)
    other_pool = kept_clients.borrow(config, max_connections=20)
    kept_clients.give_back(other_pool)

    assert again is first and other_pool is not first


def test_a_rotated_secret_is_used_by_the_next_job_of_the_same_process(
    here, monkeypatch, team, operator, s3_a
):
    """The worker keeps the client of a refused job; after the secret is rotated, the next
    job must not get it back."""
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"a.txt": b"a"}, prefix="src/")
    endpoint = s3_a.endpoint(team, "Soon rotated", secret_access_key="not-the-secret")
    profile = same_bucket_profile(team, operator, endpoint, bucket, name="rotated", mode="sync")

    refused = services.start_job(profile, actor=operator)
    assert run_here(monkeypatch, refused) == "failed"
    refused.refresh_from_db()
    assert "SignatureDoesNotMatch" in refused.error
    kept = kept_clients.kept()

    services.rotate_endpoint_secret(endpoint, actor=operator, secret_access_key=s3_a.secret_key)
    job = services.start_job(profile, actor=operator)
    assert run_here(monkeypatch, job) == "succeeded"

    assert s3_hashes(client, bucket, "dst/") == hashes({"a.txt": b"a"})
    assert kept_clients.kept() == kept  # the old client was dropped, not kept beside


def test_a_client_dropped_while_borrowed_is_closed_when_given_back(s3_a, team, endpoint_a):
    from transfers.specs import endpoint_config

    config = endpoint_config(endpoint_a)
    borrowed = kept_clients.borrow(config, max_connections=11)
    closed = threading.Event()
    real_close = borrowed.close
    borrowed.close = lambda: (closed.set(), real_close())
    kept_clients.clear()
    assert not closed.is_set()  # still in use by its run

    kept_clients.give_back(borrowed)

    wait_until(closed.is_set, "the dropped client to be closed", 1)
    assert kept_clients.borrow(config, max_connections=11) is not borrowed
