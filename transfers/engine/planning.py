"""Planning: list both sides, decide what to copy and what to delete, before moving a byte.

The plan is the single source of truth of a run: s5cmd is handed explicit per-object commands
computed here, so filters, the compare rule and the delete set are exactly ours.

It is made as a stream, so that the size of a job does not weigh on the memory of the process
planning it: the source and destination listings arrive in key order and are merge-joined, and
each key's decision (copy, unchanged, rejected, delete) is written to a spool on disk as it
comes; the plan itself holds counts and a few sample keys. The copy, delete, verification and
manifest read the spool back in key order. A listing found out of order (a store that does not
sort, or repeats a key) is sorted on disk and the plan made again: never a wrong plan.
"""

from __future__ import annotations

import enum
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from transfers.engine.errors import InvalidValue
from transfers.engine.filters import Scope, split_wildcard_prefix
from transfers.engine.listing import Item, ObjectInfo, iter_local, iter_s3, local_md5, md5_of
from transfers.engine.locations import LocalLocation, S3Location
from transfers.engine.ordering import (
    RUN_SIZE,
    RecordFile,
    external_sort,
    listing_stream,
    merge_join,
    with_order_fallback,
)
from transfers.engine.spec import TransferSpec
from transfers.engine.validation import MAX_KEY_LENGTH, safe_local_target

SAMPLE_SIZE = 20
SAMPLE_LIMIT = 100  # the most keys of each kind a summary can show
# Download route: decisions held back while a key might still turn out to be needed as a
# directory ('a' before 'a.txt' ... 'a/b'); beyond this many the spool is sorted afterwards.
HOLD_LIMIT = 10_000

COPY, SKIP, REJECT, DELETE = "copy", "skip", "reject", "delete"


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


class Decision(NamedTuple):
    """What the run does with one key. Size and ETag are the source's, the destination's for
    a delete."""

    key: str
    kind: str  # COPY | SKIP (unchanged) | REJECT (cannot be transferred) | DELETE
    size: int
    etag: str
    reason: str = ""  # why a key is rejected

    @property
    def md5(self) -> str | None:
        return md5_of(self.etag)


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


class _Smallest:
    """The `limit` smallest of the values added, in a bounded list (a sample of keys)."""

    def __init__(self, limit: int = SAMPLE_LIMIT):
        self.limit = limit
        self.values: list = []
        self.bound = None  # once full: nothing at or above it can enter

    def add(self, value) -> None:
        if self.bound is not None and value >= self.bound:
            return
        self.values.append(value)
        if len(self.values) >= 2 * self.limit:
            self.values.sort()
            del self.values[self.limit :]
            self.bound = self.values[-1]

    def smallest(self, n: int) -> list:
        return sorted(self.values)[:n]


@dataclass
class Plan:
    """Counts and samples of a run's decisions; the decisions themselves are in `spool`, in key
    order (None for a preview, which keeps none)."""

    route: Route
    mode: str
    source_base: str = ""  # the prefix (or directory) keys are relative to
    scope: Scope = field(default_factory=Scope)
    objects_to_copy: int = 0
    bytes_to_copy: int = 0
    objects_to_delete: int = 0
    unchanged: int = 0
    objects_rejected: int = 0
    samples: dict[str, _Smallest] = field(
        default_factory=lambda: {COPY: _Smallest(), DELETE: _Smallest(), REJECT: _Smallest()}
    )
    spool: RecordFile | None = None

    def decisions(self, *kinds: str) -> Iterator[Decision]:
        """The decisions (of these kinds, or all) in key order, read back from disk."""
        if self.spool is None:
            raise RuntimeError("This plan kept no decisions.")
        for record in self.spool:
            if not kinds or record[1] in kinds:
                yield Decision._make(record)

    def keys(self, kind: str) -> Iterator[str]:
        return (decision.key for decision in self.decisions(kind))

    def summary(self, sample: int = SAMPLE_SIZE) -> PlanSummary:
        sample = min(sample, SAMPLE_LIMIT)
        return PlanSummary(
            route=str(self.route),
            mode=self.mode,
            objects_to_copy=self.objects_to_copy,
            bytes_to_copy=self.bytes_to_copy,
            objects_to_delete=self.objects_to_delete,
            objects_unchanged=self.unchanged,
            objects_rejected=self.objects_rejected,
            sample_to_copy=self.samples[COPY].smallest(sample),
            sample_to_delete=self.samples[DELETE].smallest(sample),
            sample_rejected=[
                {"key": key, "reason": reason}
                for key, reason in self.samples[REJECT].smallest(sample)
            ],
        )

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


