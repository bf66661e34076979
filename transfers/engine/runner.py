"""A run: validate again, plan, maybe stop for approval, copy by route, delete, verify.

`run_transfer()` never raises for a failure of the transfer itself: it returns a `Result`
whose outcome and error say what happened. It raises only for bugs.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine import clients as kept_clients
from transfers.engine.copy_objects import (
    batchable,
    copy_by_relay,
    copy_server_side,
    copy_small_plan,
)
from transfers.engine.copy_s5cmd import copy_with_s5cmd
from transfers.engine.errors import EngineError, InvalidValue, TransferError
from transfers.engine.filters import split_wildcard_prefix
from transfers.engine.journal import Failure, Journal
from transfers.engine.keyset import KeySet
from transfers.engine.listing import Item
from transfers.engine.locations import LocalLocation, describe_error
from transfers.engine.manifest import Manifest
from transfers.engine.planning import (
    COPY,
    DELETE,
    REJECT,
    Decision,
    Plan,
    PlanSummary,
    Route,
    build_plan,
    destination_listing,
    list_source,
    route_for,
    source_scope,
)
from transfers.engine.progress import Phase, ProgressCallback, ProgressTracker
from transfers.engine.relay import BufferBudget
from transfers.engine.s3ops import (
    abort_incomplete_uploads,
    delete_objects,
    list_incomplete_uploads,
)
from transfers.engine.spec import TransferSpec
from transfers.engine.validation import (
    safe_local_target,
    validate_bucket,
    validate_endpoint_url,
    validate_local_path,
    validate_prefix,
)
from transfers.engine.verify import verify_plan

logger = logging.getLogger(__name__)

# After a cancel, incomplete uploads are looked for again, a second apart, until two passes in
# a row find none (at most ABORT_PASSES passes).
ABORT_PASSES = 8
ABORT_SETTLE_SECONDS = 1.0


class Outcome:
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    AWAITING_APPROVAL = "awaiting_approval"


@dataclass
class Result:
    outcome: str
    error: str = ""
    plan: PlanSummary | None = None
    objects_total: int = 0
    bytes_total: int = 0
    objects_done: int = 0
    bytes_done: int = 0
    objects_skipped: int = 0
    objects_failed: int = 0
    objects_deleted: int = 0
    # The failures in the order they happened, read back from the run's journal on disk.
    failures: Iterable[Failure] = ()
    verification: dict | None = None
    command: str = ""
    exit_code: int | None = None
    elapsed_seconds: float = 0.0
    buffer_peak_bytes: int = 0  # relay route: the most memory its buffers held at once
    # Object by object, what the run did; None when it failed before planning.
    manifest: Manifest | None = None


def check_spec(spec: TransferSpec) -> TransferSpec:
    """Validate the locations again at run time (DNS, symlinks and settings may have changed);
    returns the spec with local paths resolved."""
    runtime, options = spec.runtime, spec.options
    locations = {}
    for side in ("source", "destination"):
        location = getattr(spec, side)
        try:
            if location.is_local:
                locations[side] = LocalLocation(
                    validate_local_path(location.path, runtime.local_roots)
                )
            else:
                validate_bucket(location.bucket)
                validate_prefix(
                    location.prefix, wildcards=side == "source" and options.source_wildcards
                )
                validate_endpoint_url(
                    location.endpoint.url,
                    allow_private=runtime.allow_private_networks,
                    require_resolution=True,
                )
                locations[side] = location
        except InvalidValue as exc:
            raise InvalidValue(f"The {side} is not acceptable: {exc}") from None
    checked = dataclasses.replace(spec, **locations)
    route_for(checked)  # refuses local -> local
    return checked


def clients_for(spec: TransferSpec) -> dict:
    """boto3 clients for the S3 sides; one shared by both when they are the same endpoint with
    the same credentials (a client costs tens of milliseconds to make: a small job's
    fixed cost), kept for the process's next runs (`transfers.engine.clients`). Give them
    back with `release_clients()`."""
    connections = max(10, min(spec.options.workers, spec.runtime.relay_max_objects) * 2)
    clients: dict = {}
    for side in ("source", "destination"):
        location = getattr(spec, side)
        if location.is_local:
            continue
        if "source" in clients and location.endpoint == spec.source.endpoint:
            clients[side] = clients["source"]
        else:
            clients[side] = kept_clients.borrow(location.endpoint, max_connections=connections)
    return clients


def release_clients(clients: dict) -> None:
    for client in {id(c): c for c in clients.values()}.values():
        kept_clients.give_back(client)


def plan_transfer(
    spec: TransferSpec,
    *,
    cancel: threading.Event | None = None,
    keep_decisions: bool = False,
    on_listed: Callable[[str, int], None] | None = None,
) -> Plan:
    """The object-level plan, without moving data (a preview: counts and samples, unless
    `keep_decisions`); `on_listed` follows the listings (see `build_plan`). Raises
    `EngineError`."""
    spec = check_spec(spec)
    clients = clients_for(spec)
    try:
        return build_plan(
            spec, clients, cancel=cancel, keep_decisions=keep_decisions, on_listed=on_listed
        )
    finally:
        release_clients(clients)


def iter_source(
    spec: TransferSpec,
    *,
    cancel: threading.Event | None = None,
    after: str = "",
    page_size: int = 1000,
) -> Iterator[Item]:
    """The source's objects in scope (filters, wildcard, retry keys, key range), in key order,
    from after `after`: what a job's cut into shards reads. Raises `EngineError`."""
    spec = check_spec(spec)
    base, scope = source_scope(spec, (after, None) if after else None)
    clients = {} if spec.source.is_local else clients_for(spec)
    try:
        yield from list_source(spec, clients, base, scope, cancel, page_size)
    finally:
        if clients:
            release_clients(clients)


