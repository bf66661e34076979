"""Every route and mode moves the right bytes: a real worker runs real s5cmd (or the relay)
against real S3 servers, and every object is read back and hashed."""

from __future__ import annotations

import os

import pytest

from tests.transfers.support import (
    file_hashes,
    hashes,
    put_objects,
    s3_hashes,
    sample_data,
    wait_for_job,
    write_files,
)
from transfers import services
from transfers.models import Job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024


def source_objects() -> dict[str, bytes]:
    objects = sample_data(24, seed="routes")
    objects.update(
        {
            "odd names/with space.txt": b"spaces survive",
            "odd names/glob*and?.txt": b"wildcards are literal",
            "odd names/ünïcödé-ß.txt": b"unicode",
            "empty.txt": b"",
            "large/eleven-mib.bin": os.urandom(11 * MiB),  # multipart with 5 MiB parts
        }
    )
    return objects


UNCHANGED = {"same/unchanged.txt": b"already there, same size, older source"}
STALE_SOURCE = {"same/stale.txt": b"the new, longer version of this object"}
STALE_DESTINATION = {"same/stale.txt": b"old version"}
EXTRA = {"extra/only-at-destination.txt": b"the source never had this"}


class Sides:
    """Where a route reads and writes, with ways to fill and read back each side."""

    def __init__(self, route, s3_a, s3_b, endpoint_a, endpoint_b, local_dir):
        self.route = route
        self.profile = {}
        if route == "upload":
            self.source_dir = local_dir / "in"
            self.source_dir.mkdir()
            self.profile.update(source_path=str(self.source_dir))
        else:
            self.source_client = s3_a.client()
            self.source_bucket = s3_a.bucket("src")
            self.profile.update(
                source_endpoint=endpoint_a, source_bucket=self.source_bucket, source_prefix="in/"
            )
        if route == "download":
            self.destination_dir = local_dir / "out"
            self.profile.update(destination_path=str(self.destination_dir))
        else:
            service, endpoint = (s3_b, endpoint_b) if route == "relay" else (s3_a, endpoint_a)
            self.destination_client = service.client()
            self.destination_bucket = service.bucket("dst")
            self.profile.update(
                destination_endpoint=endpoint,
                destination_bucket=self.destination_bucket,
                destination_prefix="out/",
            )

    def put_source(self, objects):
        if self.route == "upload":
            write_files(self.source_dir, objects)
        else:
            put_objects(self.source_client, self.source_bucket, objects, prefix="in/")

    def put_destination(self, objects):
        if self.route == "download":
            write_files(self.destination_dir, objects)
        else:
            put_objects(self.destination_client, self.destination_bucket, objects, prefix="out/")

    def destination_hashes(self):
        if self.route == "download":
            return file_hashes(self.destination_dir)
        return s3_hashes(self.destination_client, self.destination_bucket, "out/")


@pytest.mark.parametrize("mode", ["copy", "sync", "mirror"])
@pytest.mark.parametrize("route", ["server_side", "relay", "upload", "download"])
def test_it_copies_every_object_byte_for_byte(
    route, mode, celery_worker, team, operator, s3_a, s3_b, endpoint_a, endpoint_b, local_dir
):
    sides = Sides(route, s3_a, s3_b, endpoint_a, endpoint_b, local_dir)
    objects = source_objects()
    sides.put_source({**objects, **UNCHANGED, **STALE_SOURCE})
    sides.put_destination({**UNCHANGED, **STALE_DESTINATION, **EXTRA})
    profile = services.create_profile(
        team, actor=operator, name=f"{route} {mode}", mode=mode, part_size_mb=5, **sides.profile
    )

    job = services.start_job(profile, actor=operator)
    job = wait_for_job(job, timeout=90)

    assert job.state == Job.State.SUCCEEDED, (job.error, list(job.failures.values()))
    expected = hashes({**objects, **UNCHANGED, **STALE_SOURCE})
    if mode != "mirror":
        expected.update(hashes(EXTRA))
    assert sides.destination_hashes() == expected
    copied = len(objects) + 1 + (mode == "copy")  # the stale object, and the unchanged in copy
    assert (job.objects_done, job.objects_skipped) == (copied, 0 if mode == "copy" else 1)
    assert job.objects_deleted == (1 if mode == "mirror" else 0)
    assert job.objects_failed == 0
    assert job.verification["mismatched"] == 0
    assert job.plan["route"] == route
    assert job.samples.exists()


def test_it_copies_a_folder_named_with_a_star_and_nothing_beside_it(
    celery_worker, team, operator, s3_a, endpoint_a
):
    client, bucket = s3_a.client(), s3_a.bucket()
    # More objects than a small plan (TRANSFER_SMALL_PLAN_OBJECTS): s5cmd copies them, and
    # must take the star literally (--raw).
    more = {f"star*/more-{i}.txt": f"inside {i}".encode() for i in range(4)}
    inside = {"star*/a.txt": b"inside", "star*/sub/b.txt": b"inside too", **more}
    beside = {"star-x/c.txt": b"a glob would match this", "starry/d.txt": b"and this"}
    put_objects(client, bucket, {**inside, **beside})
    profile = services.create_profile(
        team,
        actor=operator,
        name="literal star",
        source_endpoint=endpoint_a,
        source_bucket=bucket,
        source_prefix="star*/",
        destination_endpoint=endpoint_a,
        destination_bucket=bucket,
        destination_prefix="star-out/",
    )

    job = wait_for_job(services.start_job(profile, actor=operator), timeout=90)

    assert job.state == Job.State.SUCCEEDED, (job.error, list(job.failures.values()))
    assert job.plan["route"] == "server_side" and job.objects_done == len(inside)
    assert job.command.split()[0].endswith("/s5cmd"), job.command  # not CopyObject
    assert s3_hashes(client, bucket, "star-out/") == hashes(
        {key.removeprefix("star*/"): data for key, data in inside.items()}
    )