Listing = Callable[[], Iterable[Item]]  # lists a side afresh each time it is called


def source_scope(spec: TransferSpec, key_range: tuple[str, str | None] | None) -> tuple[str, Scope]:
    """Where the source's listing starts (the prefix up to any wildcard; "" for a local
    folder) and which keys under it are in scope (filters, wildcard, retry keys, `key_range`)."""
    options, source = spec.options, spec.source
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
        key_range=key_range,
    )
    return base, scope


def list_source(
    spec: TransferSpec,
    clients: dict,
    base: str,
    scope: Scope,
    cancel: threading.Event | None = None,
    page_size: int = 1000,
) -> Iterator[Item]:
    """The source's objects in `scope` under `base`, in key order."""
    source = spec.source
    if source.is_local:
        return iter_local(source, keep=scope, must_exist=True, cancel=cancel)
    return iter_s3(
        source,
        clients["source"],
        base=base,
        keep=scope,
        cancel=cancel,
        page_size=page_size,
        after=scope.after,
        upto=scope.upto,
    )


def build_plan(
    spec: TransferSpec,
    clients: dict,
    *,
    cancel: threading.Event | None = None,
    keep_decisions: bool = True,
    on_attempt: Callable[[Plan], None] | None = None,
    on_listed: Callable[[str, int], None] | None = None,
    source_items: Iterable[Item] | None = None,
) -> Plan:
    """List the source (and the destination unless copying) and merge them into a plan.

    `clients` maps "source"/"destination" to boto3 clients for the S3 sides. Without
    `keep_decisions` (a preview) only the counts and samples are kept. `on_attempt`: see
    `plan_listings`. `on_listed(side, count)` is told at each item how many items of that side
    have been listed so far (from the planning thread, so it must be quick: e.g. store the
    count for another thread). `source_items`, when given, is the source's listing already
    made (in scope, key order, readable more than once: e.g. a `RecordFile`); the source is
    then not listed again.
    """
    options = spec.options
    source, destination = spec.source, spec.destination
    base, scope = source_scope(spec, options.key_range)

    def source_listing() -> Iterable[Item]:
        if source_items is not None:
            return iter(source_items)
        return list_source(spec, clients, base, scope, cancel)

    listed: Listing = source_listing
    list_destination = options.mode != "copy" or options.skip_intact
    compared = destination_listing(spec, clients, scope, cancel) if list_destination else None
    if on_listed is not None:
        listed = counted(listed, "source", on_listed)
        if compared is not None:
            compared = counted(compared, "destination", on_listed)
    return plan_listings(
        listed,
        compared,
        route=route_for(spec),
        mode=options.mode,
        compare=options.compare,
        force=options.only_keys is not None and not options.skip_intact,
        skip_intact=options.skip_intact,
        target=destination,
        source_path=source.path if source.is_local else None,
        source_base=base,
        scope=scope,
        keep_decisions=keep_decisions,
        on_attempt=on_attempt,
    )


def destination_listing(
    spec: TransferSpec, clients: dict, scope: Scope, cancel: threading.Event | None
) -> Listing:
    destination = spec.destination

    def listing() -> Iterable[Item]:
        if destination.is_local:
            return iter_local(destination, keep=scope, must_exist=False, cancel=cancel)
        return iter_s3(
            destination,
            clients["destination"],
            base=destination.prefix,
            keep=scope,
            cancel=cancel,
            after=scope.after,
            upto=scope.upto,
        )

    return listing


