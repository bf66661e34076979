"""Listings: streams of (key, size/ETag/mtime) of an S3 prefix or a local directory, in key
order.

Keys are relative to the location's base prefix (or directory) and use '/' on both sides, so
the two streams of a sync can be merged key by key.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine.errors import TransferError
from transfers.engine.locations import LocalLocation, S3Location, describe_error
from transfers.engine.ordering import external_sort

_PLAIN_ETAG = re.compile(r"^[0-9a-f]{32}$")


@dataclass(slots=True)
class ObjectInfo:
    size: int
    etag: str = ""  # without quotes; "" for local files
    mtime: float = 0.0  # seconds since the epoch

    @property
    def md5(self) -> str | None:
        return md5_of(self.etag)

    def __reduce__(self):
        # Pickled by the million when a listing is sorted on disk: a plain tuple is quickest.
        return ObjectInfo, (self.size, self.etag, self.mtime)


def md5_of(etag: str) -> str | None:
    """The content MD5 when the ETag is one (single-part upload, no SSE-KMS): else None."""
    return etag if _PLAIN_ETAG.match(etag) else None


Item = tuple[str, ObjectInfo]  # (key relative to the base, what is known of the object)


def iter_s3(
    location: S3Location,
    client,
    *,
    base: str,
    keep: Callable[[str], bool],
    cancel: threading.Event | None = None,
) -> Iterator[Item]:
    """Objects under `base` whose relative key passes `keep`, in the order the store lists
    them (ListObjectsV2: UTF-8 binary order of the key; callers check it)."""
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=base, PaginationConfig={"PageSize": 1000}
        )
        for page in pages:
            if cancel is not None and cancel.is_set():
                break
            for item in page.get("Contents", ()):
                key = item["Key"][len(base) :]
                if key and keep(key):
                    yield (
                        key,
                        ObjectInfo(
                            size=item["Size"],
                            etag=item.get("ETag", "").strip('"'),
                            mtime=item["LastModified"].timestamp(),
                        ),
                    )
    except (BotoCoreError, ClientError) as exc:
        raise TransferError(
            f"Listing s3://{location.bucket}/{base} failed: "
            + describe_error(exc, location.endpoint, location.bucket)
        ) from None


def iter_local(
    location: LocalLocation,
    *,
    keep: Callable[[str], bool],
    must_exist: bool,
    cancel: threading.Event | None = None,
) -> Iterator[Item]:
    """Regular files under the directory, in key order; symbolic links are never followed
    (nor listed).

    Each directory's entries are sorted by name, a subdirectory's name with its '/' (so 'a/x'
    comes after 'a-b' and before 'a0', as in an S3 listing); a directory too large to sort in
    memory is sorted on disk.
    """
    root = location.path
    if not os.path.isdir(root):
        if must_exist:
            raise TransferError(f"The local directory {root} does not exist.")
        return
    stack = [_sorted_entries(root, "")]
    while stack:
        if cancel is not None and cancel.is_set():
            return
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        name, path, size, mtime = entry
        if size < 0:  # a directory: its name ends with '/'
            stack.append(_sorted_entries(path, name))
        elif keep(name):
            yield name, ObjectInfo(size=size, mtime=mtime)


def _sorted_entries(directory: str, prefix: str) -> Iterator[tuple[str, str, int, float]]:
    """(key or 'key/' of a directory, path, size or -1 for a directory, mtime), sorted; the
    directory is read as it is sorted, so a huge one is never held whole."""

    def described() -> Iterator[tuple[str, str, int, float]]:
        try:
            entries = os.scandir(directory)
        except OSError as exc:
            raise TransferError(f"Cannot read {directory}: {exc.strerror}.") from None
        with entries:
            for entry in entries:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    yield prefix + entry.name + "/", entry.path, -1, 0.0
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    yield prefix + entry.name, entry.path, stat.st_size, stat.st_mtime

    return external_sort(described())


def local_md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