def run_transfer(
    spec: TransferSpec,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cleanup_previous: bool = False,
    on_failure: Callable[[Failure], None] | None = None,
    source_items: Iterable[Item] | None = None,
) -> Result:
    """Run the transfer described by `spec`, reporting through `on_progress`.

    Set `cancel` to stop: s5cmd's process group is stopped, the run's incomplete multipart
    uploads are aborted, and the result is `cancelled`. `cleanup_previous` aborts incomplete
    uploads an earlier, dead attempt of the same job left for the keys this run copies.
    `on_failure` gets each object's failure as it happens (from any of the run's threads).
    `source_items`: the source's listing, already made (see `build_plan`).

    The result's manifest and failures are read from the run's spools on disk: read them
    before the result is dropped.
    """
    tracker = ProgressTracker(on_progress, interval=spec.runtime.progress_interval)
    tracker.run_ticker()
    run = _Run(spec, tracker, cancel or threading.Event(), Journal(on_failure=on_failure))
    run.source_items = source_items
    started = time.monotonic()
    try:
        result = run.execute(cleanup_previous=cleanup_previous)
    except EngineError as exc:
        result = run.result(Outcome.FAILED, error=str(exc))
    finally:
        run.close()
    result.elapsed_seconds = round(time.monotonic() - started, 3)
    phase = Phase.AWAITING_APPROVAL if result.outcome == Outcome.AWAITING_APPROVAL else Phase.DONE
    tracker.finish(phase)
    return result


