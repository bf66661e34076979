"""Large objects, at the engine's level with a small threshold standing in for 5 GiB: a
server-side copy above the threshold goes in parts (UploadPartCopy, since CopyObject stops at
5 GiB), and the cross-endpoint relay keeps its buffers within its memory budget."""

from __future__ import annotations

import os

from tests.transfers.support import hashes, put_objects, s3_hashes
from transfers.engine import (
    Options,
    Outcome,
    Runtime,
    S3Location,
    TransferSpec,
    run_transfer,
)

MiB = 1024 * 1024


def test_objects_over_the_threshold_are_copied_in_parts_server_side(s3_a):
    client, bucket = s3_a.client(), s3_a.bucket()
    objects = {"huge.bin": os.urandom(13 * MiB), "small.txt": b"small"}
    put_objects(client, bucket, objects, prefix="in/")
    client.put_object(
        Bucket=bucket,
        Key="in/typed.bin",
        Body=os.urandom(6 * MiB),
        ContentType="application/x-custom",
        Metadata={"origin": "camera-7"},
    )
    spec = TransferSpec(
        S3Location(s3_a.config(), bucket, "in/"),
        S3Location(s3_a.config(), bucket, "out/"),
        Options(mode="copy", part_size_mb=5, concurrency=3),
        Runtime(allow_private_networks=True, multipart_copy_threshold=5 * MiB),
    )

    result = run_transfer(spec)

    assert result.outcome == Outcome.SUCCEEDED, result.error
    assert s3_hashes(client, bucket, "out/") == s3_hashes(client, bucket, "in/")
    huge = client.head_object(Bucket=bucket, Key="out/huge.bin")
    assert huge["ETag"].endswith('-3"')  # three parts: a multipart copy, not CopyObject
    typed = client.head_object(Bucket=bucket, Key="out/typed.bin")
    assert typed["ContentType"] == "application/x-custom"
    assert typed["Metadata"] == {"origin": "camera-7"}
    small = client.head_object(Bucket=bucket, Key="out/small.txt")
    assert "-" not in small["ETag"]  # under the threshold: s5cmd's CopyObject
    assert result.bytes_done == sum(len(v) for v in objects.values()) + 6 * MiB


def test_the_relay_streams_within_its_buffer_budget(s3_a, s3_b):
    source_bucket, destination_bucket = s3_a.bucket(), s3_b.bucket()
    objects = {f"big-{n}.bin": os.urandom(12 * MiB) for n in range(6)}
    objects["tiny.txt"] = b"tiny"
    put_objects(s3_a.client(), source_bucket, objects)
    budget = 16 * MiB
    spec = TransferSpec(
        S3Location(s3_a.config(), source_bucket),
        S3Location(s3_b.config(), destination_bucket, "copy/"),
        Options(mode="copy", part_size_mb=5, concurrency=4, workers=6),
        Runtime(allow_private_networks=True, relay_buffer_bytes=budget),
    )

    result = run_transfer(spec)

    assert result.outcome == Outcome.SUCCEEDED, result.error
    assert s3_hashes(s3_b.client(), destination_bucket, "copy/") == hashes(objects)
    assert 5 * MiB <= result.buffer_peak_bytes <= budget
    assert result.verification["checksums_compared"] >= 1
