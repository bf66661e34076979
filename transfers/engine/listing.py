"""Listings: key -> (size, ETag, mtime) maps of an S3 prefix or a local directory.

Keys are relative to the location's base prefix (or directory) and use '/' on both sides, so
the two maps of a sync can be compared key by key.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine.errors import TransferError
from transfers.engine.locations import LocalLocation, S3Location, describe_error

_PLAIN_ETAG = re.compile(r"^[0-9a-f]{32}$")


@dataclass(slots=True)
class ObjectInfo:
    size: int
    etag: str = ""  # without quotes; "" for local files
    mtime: float = 0.0  # seconds since the epoch

    @property
    def md5(self) -> str | None:
        """The content MD5 when the ETag is one (single-part upload, no SSE-KMS): else None."""
        return self.etag if _PLAIN_ETAG.match(self.etag) else None


Listing = dict[str, ObjectInfo]


def list_s3(
    location: S3Location,
    client,
    *,
    base: str,
    keep: Callable[[str], bool],
    cancel: threading.Event | None = None,
) -> Listing:
    """Objects under `base` whose relative key passes `keep`."""
    listing: Listing = {}
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
                    listing[key] = ObjectInfo(
                        size=item["Size"],
                        etag=item.get("ETag", "").strip('"'),
                        mtime=item["LastModified"].timestamp(),
                    )
    except (BotoCoreError, ClientError) as exc:
        raise TransferError(
            f"Listing s3://{location.bucket}/{base} failed: "
            + describe_error(exc, location.endpoint, location.bucket)
        ) from None
    return listing


def list_local(
    location: LocalLocation,
    *,
    keep: Callable[[str], bool],
    must_exist: bool,
    cancel: threading.Event | None = None,
) -> Listing:
    """Regular files under the directory; symbolic links are never followed (nor listed)."""
    listing: Listing = {}
    root = location.path
    if not os.path.isdir(root):
        if must_exist:
            raise TransferError(f"The local directory {root} does not exist.")
        return listing
    stack = [root]
    while stack:
        if cancel is not None and cancel.is_set():
            break
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise TransferError(f"Cannot read {directory}: {exc.strerror}.") from None
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                key = os.path.relpath(entry.path, root).replace(os.sep, "/")
                if keep(key):
                    stat = entry.stat(follow_symlinks=False)
                    listing[key] = ObjectInfo(size=stat.st_size, mtime=stat.st_mtime)
    return listing


def local_md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
