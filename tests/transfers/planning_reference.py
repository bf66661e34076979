"""The in-memory planner the product had before plans were streamed, kept as the oracle the
streamed planner is tested against: both listings as dicts, then a diff.

It is the old `build_plan`'s `_reject` and `diff`, unchanged but for taking the listings and
the destination location directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from transfers.engine.listing import ObjectInfo, local_md5
from transfers.engine.planning import Route
from transfers.engine.validation import MAX_KEY_LENGTH, safe_local_target

Listing = dict[str, ObjectInfo]


@dataclass
class ReferencePlan:
    to_copy: list[str]
    to_delete: list[str]
    unchanged: int
    rejected: dict[str, str]
    source: Listing  # after the download route dropped its folder markers


def reference_plan(
    source: Listing,
    destination: Listing | None,
    *,
    route: Route,
    mode: str,
    compare: str,
    force: bool = False,
    target,
    source_path: str | None = None,
) -> ReferencePlan:
    source = dict(source)
    rejected = _reject(target, route, source)
    to_copy, to_delete, unchanged = diff(
        source,
        destination,
        mode=mode,
        compare=compare,
        force=force,
        source_path=source_path,
        destination_path=target.path if target.is_local else None,
    )
    return ReferencePlan(
        to_copy=[key for key in to_copy if key not in rejected],
        to_delete=to_delete,
        unchanged=unchanged,
        rejected=rejected,
        source=source,
    )


def _reject(target, route: Route, source: Listing) -> dict[str, str]:
    rejected = {}
    if route in (Route.UPLOAD, Route.DOWNLOAD):
        for key in source:
            if "\n" in key or "\r" in key:
                rejected[key] = "s5cmd cannot transfer a key that contains a line break"
    if route is Route.DOWNLOAD:
        for key in [key for key in source if key.endswith("/")]:
            del source[key]
        directories = {key[:i] for key in source for i, c in enumerate(key) if c == "/"}
        for key in source:
            if key in rejected:
                continue
            path = safe_local_target(target.path, key)
            if path is None:
                rejected[key] = "the key cannot be stored safely under the destination directory"
            elif key in directories:
                rejected[key] = "other objects need this name as a directory (e.g. 'a' and 'a/b')"
            elif os.path.isdir(path):
                rejected[key] = "a directory is in the way at the destination"
    else:
        limit = MAX_KEY_LENGTH - len(target.prefix)
        for key in source:
            if len(key.encode()) > limit:
                rejected[key] = "the destination key would be longer than 1024 bytes"
    return rejected


def diff(
    source: Listing,
    destination: Listing | None,
    *,
    mode: str,
    compare: str,
    force: bool = False,
    source_path: str | None = None,
    destination_path: str | None = None,
) -> tuple[list[str], list[str], int]:
    if mode == "copy" or destination is None or force:
        to_copy = list(source)
        unchanged = 0
    else:
        to_copy, unchanged = [], 0
        for key, info in source.items():
            other = destination.get(key)
            if other is None or _differs(key, info, other, compare, source_path, destination_path):
                to_copy.append(key)
            else:
                unchanged += 1
    to_delete = []
    if mode == "mirror" and destination is not None:
        to_delete = [key for key in destination if key not in source]
    return to_copy, to_delete, unchanged


def _differs(key, source, destination, compare, source_path, destination_path) -> bool:
    if source.size != destination.size:
        return True
    if compare == "size_only":
        return False
    if compare == "checksum":
        left = source.md5 or (_file_md5(source_path, key) if destination.md5 else None)
        right = destination.md5 or (_file_md5(destination_path, key) if source.md5 else None)
        if left and right:
            return left != right
    return int(source.mtime) > int(destination.mtime)


def _file_md5(root, key):
    if root is None:
        return None
    try:
        return local_md5(os.path.join(root, *key.split("/")))
    except OSError:
        return None
