"""S3 operations the engine does itself with boto3: server-side copies that s5cmd cannot do
(objects over 5 GiB, awkward keys), batch deletes, and aborting incomplete multipart uploads."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine.locations import EndpointConfig, describe_code, describe_error
from transfers.engine.spec import COPY_OBJECT_LIMIT, MiB

MAX_PARTS = 10_000
MIN_PART = 5 * MiB
MAX_PART = 5 * 1024 * MiB
DELETE_BATCH = 1000
# Metadata a copy keeps: CopyObject does so itself; a multipart copy must pass it again.
_CARRIED_HEADERS = {
    "ContentType": "ContentType",
    "ContentEncoding": "ContentEncoding",
    "ContentDisposition": "ContentDisposition",
    "ContentLanguage": "ContentLanguage",
    "CacheControl": "CacheControl",
    "Metadata": "Metadata",
}


class Cancelled(Exception):
    """The run was cancelled while this object was being transferred."""


def part_size_for(size: int, preferred: int) -> int:
    """The preferred part size, grown so that the object fits in 10,000 parts."""
    needed = math.ceil(size / MAX_PARTS)
    part = max(preferred, needed, MIN_PART)
    return min(math.ceil(part / MiB) * MiB, MAX_PART)


def carried_metadata(head: dict) -> dict:
    return {arg: head[name] for name, arg in _CARRIED_HEADERS.items() if head.get(name)}


def server_side_copy(
    client,
    *,
    source_bucket: str,
    source_key: str,
    destination_bucket: str,
    destination_key: str,
    size: int,
    part_size: int,
    concurrency: int,
    storage_class: str,
    threshold: int,
    cancel: threading.Event,
    on_bytes: Callable[[int], None],
) -> None:
    """Copy inside one S3 service: CopyObject up to `threshold` (at most 5 GiB), else a
    multipart copy whose parts (UploadPartCopy) run `concurrency` at a time."""
    source = {"Bucket": source_bucket, "Key": source_key}
    extra = {"StorageClass": storage_class} if storage_class else {}
    if size <= min(threshold, COPY_OBJECT_LIMIT):
        client.copy_object(
            Bucket=destination_bucket, Key=destination_key, CopySource=source, **extra
        )
        on_bytes(size)
        return
    head = client.head_object(Bucket=source_bucket, Key=source_key)
    part = part_size_for(size, part_size)
    upload = client.create_multipart_upload(
        Bucket=destination_bucket, Key=destination_key, **carried_metadata(head), **extra
    )
    upload_id = upload["UploadId"]

    def copy_part(number: int) -> dict:
        if cancel.is_set():
            raise Cancelled
        start = (number - 1) * part
        end = min(size, start + part) - 1
        response = client.upload_part_copy(
            Bucket=destination_bucket,
            Key=destination_key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=source,
            CopySourceRange=f"bytes={start}-{end}",
            CopySourceIfMatch=head["ETag"],  # the source must not change under us
        )
        on_bytes(end - start + 1)
        return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="part-copy") as pool:
            parts = list(pool.map(copy_part, range(1, math.ceil(size / part) + 1)))
        client.complete_multipart_upload(
            Bucket=destination_bucket,
            Key=destination_key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        abort_quietly(client, destination_bucket, destination_key, upload_id)
        raise


def abort_quietly(client, bucket: str, key: str, upload_id: str) -> None:
    # On failure, abort_incomplete_uploads() sweeps what is left after the run.
    with contextlib.suppress(BotoCoreError, ClientError):
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def abort_incomplete_uploads(client, bucket: str, prefix: str, keys: Iterable[str]) -> int:
    """Abort the multipart uploads under `prefix` whose key is one of `keys` (full keys).

    Limited to keys of the run, so uploads of other writers under the same prefix survive.
    """
    wanted = set(keys)
    aborted = 0
    paginator = client.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", ()):
            if upload["Key"] in wanted:
                client.abort_multipart_upload(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
    return aborted


def list_incomplete_uploads(client, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key relative to `prefix`, upload id) of every incomplete multipart upload under it."""
    found = []
    paginator = client.get_paginator("list_multipart_uploads")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", ()):
            if upload["Key"].startswith(prefix):
                found.append((upload["Key"][len(prefix) :], upload["UploadId"]))
    return found


def delete_objects(
    client,
    bucket: str,
    keys: list[str],
    *,
    cancel: threading.Event,
    on_deleted: Callable[[list[str]], None],
    endpoint: EndpointConfig | None = None,
) -> dict[str, str]:
    """Delete in batches of 1,000 (DeleteObjects); `on_deleted` gets each batch's deleted keys.
    Returns key -> error for what failed."""
    failures: dict[str, str] = {}
    for start in range(0, len(keys), DELETE_BATCH):
        if cancel.is_set():
            break
        batch = keys[start : start + DELETE_BATCH]
        try:
            response = client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        except (BotoCoreError, ClientError) as exc:
            failures.update(dict.fromkeys(batch, describe_error(exc, endpoint, bucket)))
            continue
        errors = {
            e["Key"]: describe_code(e.get("Code", ""), e.get("Message", ""), endpoint, bucket)
            for e in response.get("Errors", ())
        }
        failures.update(errors)
        on_deleted([key for key in batch if key not in errors])
    return failures
