"""A job that cannot do its work fails, and says why in words a person understands."""

from __future__ import annotations

import pytest

from tests.support import free_port, wait_until
from tests.transfers.support import (
    put_objects,
    run_here,
    s3_keys,
    s5cmd_processes,
    same_bucket_profile,
    wait_for_job,
    write_files,
)
from transfers import services
from transfers.engine import Failure
from transfers.execution import FailureRecorder
from transfers.models import Endpoint, Job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def run(team, operator, **locations) -> Job:
    profile = services.create_profile(team, actor=operator, name="doomed", **locations)
    return wait_for_job(services.start_job(profile, actor=operator))


def test_an_unreachable_endpoint_fails_the_job(celery_worker, team, operator, s3_a, endpoint_a):
    down = s3_a.endpoint(team, "Nothing there", url=f"http://127.0.0.1:{free_port()}")

    job = run(
        team,
        operator,
        source_endpoint=down,
        source_bucket="some-bucket",
        destination_endpoint=endpoint_a,
        destination_bucket=s3_a.bucket(),
    )

    assert job.state == Job.State.FAILED
    assert f"Cannot reach {down.url}: the connection failed" in job.error
    assert job.error.startswith("Listing s3://some-bucket/ failed")
    assert job.finished_at is not None and job.lease_owner == ""


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {"secret_access_key": "not-the-secret"},
            "the secret key does not match the access key id",
        ),
        ({"access_key_id": "AKIAUNKNOWN0000000"}, "the access key id is not known to"),
    ],
)
def test_refused_credentials_fail_the_job(
    overrides, reason, celery_worker, team, operator, s3_a, endpoint_a
):
    bucket = s3_a.bucket()
    put_objects(s3_a.client(), bucket, {"a.txt": b"a"})
    wrong = s3_a.endpoint(team, "Wrong keys", **overrides)

    job = run(
        team,
        operator,
        source_endpoint=wrong,
        source_bucket=bucket,
        destination_endpoint=endpoint_a,
        destination_bucket=s3_a.bucket(),
    )

    assert job.state == Job.State.FAILED
    assert f"Credentials refused: {reason}" in job.error


def test_refused_uploads_fail_every_object_with_s5cmd_s_reason(
    celery_worker, team, operator, s3_a, local_dir
):
    """Copy mode does not list the destination: the refusal comes from s5cmd, per object, on
    stderr, and is attributed to each object."""
    write_files(local_dir, {"a.txt": b"a", "b/c.txt": b"c"})
    wrong = s3_a.endpoint(team, "Wrong keys", secret_access_key="not-the-secret")

    job = run(
        team,
        operator,
        mode="copy",
        source_path=str(local_dir),
        destination_endpoint=wrong,
        destination_bucket=s3_a.bucket(),
    )

    assert job.state == Job.State.FAILED
    failures = dict(job.failures.values_list("key", "error"))
    assert set(failures) == {"a.txt", "b/c.txt"}
    bucket = job.profile.destination_bucket
    assert set(failures.values()) == {
        f"Credentials refused: the secret key does not match the access key id at "
        f"{wrong.url} (bucket {bucket}) (SignatureDoesNotMatch)."
    }
    assert "2 object(s) failed (2 to copy); first:" in job.error
    assert job.exit_code == 1 and "s5cmd" in job.command
    assert Endpoint.objects.get(pk=wrong.pk).secret_access_key.reveal() not in job.command


@pytest.mark.parametrize("run", ["copying", "with nothing to copy"])
def test_a_corrupted_destination_object_makes_the_job_partial_with_the_mismatch(
    run, monkeypatch, settings, team, operator, s3_a, endpoint_a
):
    settings.TRANSFER_QUEUE = "nobody-listens-here"  # run here, with a hook at verification
    client, bucket = s3_a.client(), s3_a.bucket()
    objects = {"a.txt": b"aaaa", "b.txt": b"bbbb"}
    put_objects(client, bucket, objects, prefix="src/")
    if run == "with nothing to copy":  # a sync finds the destination up to date
        put_objects(client, bucket, objects, prefix="dst/")
    profile = same_bucket_profile(
        team, operator, endpoint_a, bucket, name="verified", mode="sync", verify_after=True
    )
    job = services.start_job(profile, actor=operator)

    def corrupt_at_verification(progress):
        if progress.phase == "verifying" and not corrupted:
            # Same size, other bytes: only the MD5 comparison can tell.
            client.put_object(Bucket=bucket, Key="dst/b.txt", Body=b"BBBB")
            corrupted.append("dst/b.txt")

    corrupted = []
    assert run_here(monkeypatch, job, on_progress=corrupt_at_verification) == "partial"

    job.refresh_from_db()
    assert corrupted == ["dst/b.txt"]
    assert job.state == Job.State.PARTIAL
    assert job.objects_done == (2 if run == "copying" else 0)
    assert job.verification["mismatched"] == 1
    assert job.verification["sample"][0]["key"] == "b.txt"
    assert job.verification["sample"][0]["problem"].startswith("content differs: MD5")
    failure = job.failures.get()
    assert (failure.key, failure.operation) == ("b.txt", "verify")
    assert "1 object(s) failed (1 to verify); first: b.txt: content differs" in job.error


