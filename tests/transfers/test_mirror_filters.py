"""A mirror deletes only inside its filters: `s5cmd sync --delete` deletes excluded objects
(s5cmd #815); our own delete plan must not."""

from __future__ import annotations

import pytest

from tests.transfers.support import (
    file_hashes,
    hashes,
    put_objects,
    s3_hashes,
    same_bucket_profile,
    wait_for_job,
    write_files,
)
from transfers import services
from transfers.models import Job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = {
    "data/a.csv": b"a,b\n1,2\n",
    "data/b.csv": b"c,d\n3,4\n",
    "app.log": b"excluded at the source too",
}
KEPT = {  # at the destination only, but excluded: a mirror must leave them alone
    "keep.log": b"excluded by *.log",
    "tmp/scratch.bin": b"excluded by tmp/*",
}
GONE = {"data/old.csv": b"in scope, not at the source: deleted"}


@pytest.mark.parametrize("route", ["server_side", "download"])
def test_it_never_deletes_an_excluded_object(
    route, celery_worker, team, operator, s3_a, endpoint_a, local_dir
):
    client, source_bucket = s3_a.client(), s3_a.bucket("src")
    put_objects(client, source_bucket, SOURCE)
    if route == "download":
        write_files(local_dir, {**KEPT, **GONE})
        destination = {"destination_path": str(local_dir)}
    else:
        destination_bucket = s3_a.bucket("dst")
        put_objects(client, destination_bucket, {**KEPT, **GONE}, prefix="mirror/")
        destination = {
            "destination_endpoint": endpoint_a,
            "destination_bucket": destination_bucket,
            "destination_prefix": "mirror/",
        }
    profile = services.create_profile(
        team,
        actor=operator,
        name="mirror without logs",
        mode="mirror",
        exclude_patterns=["*.log", "tmp/*"],
        source_endpoint=endpoint_a,
        source_bucket=source_bucket,
        **destination,
    )

    job = wait_for_job(services.start_job(profile, actor=operator))

    assert job.state == Job.State.SUCCEEDED, job.error
    if route == "download":
        found = file_hashes(local_dir)
    else:
        found = s3_hashes(client, destination_bucket, "mirror/")
    assert found == hashes(
        {"data/a.csv": SOURCE["data/a.csv"], "data/b.csv": SOURCE["data/b.csv"], **KEPT}
    )
    assert (job.objects_done, job.objects_deleted) == (2, 1)


def test_it_leaves_what_its_include_patterns_do_not_name(
    celery_worker, team, operator, s3_a, endpoint_a
):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, SOURCE, prefix="in/")
    put_objects(client, bucket, {"other/readme.txt": b"not included", **GONE}, prefix="out/")
    profile = same_bucket_profile(
        team,
        operator,
        endpoint_a,
        bucket,
        name="csv only",
        mode="mirror",
        include_patterns=["data/*.csv"],
        source_prefix="in/",
        destination_prefix="out/",
    )

    job = wait_for_job(services.start_job(profile, actor=operator))

    assert job.state == Job.State.SUCCEEDED, job.error
    assert s3_hashes(client, bucket, "out/") == hashes(
        {
            "data/a.csv": SOURCE["data/a.csv"],
            "data/b.csv": SOURCE["data/b.csv"],
            "other/readme.txt": b"not included",
        }
    )