def counted(listing: Listing, side: str, on_listed: Callable[[str, int], None]) -> Listing:
    """`listing`, reporting how many items it has yielded to `on_listed` (see `build_plan`)."""

    def listed() -> Iterator[Item]:
        for count, item in enumerate(listing(), 1):
            on_listed(side, count)
            yield item

    return listed


def plan_listings(
    source: Listing,
    destination: Listing | None,
    *,
    route: Route,
    mode: str,
    compare: str,
    force: bool = False,
    skip_intact: bool = False,
    target: S3Location | LocalLocation,
    source_path: str | None = None,
    source_base: str = "",
    scope: Scope | None = None,
    keep_decisions: bool = True,
    run_size: int = RUN_SIZE,
    hold_limit: int = HOLD_LIMIT,
    on_attempt: Callable[[Plan], None] | None = None,
) -> Plan:
    """Merge the listings (destination None: not listed, in copy mode) into a plan.

    copy: everything. sync: what is missing, or differs by the compare rule — `size_only`:
    sizes; `size_mtime` (s5cmd's rule): sizes, or the source is newer; `checksum`: content
    MD5 where both sides know it, else as `size_mtime`. mirror: sync, plus deleting the
    destination keys (in scope) the source does not have. `force` (a retry) copies every
    source key. `skip_intact` (continuing a cancelled run) compares as sync does in copy mode
    too. Keys that cannot be written to `target` are rejected: reported, not attempted.

    `on_attempt(plan)` is called as each attempt begins (a second one when a listing turns
    out to be out of order), with a plan whose decisions can be read, from other threads,
    while they are made: the copy can start before the listing ends. The plan returned is the
    final one; a reader of an attempt given up, or of a spool replaced by a sorted one, stops
    early.
    """
    rejections = _Rejections(route, target)
    destination_path = target.path if target.is_local else None
    copy_all = (mode == "copy" and not skip_intact) or destination is None or force
    mirror = mode == "mirror" and destination is not None

    def attempt(sort: frozenset[str]) -> Plan:
        plan = Plan(route=route, mode=mode, source_base=source_base, scope=scope or Scope())
        live = on_attempt is not None
        plan.spool = spool = RecordFile(live=live) if keep_decisions else None
        if live:
            on_attempt(plan)
        try:
            if destination is None:
                sources = listing_stream(source, "source", sort="source" in sort, run_size=run_size)
                pairs: Iterable[tuple] = ((item[0], item, None) for item in sources)
            else:
                pairs = merge_join(
                    listing_stream(
                        source, "source", sort="source" in sort, run_size=run_size, check=False
                    ),
                    listing_stream(
                        destination,
                        "destination",
                        sort="destination" in sort,
                        run_size=run_size,
                        check=False,
                    ),
                    sides=("source", "destination"),
                )
            flagged = _Flagged(pairs, hold_limit if route is Route.DOWNLOAD else None)
            samples = plan.samples
            for key, found, other, needed_as_directory in flagged:
                if found is None:
                    if mirror:
                        info = other[1]
                        plan.objects_to_delete += 1
                        samples[DELETE].add(key)
                        if spool is not None:
                            spool.append((key, DELETE, info.size, info.etag, ""))
                    continue
                info = found[1]
                if route is Route.DOWNLOAD and key.endswith("/"):
                    # A "folder" marker object: directories need no copy (but one with a line
                    # break is reported, as it always was).
                    reason = rejections.reason(key, False)
                    if "\n" in key or "\r" in key:
                        plan.objects_rejected += 1
                        samples[REJECT].add((key, reason))
                        if spool is not None:
                            spool.append((key, REJECT, info.size, info.etag, reason))
                    continue
                changed = (
                    copy_all
                    or other is None
                    or _differs(key, info, other[1], compare, source_path, destination_path)
                )
                reason = rejections.reason(key, needed_as_directory)
                if reason:
                    kind = REJECT
                    plan.objects_rejected += 1
                    plan.unchanged += not changed  # as counted before rejecting
                    samples[REJECT].add((key, reason))
                elif changed:
                    kind = COPY
                    plan.objects_to_copy += 1
                    plan.bytes_to_copy += info.size
                    samples[COPY].add(key)
                else:
                    kind = SKIP
                    plan.unchanged += 1
                if spool is not None:
                    spool.append((key, kind, info.size, info.etag, reason))
            if spool is not None:
                spool.finish()
                if flagged.disordered:
                    plan.spool = RecordFile()
                    plan.spool.extend(external_sort(spool, run_size=run_size))
                    plan.spool.finish()
                    spool.close()
        except BaseException:
            plan.close()
            raise
        return plan

    return with_order_fallback(attempt)