def test_a_source_stream_that_breaks_off_is_told_in_words(
    celery_worker, team, operator, s3_a, s3_b, proxy_a, endpoint_b
):
    bucket = s3_a.bucket()
    put_objects(s3_a.client(), bucket, {"whole.bin": b"w" * 4096, "broken.bin": b"b" * 65536})
    proxy_a.cut(lambda request: request.method == "GET" and request.key == "broken.bin")
    through_proxy = s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url)

    job = run(
        team,
        operator,
        mode="copy",
        source_endpoint=through_proxy,
        source_bucket=bucket,
        destination_endpoint=endpoint_b,
        destination_bucket=s3_b.bucket(),
    )

    assert job.state == Job.State.PARTIAL and job.plan["route"] == "relay"
    failure = job.failures.get()
    assert (failure.key, failure.error) == (
        "broken.bin",
        f"Reading failed: The connection to {proxy_a.url} broke off mid-transfer "
        "(received 0 of 65536 bytes).",
    )


def test_an_unreachable_destination_is_told_in_words(
    celery_worker, team, operator, s3_a, endpoint_a
):
    bucket = s3_a.bucket()
    put_objects(s3_a.client(), bucket, {"a.txt": b"a"})
    down = s3_a.endpoint(team, "Nothing there", url=f"http://127.0.0.1:{free_port()}")

    job = run(
        team,
        operator,
        mode="copy",  # the destination is not listed: the first write finds it down
        source_endpoint=endpoint_a,
        source_bucket=bucket,
        destination_endpoint=down,
        destination_bucket="some-bucket",
    )

    assert job.state == Job.State.FAILED
    assert dict(job.failures.values_list("key", "error")) == {
        "a.txt": f"Writing failed: Cannot reach {down.url}: the connection failed "
        "(connection refused)."
    }
    assert "Error:" not in job.error and "Could not connect" not in job.error


def test_objects_that_arrived_before_s5cmd_was_killed_count_done(
    celery_worker, team, operator, s3_a, proxy_a, local_dir
):
    objects = {"a.txt": b"first", "b.txt": b"second", "c.txt": b"third"}
    write_files(local_dir, objects)
    bucket = s3_a.bucket()
    # b.txt reaches the server, which stores it; s5cmd never gets the answer, so never says.
    landed = proxy_a.hold(
        lambda request: request.is_put() and request.key == "b.txt", after_server=True
    )
    destination = s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url)
    profile = services.create_profile(
        team,
        actor=operator,
        name="killed",
        mode="copy",
        workers=1,
        source_path=str(local_dir),
        destination_endpoint=destination,
        destination_bucket=bucket,
    )
    job = services.start_job(profile, actor=operator)

    assert landed.reached.wait(60), "b.txt never reached the server"
    (s5cmd,) = s5cmd_processes(proxy_a.url)
    s5cmd.kill()  # as the kernel's OOM killer would
    landed.release()
    job = wait_for_job(job)

    arrived = s3_keys(s3_a.client(), bucket)
    assert "b.txt" in arrived
    assert job.exit_code == -9
    assert job.objects_done == len(arrived)
    failed = dict(job.failures.values_list("key", "error"))
    assert set(failed) == set(objects) - arrived
    assert all(error.startswith("s5cmd reported no result") for error in failed.values())
    assert job.state == (Job.State.SUCCEEDED if not failed else Job.State.PARTIAL)


def test_failures_are_stored_while_the_job_is_still_running(
    settings, celery_worker, team, operator, s3_a, proxy_a
):
    """A key the plan rejects fails at once; the copy of the others is held at the server, and
    the failure is already in the database (a worker that died now would leave it there)."""
    client, bucket = s3_a.client(), s3_a.bucket()
    too_long = "deep/" + "k" * 1000  # over 1024 bytes under the destination prefix
    put_objects(client, bucket, {"a.txt": b"a", "b.txt": b"b", too_long: b"x"}, prefix="src/")
    held = proxy_a.hold(lambda request: request.is_copy())
    through_proxy = s3_a.endpoint(team, "A, through a proxy", url=proxy_a.url)
    profile = same_bucket_profile(
        team,
        operator,
        through_proxy,
        bucket,
        name="held",
        mode="copy",
        destination_prefix="a-destination-prefix-of-forty-characters/",
    )
    job = services.start_job(profile, actor=operator)
    try:
        assert held.reached.wait(120), "the copy never started"
        wait_until(lambda: job.failures.exists(), "the rejected key's failure to be stored")
        job.refresh_from_db()
        assert job.state == Job.State.RUNNING
        assert list(job.failures.values_list("key", "operation")) == [(too_long, "copy")]
    finally:
        held.release()
    job = wait_for_job(job)

    assert job.state == Job.State.PARTIAL, job.error
    assert list(job.failures.values_list("key", "operation")) == [(too_long, "copy")]
    assert job.objects_failed == 1 and job.objects_done == 2


@pytest.mark.parametrize("count", [0, 7, 25])
def test_the_recorder_stores_failures_in_batches_and_the_rest_when_closed(count, team):
    job = Job.objects.create(team=team, profile_name="recorded", state=Job.State.RUNNING)
    recorder = FailureRecorder(job.pk, batch=3)
    recorder.start()
    for n in range(count):
        recorder(Failure(f"k{n:02d}", "copy", "denied"))
    if count >= 3:  # a full batch does not wait for the second to pass
        wait_until(lambda: job.failures.count() >= 3, "a first batch")
    recorder.close()

    assert list(job.failures.values_list("key", flat=True)) == [f"k{n:02d}" for n in range(count)]
    assert recorder.stored == count