class _Run:
    def __init__(
        self,
        spec: TransferSpec,
        tracker: ProgressTracker,
        cancel: threading.Event,
        journal: Journal,
    ):
        self.spec = spec
        self.tracker = tracker
        self.cancel = cancel
        self.plan: Plan | None = None
        # Keys whose copy or delete completed, and failures (for the manifest); on disk.
        self.journal = journal
        self.clients: dict = {}
        self.command = ""
        self.exit_code: int | None = None
        self.notes: list[str] = []  # what went wrong beyond single objects
        self.unverified = False
        self.budget: BufferBudget | None = None
        self.leftover = False  # copies the copy made while planning did not get to
        self.source_items: Iterable[Item] | None = None  # the source, listed already

    # --- the phases ---------------------------------------------------------------------------

    def execute(self, *, cleanup_previous: bool) -> Result:
        self.spec = spec = check_spec(self.spec)
        options = spec.options
        self.clients = clients_for(spec)
        self.tracker.set_phase(Phase.PLANNING)
        overlap = self._copies_while_planning(cleanup_previous=cleanup_previous)
        if overlap:
            self.plan = plan = self.plan_while_copying()
        else:
            self.plan = plan = build_plan(
                spec, self.clients, cancel=self.cancel, source_items=self.source_items
            )
            self._planned(plan)
        if self.cancel.is_set():
            return self.result(Outcome.CANCELLED)

        threshold = options.delete_threshold
        if threshold is not None and plan.objects_to_delete > threshold:
            return self.result(
                Outcome.AWAITING_APPROVAL,
                error=(
                    f"This mirror would delete {plan.objects_to_delete} objects, more than the "
                    f"profile's threshold of {threshold}: it waits for an operator's approval."
                ),
            )

        if cleanup_previous:
            self.abort_uploads()
        self.tracker.set_phase(Phase.COPYING)
        try:
            if not overlap:
                self.copy()
            elif self.leftover:
                # What the copy made while planning attempted (copied or failed), on disk.
                journal = self.journal
                attempted = KeySet(heapq.merge(journal.copied_keys(), journal.failed_keys()))
                try:
                    self.copy(lambda d: d.key not in attempted)
                finally:
                    attempted.close()
        finally:
            if self.cancel.is_set():
                self.tracker.set_phase(Phase.CLEANING_UP)
                self.abort_uploads(settle=True)
        if self.cancel.is_set():
            return self.result(Outcome.CANCELLED)

        if plan.objects_to_delete:
            self.tracker.set_phase(Phase.DELETING)
            self.delete()
            if self.cancel.is_set():
                return self.result(Outcome.CANCELLED)

        verification = None
        if options.verify_after:
            self.tracker.set_phase(Phase.VERIFYING)
            try:
                verification = self.verify()
            except TransferError as exc:
                # Unverified is not succeeded, but the copy's own report stays the headline.
                self.unverified = True
                self.notes.append(f"Verification could not run: {exc}")
                verification = {"error": str(exc)}
            if self.cancel.is_set():
                return self.result(Outcome.CANCELLED)
        return self.result(self.outcome(), verification=verification)

    def _planned(self, plan: Plan) -> None:
        """The plan is made (while the copy may still run): the totals are known, and the keys
        it rejected fail now, so they are recorded before the copy ends."""
        if self.cancel.is_set():
            return
        self.tracker.set_totals(
            objects=plan.objects_to_copy + plan.objects_rejected,
            bytes=plan.bytes_to_copy,
            skipped=plan.unchanged,
        )
        for decision in plan.decisions(REJECT):
            self.fail(decision.key, "copy", decision.reason)

    def _copies_while_planning(self, *, cleanup_previous: bool) -> bool:
        """Whether the copy can start while the plan is being made: not when a mirror may
        have to stop for approval before anything is written (its delete count is known only
        at the end), nor when an earlier attempt's uploads are to be cleaned up first."""
        options = self.spec.options
        waits_for_approval = options.mode == "mirror" and options.delete_threshold is not None
        return not (waits_for_approval or cleanup_previous)

    def plan_while_copying(self) -> Plan:
        """Plan in a helper thread while this one copies what the plan decides to copy, as it
        is decided: a big job's listing and copy overlap, and its first object is copied
        seconds after it starts. Deletes still wait for the whole plan (and the copy).

        Returns the final plan. When the plan was made again (a listing turned out to be out
        of order, and was sorted on disk) the copy may have stopped short of it: `leftover`
        says so, for the copy phase to finish what was not attempted."""
        followed: list = []  # the first attempt's plan and spool, which the copy reads
        started = threading.Event()
        outcome: dict = {}

        def on_attempt(plan: Plan) -> None:
            if not followed:
                followed[:] = [plan, plan.spool]
                self.plan = plan
            started.set()

        def planner() -> None:
            try:
                outcome["plan"] = build_plan(
                    self.spec,
                    self.clients,
                    cancel=self.cancel,
                    on_attempt=on_attempt,
                    source_items=self.source_items,
                )
                self._planned(outcome["plan"])
            except BaseException as exc:  # raised in this thread below
                outcome["error"] = exc
            finally:
                started.set()

        thread = threading.Thread(target=planner, name="planning", daemon=True)
        thread.start()
        started.wait()
        try:
            if followed:
                self.copy()
        finally:
            thread.join()
            if self.cancel.is_set():
                self.tracker.set_phase(Phase.CLEANING_UP)
                self.abort_uploads(settle=True)
        if "error" in outcome:
            raise outcome["error"]
        plan = outcome["plan"]
        self.leftover = [plan, plan.spool] != followed
        return plan

    def copy(self, keep: Callable[[Decision], bool] | None = None) -> None:
        """Copy the plan's copies (those `keep` keeps), by route."""

        def copies() -> Iterator[Decision]:
            decisions = self.plan.decisions(COPY)
            if keep is not None:
                decisions = filter(keep, decisions)
            # While the plan is still being made, the copy begins with its first object.
            first = next(decisions, None)
            if first is not None:
                self.tracker.set_phase(Phase.COPYING)
                yield first
                yield from decisions

        route = self.plan.route
        if route is Route.RELAY:
            copy_by_relay(self, copies())
        elif route is Route.SERVER_SIDE:
            if copy_small_plan(self, copies):  # a few objects: not worth starting s5cmd
                return

            # Two readers of the plan's copies, each taking its own share as it goes.
            def awkward():
                return (d for d in copies() if not batchable(self, d))

            helper = threading.Thread(
                target=self._guarded,
                args=(lambda decisions: copy_server_side(self, decisions), awkward),
                name="server-copy",
            )
            helper.start()
            try:
                copy_with_s5cmd(self, (d for d in copies() if batchable(self, d)))
            finally:
                helper.join()
        else:
            copy_with_s5cmd(self, copies())

    def _guarded(self, work, decisions) -> None:
        try:
            work(decisions())
        except Exception as exc:
            for decision in decisions():
                self.fail(decision.key, "copy", str(exc))

    def delete(self) -> None:
        spec, plan = self.spec, self.plan
        destination = spec.destination
        if destination.is_local:
            for key in plan.keys(DELETE):
                if self.cancel.is_set():
                    return
                target = safe_local_target(destination.path, key)
                try:
                    if target is None:
                        raise OSError("the path is not safely inside the destination directory")
                    os.unlink(target)
                    self.journal.deleted([key])
                    self.tracker.add(deleted=1)
                except OSError as exc:
                    self.fail(key, "delete", exc.strerror or str(exc))
            return

        def on_deleted(full_keys: list[str]) -> None:
            self.journal.deleted([key[len(destination.prefix) :] for key in full_keys])
            self.tracker.add(deleted=len(full_keys))

        failures = delete_objects(
            self.clients["destination"],
            destination.bucket,
            (destination.prefix + key for key in plan.keys(DELETE)),
            cancel=self.cancel,
            on_deleted=on_deleted,
            endpoint=destination.endpoint,
        )
        for full_key, error in failures.items():
            self.fail(full_key[len(destination.prefix) :], "delete", error)

    def verify(self) -> dict:
        plan = self.plan
        fresh = destination_listing(self.spec, self.clients, plan.scope, self.cancel)
        verification = verify_plan(
            plan.decisions,
            fresh,
            failed=self.journal.failed_keys,
            on_mismatch=lambda key, problem: self.fail(key, "verify", problem),
        )
        return verification.as_dict()

    def abort_uploads(self, *, settle: bool = False) -> None:
        """Abort incomplete multipart uploads of this run's keys (after a cancel or a crash).

        With `settle` (right after stopping our own writers), look again a second later until
        two passes in a row find nothing: a CreateMultipartUpload sent just before s5cmd was
        killed can still be completed by a busy server after the first listing."""
        destination = self.spec.destination
        if destination.is_local or self.plan is None or not self.plan.objects_to_copy:
            return
        aborted = quiet = 0
        try:
            for attempt in range(ABORT_PASSES if settle else 1):
                if attempt:
                    time.sleep(ABORT_SETTLE_SECONDS)
                found = abort_incomplete_uploads(
                    self.clients["destination"],
                    destination.bucket,
                    destination.prefix,
                    (destination.prefix + key for key in self.plan.keys(COPY)),
                )
                aborted += found
                quiet = 0 if found else quiet + 1
                if attempt and quiet >= 2:
                    break
        except (BotoCoreError, ClientError) as exc:
            self.notes.append(
                "Could not abort incomplete uploads: " + describe_error(exc, destination.endpoint)
            )
            return
        if aborted:
            logger.info("aborted %d incomplete multipart uploads", aborted)

    # --- bookkeeping --------------------------------------------------------------------------

    def fail(self, key: str, operation: str, error: str) -> None:
        # Each (key, operation) fails once: a key is copied, deleted or verified by one path.
        self.journal.failed(key, operation, error)
        self.tracker.add(failed=1)

    def outcome(self) -> str:
        if self.cancel.is_set():
            return Outcome.CANCELLED
        # Per-object evidence decides, never s5cmd's exit status or stray output alone.
        failed = self.journal.failures_by_operation
        if not failed:
            return Outcome.PARTIAL if self.unverified else Outcome.SUCCEEDED
        if "verify" in failed:
            # A mismatch is found in what the run copied or left unchanged as up to date:
            # the run did its work, and some of it did not verify.
            return Outcome.PARTIAL
        tracker = self.tracker
        if tracker.objects_done == 0 and tracker.objects_deleted == 0:
            return Outcome.FAILED
        return Outcome.PARTIAL

    def result(self, outcome: str, *, error: str = "", verification: dict | None = None) -> Result:
        tracker, plan = self.tracker, self.plan
        if not error and outcome in (Outcome.FAILED, Outcome.PARTIAL):
            error = self._summary()
        return Result(
            outcome=outcome,
            error=error,
            plan=plan.summary() if plan is not None else None,
            objects_total=tracker.objects_total or 0,
            bytes_total=tracker.bytes_total or 0,
            objects_done=tracker.objects_done,
            bytes_done=tracker.bytes_done,
            objects_skipped=tracker.objects_skipped,
            objects_failed=self.journal.failure_count,
            objects_deleted=tracker.objects_deleted,
            failures=_Recorded(self.journal.failures),
            verification=verification,
            command=self.command,
            exit_code=self.exit_code,
            buffer_peak_bytes=self.budget.peak if self.budget is not None else 0,
            manifest=self.manifest(),
        )

    def manifest(self) -> Manifest | None:
        plan = self.plan
        if plan is None:
            return None
        return Manifest(plan=plan, journal=self.journal)

    def _summary(self) -> str:
        parts = []
        journal = self.journal
        first = journal.first_failure
        if first is not None:
            counts = journal.failures_by_operation
            described = ", ".join(f"{n} to {op}" for op, n in counts.items())
            parts.append(
                f"{journal.failure_count} object(s) failed ({described}); "
                f"first: {first.key}: {first.error}"
            )
        parts += list(dict.fromkeys(self.notes))[:10]
        return " ".join(parts)[:4000]

    def close(self) -> None:
        release_clients(self.clients)


