"""Planning: list both sides, decide what to copy and what to delete, before moving a byte.

The plan is the single source of truth of a run: s5cmd is handed explicit per-object commands
computed here, so filters, the compare rule and the delete set are exactly ours.
"""

from __future__ import annotations

import enum
import os
import threading
from dataclasses import dataclass, field

from transfers.engine.errors import InvalidValue
from transfers.engine.filters import Scope, split_wildcard_prefix
from transfers.engine.listing import Listing, ObjectInfo, list_local, list_s3, local_md5
from transfers.engine.spec import TransferSpec
from transfers.engine.validation import MAX_KEY_LENGTH, safe_local_target

SAMPLE_SIZE = 20


class Route(enum.StrEnum):
    SERVER_SIDE = "server_side"  # same endpoint and credentials: s5cmd / CopyObject, no bytes here
    RELAY = "relay"  # two endpoints: streamed through this process's memory
    UPLOAD = "upload"  # local directory to S3 (s5cmd)
    DOWNLOAD = "download"  # S3 to a local directory (s5cmd)


def route_for(spec: TransferSpec) -> Route:
    source, destination = spec.source, spec.destination
    if source.is_local and destination.is_local:
        raise InvalidValue("Copying from a local path to a local path is not supported.")
    if source.is_local:
        return Route.UPLOAD
    if destination.is_local:
        return Route.DOWNLOAD
    if source.endpoint.same_service_and_credentials(destination.endpoint):
        return Route.SERVER_SIDE
    return Route.RELAY


@dataclass(frozen=True)
class PlanSummary:
    """What a run would do, for a preview or a job's report."""

    route: str
    mode: str
    objects_to_copy: int
    bytes_to_copy: int
    objects_to_delete: int
    objects_unchanged: int
    objects_rejected: int
    sample_to_copy: list[str]
    sample_to_delete: list[str]
    sample_rejected: list[dict[str, str]]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Plan:
    route: Route
    mode: str
    source_base: str  # the prefix (or directory) keys are relative to
    source: Listing
    destination: Listing | None  # None when not listed (copy mode)
    to_copy: list[str]
    to_delete: list[str]
    unchanged: int
    scope: Scope = field(default_factory=Scope)
    rejected: dict[str, str] = field(default_factory=dict)  # key -> why it cannot be transferred

    @property
    def bytes_to_copy(self) -> int:
        return sum(self.source[key].size for key in self.to_copy)

    def summary(self, sample: int = SAMPLE_SIZE) -> PlanSummary:
        return PlanSummary(
            route=str(self.route),
            mode=self.mode,
            objects_to_copy=len(self.to_copy),
            bytes_to_copy=self.bytes_to_copy,
            objects_to_delete=len(self.to_delete),
            objects_unchanged=self.unchanged,
            objects_rejected=len(self.rejected),
            sample_to_copy=sorted(self.to_copy)[:sample],
            sample_to_delete=sorted(self.to_delete)[:sample],
            sample_rejected=[
                {"key": key, "reason": reason} for key, reason in sorted(self.rejected.items())
            ][:sample],
        )


def build_plan(spec: TransferSpec, clients: dict, *, cancel: threading.Event | None = None) -> Plan:
    """List the source (and the destination unless copying), then diff them.

    `clients` maps "source"/"destination" to boto3 clients for the S3 sides.
    """
    options = spec.options
    route = route_for(spec)
    source, destination = spec.source, spec.destination

    base, wildcard = "", None
    if not source.is_local:
        base = source.prefix
        if options.source_wildcards:
            base, wildcard = split_wildcard_prefix(source.prefix)
    scope = Scope.build(
        include=options.include,
        exclude=options.exclude,
        wildcard=wildcard,
        only_keys=options.only_keys,
    )

    if source.is_local:
        source_listing = list_local(source, keep=scope, must_exist=True, cancel=cancel)
    else:
        source_listing = list_s3(source, clients["source"], base=base, keep=scope, cancel=cancel)

    destination_listing = None
    if options.mode != "copy":
        if destination.is_local:
            destination_listing = list_local(
                destination, keep=scope, must_exist=False, cancel=cancel
            )
        else:
            destination_listing = list_s3(
                destination,
                clients["destination"],
                base=destination.prefix,
                keep=scope,
                cancel=cancel,
            )

    rejected = _reject(spec, route, source_listing)
    to_copy, to_delete, unchanged = diff(
        source_listing,
        destination_listing,
        mode=options.mode,
        compare=options.compare,
        force=options.only_keys is not None,
        source_path=source.path if source.is_local else None,
        destination_path=destination.path if destination.is_local else None,
    )
    return Plan(
        route=route,
        mode=options.mode,
        source_base=base,
        source=source_listing,
        destination=destination_listing,
        to_copy=[key for key in to_copy if key not in rejected],
        to_delete=to_delete,
        unchanged=unchanged,
        scope=scope,
        rejected=rejected,
    )


def _reject(spec: TransferSpec, route: Route, source: Listing) -> dict[str, str]:
    """Keys that cannot be written to the destination; they are reported, not attempted."""
    rejected = {}
    if route in (Route.UPLOAD, Route.DOWNLOAD):
        # s5cmd reads one command per line: a key with a line break cannot be expressed.
        for key in source:
            if "\n" in key or "\r" in key:
                rejected[key] = "s5cmd cannot transfer a key that contains a line break"
    if route is Route.DOWNLOAD:
        for key in [key for key in source if key.endswith("/")]:
            del source[key]  # a "folder" marker object: directories need no copy
        # s5cmd writes *into* a directory that has the target's name, so never give it one.
        directories = {key[:i] for key in source for i, c in enumerate(key) if c == "/"}
        for key in source:
            if key in rejected:
                continue
            target = safe_local_target(spec.destination.path, key)
            if target is None:
                rejected[key] = "the key cannot be stored safely under the destination directory"
            elif key in directories:
                rejected[key] = "other objects need this name as a directory (e.g. 'a' and 'a/b')"
            elif os.path.isdir(target):
                rejected[key] = "a directory is in the way at the destination"
    else:
        limit = MAX_KEY_LENGTH - len(spec.destination.prefix)
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
    """(keys to copy, keys to delete, number unchanged).

    copy: everything. sync: what is missing, or differs by the compare rule — `size_only`:
    sizes; `size_mtime` (s5cmd's rule): sizes, or the source is newer; `checksum`: content
    MD5 where both sides know it, else as `size_mtime`. mirror: sync, plus deleting the
    destination keys (in scope) the source does not have.
    """
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


def _differs(
    key: str,
    source: ObjectInfo,
    destination: ObjectInfo,
    compare: str,
    source_path: str | None,
    destination_path: str | None,
) -> bool:
    if source.size != destination.size:
        return True
    if compare == "size_only":
        return False
    if compare == "checksum":
        left = source.md5 or (_file_md5(source_path, key) if destination.md5 else None)
        right = destination.md5 or (_file_md5(destination_path, key) if source.md5 else None)
        if left and right:
            return left != right
    # To the second: S3 listings carry whole seconds, local files fractions of one.
    return int(source.mtime) > int(destination.mtime)


def _file_md5(root: str | None, key: str) -> str | None:
    if root is None:
        return None
    try:
        return local_md5(os.path.join(root, *key.split("/")))
    except OSError:
        return None