class _Flagged:
    """(key, source item, destination item, needed as a directory) for merged pairs.

    For a download only, a source key other keys need as a directory ('a' with 'a/b') cannot
    be written. Whether a key is one is known at the first key at or after key + '/'; until
    then its decision and those after it are held (keys between 'a' and 'a/', e.g. 'a.txt',
    are few in practice). Beyond `hold_limit` held, the decisions are let out of order
    (`disordered`), for the spool to be sorted afterwards.
    """

    def __init__(self, pairs: Iterable[tuple], hold_limit: int | None):
        self.pairs = pairs
        self.hold_limit = hold_limit
        self.disordered = False

    def __iter__(self) -> Iterator[tuple]:
        if self.hold_limit is None:
            for key, found, other in self.pairs:
                yield key, found, other, False
            return
        held: deque[list] = deque()
        pending: list[list] = []  # held source keys that may still be needed as directories
        for key, found, other in self.pairs:
            if found is None or key.endswith("/"):  # folder markers make no directories
                held.append([key, found, other, False])
            else:
                while pending:
                    prefix = pending[-1][0]
                    n = len(prefix)
                    if len(key) > n and key[n] < "/" and key.startswith(prefix):
                        break  # between 'a' and 'a/': it is not known yet
                    pending.pop()[3] = key.startswith(prefix + "/")
                entry = [key, found, other, None]
                pending.append(entry)
                held.append(entry)
            while held and held[0][3] is not None:
                yield tuple(held.popleft())
            if len(held) > self.hold_limit:
                self.disordered = True
                waiting: deque[list] = deque()
                for entry in held:
                    if entry[3] is None:
                        waiting.append(entry)
                    else:
                        yield tuple(entry)
                held = waiting
        for entry in pending:
            entry[3] = False
        for entry in held:
            yield tuple(entry)


class _Rejections:
    """Why a key cannot be written to the destination ("" when it can)."""

    def __init__(self, route: Route, target: S3Location | LocalLocation):
        self.route = route
        self.target = target
        self.limit = MAX_KEY_LENGTH - (0 if target.is_local else len(target.prefix))
        self.remote = route in (Route.SERVER_SIDE, Route.RELAY)

    def reason(self, key: str, needed_as_directory: bool) -> str:
        if self.remote and len(key) * 4 <= self.limit:
            return ""  # S3 to S3, and short enough whatever its characters (at most 4 bytes)
        reason = ""
        # s5cmd reads one command per line: a key with a line break cannot be expressed.
        if self.route in (Route.UPLOAD, Route.DOWNLOAD) and ("\n" in key or "\r" in key):
            reason = "s5cmd cannot transfer a key that contains a line break"
        if self.route is Route.DOWNLOAD:
            if reason:
                return reason
            target = safe_local_target(self.target.path, key)
            if target is None:
                return "the key cannot be stored safely under the destination directory"
            # s5cmd writes *into* a directory that has the target's name, so never give it one.
            if needed_as_directory:
                return "other objects need this name as a directory (e.g. 'a' and 'a/b')"
            if os.path.isdir(target):
                return "a directory is in the way at the destination"
            return ""
        if len(key.encode()) > self.limit:
            reason = "the destination key would be longer than 1024 bytes"
        return reason


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