class _Recorded:
    """Iterable again and again: each pass reads the spool from its start."""

    def __init__(self, read: Callable[[], Iterator[Failure]]):
        self._read = read

    def __iter__(self) -> Iterator[Failure]:
        return self._read()


def _exists(client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def sweep_uploads(spec: TransferSpec) -> int:
    """Abort incomplete multipart uploads at the destination whose key is one the source
    holds: what a stopped run's requests still in flight created after its own abort passes.
    Returns how many were aborted."""
    spec = check_spec(spec)
    source, destination = spec.source, spec.destination
    if destination.is_local:
        return 0
    clients = clients_for(spec)
    try:
        uploads = list_incomplete_uploads(
            clients["destination"], destination.bucket, destination.prefix
        )
        if not uploads:
            return 0
        if source.is_local:
            ours = {
                key
                for key, _ in uploads
                if os.path.isfile(safe_local_target(source.path, key) or "")
            }
        else:
            base = source.prefix
            if spec.options.source_wildcards:
                base = split_wildcard_prefix(base)[0]
            # One HEAD per incomplete upload (a handful), never a listing of the source.
            ours = {
                key
                for key in {key for key, _ in uploads}
                if _exists(clients["source"], source.bucket, base + key)
            }
        aborted = 0
        for key, upload_id in uploads:
            if key in ours:
                clients["destination"].abort_multipart_upload(
                    Bucket=destination.bucket, Key=destination.prefix + key, UploadId=upload_id
                )
                aborted += 1
        return aborted
    except (BotoCoreError, ClientError) as exc:
        raise TransferError(
            "Could not abort incomplete uploads: " + describe_error(exc, destination.endpoint)
        ) from None
    finally:
        release_clients(clients)


__all__ = [
    "Failure",
    "Outcome",
    "Result",
    "TransferError",
    "iter_source",
    "plan_transfer",
    "run_transfer",
    "sweep_uploads",
]
