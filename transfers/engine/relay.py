"""The cross-endpoint route: stream each object from one S3 service to another through this
process's memory, in bounded buffers, with no temporary file.

A GetObject stream is cut into parts that are uploaded (multipart) while the next part is
read; every buffer is taken from a shared byte budget, so memory stays under
`relay_buffer_bytes` however many objects run in parallel. The MD5 of the stream is checked
against the source ETag where that ETag is an MD5, and every write carries Content-MD5.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import ProtocolError

from transfers.engine.errors import TransferError
from transfers.engine.locations import S3Location, describe_error
from transfers.engine.s3ops import Cancelled, abort_quietly, carried_metadata, part_size_for

_PLAIN_ETAG = re.compile(r'^"?([0-9a-f]{32})"?$')


class IntegrityError(Exception):
    """What was read does not match what the source says it holds."""


class _ReadFailed(Exception):
    """Reading the source stream failed (told apart from a failed write to the destination)."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause))
        self.cause = cause


class BufferBudget:
    """A byte semaphore: the sum of live buffers never exceeds `limit` (a single buffer larger
    than the limit is allowed alone). `peak` records the high-water mark."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._condition = threading.Condition()

    def acquire(self, size: int, cancel: threading.Event) -> int:
        size = min(max(size, 1), self.limit)
        with self._condition:
            while self.used + size > self.limit:
                if cancel.is_set():
                    raise Cancelled
                self._condition.wait(timeout=0.2)
            self.used += size
            self.peak = max(self.peak, self.used)
        return size

    def release(self, size: int) -> None:
        with self._condition:
            self.used -= size
            self._condition.notify_all()


class Relay:
    def __init__(
        self,
        source: S3Location,
        destination: S3Location,
        source_client,
        destination_client,
        *,
        source_base: str,
        part_size: int,
        concurrency: int,
        storage_class: str,
        budget: BufferBudget,
        part_threads: int,
        cancel: threading.Event,
        on_bytes: Callable[[int], None],
    ):
        self.source, self.destination = source, destination
        self.source_client, self.destination_client = source_client, destination_client
        self.source_base = source_base
        self.part_size = part_size
        self.concurrency = concurrency
        self.extra = {"StorageClass": storage_class} if storage_class else {}
        self.budget = budget
        self.cancel = cancel
        self.on_bytes = on_bytes
        self.parts = ThreadPoolExecutor(max_workers=part_threads, thread_name_prefix="relay-part")

    def close(self) -> None:
        self.parts.shutdown(wait=True, cancel_futures=True)

    def copy(self, key: str) -> None:
        try:
            response = self.source_client.get_object(
                Bucket=self.source.bucket, Key=self.source_base + key
            )
        except (BotoCoreError, ClientError) as exc:
            raise TransferError(
                "Reading failed: " + describe_error(exc, self.source.endpoint, self.source.bucket)
            ) from None
        body = response["Body"]
        try:
            size = response["ContentLength"]
            expected = _PLAIN_ETAG.match(response.get("ETag", ""))
            target = {"Bucket": self.destination.bucket, "Key": self.destination.prefix + key}
            headers = {**carried_metadata(response), **self.extra}
            part = part_size_for(size, self.part_size)
            try:
                if size <= part:
                    digest = self._single(body, size, target, headers)
                else:
                    digest = self._multipart(body, size, part, target, headers)
            except _ReadFailed as exc:
                source = self.source
                raise TransferError(
                    "Reading failed: " + describe_error(exc.cause, source.endpoint, source.bucket)
                ) from None
            except (BotoCoreError, ClientError) as exc:
                destination = self.destination
                raise TransferError(
                    "Writing failed: "
                    + describe_error(exc, destination.endpoint, destination.bucket)
                ) from None
            if expected and digest != expected.group(1):
                raise IntegrityError(
                    "the bytes read do not match the source's MD5 (it changed during the copy?)"
                )
        finally:
            body.close()

    def _single(self, body, size: int, target: dict, headers: dict) -> str:
        reserved = self.budget.acquire(size, self.cancel)
        try:
            data = _read_exactly(body, size)
            digest = hashlib.md5(data, usedforsecurity=False)
            self.destination_client.put_object(
                **target,
                Body=data,
                ContentMD5=base64.b64encode(digest.digest()).decode(),
                **headers,
            )
        finally:
            self.budget.release(reserved)
        self.on_bytes(size)
        return digest.hexdigest()

    def _multipart(self, body, size: int, part: int, target: dict, headers: dict) -> str:
        upload_id = self.destination_client.create_multipart_upload(**target, **headers)["UploadId"]
        digest = hashlib.md5(usedforsecurity=False)
        in_flight = threading.Semaphore(self.concurrency)
        futures = []

        def upload(number: int, data: bytearray, reserved: int) -> dict:
            try:
                response = self.destination_client.upload_part(
                    **target,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=data,
                    ContentMD5=base64.b64encode(
                        hashlib.md5(data, usedforsecurity=False).digest()
                    ).decode(),
                )
                self.on_bytes(len(data))
                return {"PartNumber": number, "ETag": response["ETag"]}
            finally:
                self.budget.release(reserved)
                in_flight.release()

        try:
            for number in range(1, math.ceil(size / part) + 1):
                if self.cancel.is_set():
                    raise Cancelled
                in_flight.acquire()
                try:
                    reserved = self.budget.acquire(part, self.cancel)
                except BaseException:
                    in_flight.release()
                    raise
                try:
                    data = _read_exactly(body, min(part, size - (number - 1) * part))
                except BaseException:
                    self.budget.release(reserved)
                    in_flight.release()
                    raise
                digest.update(data)
                futures.append(self.parts.submit(upload, number, data, reserved))
                del data
            parts = [future.result() for future in futures]
            self.destination_client.complete_multipart_upload(
                **target, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            for future in futures:
                future.exception()  # wait: no part may land after the abort
            abort_quietly(self.destination_client, target["Bucket"], target["Key"], upload_id)
            raise
        return digest.hexdigest()


def _read_exactly(body, size: int) -> bytearray:
    """`size` bytes of the stream in one buffer allocated once: joining chunks would hold the
    part twice for a moment, and the budget counts it once."""
    buffer = bytearray(size)
    view, received = memoryview(buffer), 0
    try:
        while received < size:
            try:
                chunk = body.read(min(size - received, 1 << 20))
            except (BotoCoreError, ProtocolError, OSError) as exc:
                raise _ReadFailed(exc) from exc
            if not chunk:
                raise IntegrityError(f"the source stream ended after {received} of {size} bytes")
            view[received : received + len(chunk)] = chunk
            received += len(chunk)
    finally:
        view.release()
    return buffer
