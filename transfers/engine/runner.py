"""A run: validate again, plan, maybe stop for approval, copy by route, delete, verify.

`run_transfer()` never raises for a failure of the transfer itself: it returns a `Result`
whose outcome and error say what happened. It raises only for bugs.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine.errors import EngineError, InvalidValue, TransferError
from transfers.engine.filters import split_wildcard_prefix
from transfers.engine.listing import ObjectInfo, local_md5
from transfers.engine.locations import LocalLocation, describe_error, describe_s5cmd_error
from transfers.engine.manifest import Manifest
from transfers.engine.parallel import for_each
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
    route_for,
)
from transfers.engine.progress import Phase, ProgressCallback, ProgressTracker
from transfers.engine.relay import BufferBudget, Relay
from transfers.engine.s3ops import (
    abort_incomplete_uploads,
    delete_objects,
    list_incomplete_uploads,
    server_side_copy,
)
from transfers.engine.s5cmd import S5cmdBatch, arguments_of, command_line, find_s5cmd
from transfers.engine.spec import MiB, TransferSpec
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


@dataclass(frozen=True)
class Failure:
    key: str
    operation: str  # copy | delete | verify
    error: str


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
    failures: list[Failure] = field(default_factory=list)
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
    connections = max(10, min(spec.options.workers, spec.runtime.relay_max_objects) * 2)
    return {
        side: getattr(spec, side).endpoint.client(max_connections=connections)
        for side in ("source", "destination")
        if not getattr(spec, side).is_local
    }


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
    return build_plan(
        spec,
        clients_for(spec),
        cancel=cancel,
        keep_decisions=keep_decisions,
        on_listed=on_listed,
    )


def run_transfer(
    spec: TransferSpec,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cleanup_previous: bool = False,
) -> Result:
    """Run the transfer described by `spec`, reporting through `on_progress`.

    Set `cancel` to stop: s5cmd's process group is stopped, the run's incomplete multipart
    uploads are aborted, and the result is `cancelled`. `cleanup_previous` aborts incomplete
    uploads an earlier, dead attempt of the same job left for the keys this run copies.
    """
    tracker = ProgressTracker(on_progress, interval=spec.runtime.progress_interval)
    tracker.run_ticker()
    run = _Run(spec, tracker, cancel or threading.Event())
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
    def __init__(self, spec: TransferSpec, tracker: ProgressTracker, cancel: threading.Event):
        self.spec = spec
        self.tracker = tracker
        self.cancel = cancel
        self.plan: Plan | None = None
        self.failures: dict[tuple[str, str], str] = {}
        # Keys whose copy or delete completed (for the manifest); sets, added to from threads.
        self.copied: set[str] = set()
        self.deleted: set[str] = set()
        self.clients: dict = {}
        self.command = ""
        self.exit_code: int | None = None
        self.notes: list[str] = []  # what went wrong beyond single objects
        self.unverified = False
        self.budget: BufferBudget | None = None

    # --- the phases ---------------------------------------------------------------------------

    def execute(self, *, cleanup_previous: bool) -> Result:
        self.spec = spec = check_spec(self.spec)
        options = spec.options
        self.clients = clients_for(spec)
        self.tracker.set_phase(Phase.PLANNING)
        self.plan = plan = build_plan(spec, self.clients, cancel=self.cancel)
        if self.cancel.is_set():
            return self.result(Outcome.CANCELLED)
        self.tracker.set_totals(
            objects=plan.objects_to_copy + plan.objects_rejected,
            bytes=plan.bytes_to_copy,
            skipped=plan.unchanged,
        )
        for decision in plan.decisions(REJECT):
            self.fail(decision.key, "copy", decision.reason)

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
            self.copy()
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

    def copy(self) -> None:
        route = self.plan.route
        if route is Route.RELAY:
            self.copy_by_relay()
        elif route is Route.SERVER_SIDE:
            # Two readers of the plan's copies, each taking its own share as it goes.
            def awkward():
                return (d for d in self.plan.decisions(COPY) if not self._batchable(d))

            helper = threading.Thread(
                target=self._guarded, args=(self.copy_server_side, awkward), name="server-copy"
            )
            helper.start()
            try:
                self.copy_with_s5cmd(d for d in self.plan.decisions(COPY) if self._batchable(d))
            finally:
                helper.join()
        else:
            self.copy_with_s5cmd(self.plan.decisions(COPY))

    def _guarded(self, work, decisions) -> None:
        try:
            work(decisions())
        except Exception as exc:
            for decision in decisions():
                self.fail(decision.key, "copy", str(exc))

    def _batchable(self, decision: Decision) -> bool:
        """Whether s5cmd can server-side copy this key. Not: objects over the CopyObject limit
        (#29), 'folder' keys ending in '/', keys with spaces (s5cmd form-encodes them in the
        copy source, which some services read back as '+'), line breaks, or '.'/'..'/''
        segments (URL cleaning). Those go through CopyObject/UploadPartCopy here."""
        key = decision.key
        if decision.size > self.spec.runtime.multipart_copy_threshold:
            return False
        if key.endswith("/") or any(c in key for c in " \n\r"):
            return False
        return not any(s in ("", ".", "..") for s in key.split("/"))

    def copy_with_s5cmd(self, decisions: Iterable[Decision]) -> None:
        decisions = iter(decisions)
        first = next(decisions, None)
        if first is None:
            return
        decisions = itertools.chain([first], decisions)
        spec, plan = self.spec, self.plan
        source, destination = spec.source, spec.destination
        options = spec.options
        flags = ["--raw"]
        if plan.route in (Route.UPLOAD, Route.DOWNLOAD):
            flags += [f"--concurrency={options.concurrency}", f"--part-size={options.part_size_mb}"]
        if options.storage_class and not destination.is_local:
            flags.append(f"--storage-class={options.storage_class}")

        # The lines s5cmd was given and has not reported on, by destination and by arguments
        # (to read its answers). Lines are made as s5cmd reads them (a full pipe holds the
        # feeder back), so these stay as small as s5cmd's backlog, not the plan's size.
        by_destination: dict[str, Decision] = {}
        by_arguments: dict[str, str] = {}
        errors: dict[str, str] = {}
        lock = threading.Lock()
        stopped = threading.Event()

        def on_success(message: dict) -> None:
            with lock:
                decision = by_destination.pop(message.get("destination", ""), None)
                if decision is None:
                    return
                key = decision.key
                by_arguments.pop(f"{self._source_ref(key)} {self._destination_ref(key)}", None)
                errors.pop(key, None)
            self.copied.add(key)
            self.tracker.add(objects=1, bytes=decision.size)

        endpoint = destination.endpoint if source.is_local else source.endpoint
        # The bucket errors are about; a server-side copy touches two, so name none there.
        bucket = {Route.UPLOAD: destination, Route.DOWNLOAD: source}.get(plan.route)
        bucket = bucket.bucket if bucket is not None else ""

        def on_error(message: dict) -> bool:
            key = by_arguments.get(arguments_of(str(message.get("command", ""))) or "")
            if key is None:
                return False
            error = describe_s5cmd_error(str(message.get("error", "failed")), endpoint, bucket)
            with lock:
                errors[key] = error
            return True

        def lines() -> Iterator[str]:
            while True:
                with lock:  # the feeder's thread and, once s5cmd is gone, this one
                    decision = None if stopped.is_set() else next(decisions, None)
                    if decision is None:
                        return
                    src, dst = self._source_ref(decision.key), self._destination_ref(decision.key)
                    by_destination[dst] = decision
                    by_arguments[f"{src} {dst}"] = decision.key
                yield command_line("cp", src, dst, flags=flags)

        batch = S5cmdBatch(
            find_s5cmd(spec.runtime.s5cmd_path),
            endpoint,
            workers=options.workers,
            kill_grace=spec.runtime.kill_grace_seconds,
        )
        if destination.is_local:
            os.makedirs(destination.path, exist_ok=True)
        started = time.time()
        outcome = batch.run(lines(), on_success=on_success, on_error=on_error, cancel=self.cancel)
        with lock:
            stopped.set()
        self.command, self.exit_code = outcome.command, outcome.exit_code
        general = [describe_s5cmd_error(line, endpoint, bucket) for line in outcome.general_errors]
        general += [f"s5cmd: {line}" for line in outcome.noise]
        self.notes += general
        if outcome.cancelled:
            return
        unexplained = "; ".join(general)[:500]
        # s5cmd can die (killed, out of memory) between an object landing and its success
        # line: look at the destination before calling an unreported object failed. Lines it
        # was never given (it stopped early) cannot have landed.
        given = [d for d in by_destination.values() if d.key not in errors]
        intact = self._arrived_intact(given, since=started)
        for decision in given:
            if decision.key in intact:
                self.copied.add(decision.key)
                self.tracker.add(objects=1, bytes=decision.size)
        unreported = itertools.chain(
            (d for d in by_destination.values() if d.key not in intact), decisions
        )
        for key in (decision.key for decision in unreported):
            error = errors.get(key) or (
                f"s5cmd reported no result for this object (exit status {outcome.exit_code}"
                + (f": {unexplained}" if unexplained else "")
                + ")"
            )
            self.fail(key, "copy", error)

    def _arrived_intact(self, decisions: list[Decision], *, since: float) -> set[str]:
        """The keys whose object is at the destination as verification would accept it: the
        source's size, and its MD5 where both sides have one; where they don't, written since
        the copy began (so not the object the plan found there)."""
        if not decisions:
            return set()
        destination = self.spec.destination
        found: dict[str, ObjectInfo] = {}
        lock = threading.Lock()

        def look(decision: Decision) -> None:
            key = decision.key
            if destination.is_local:
                target = safe_local_target(destination.path, key)
                try:
                    stat = os.stat(target) if target else None
                except FileNotFoundError:
                    stat = None
                info = stat and ObjectInfo(size=stat.st_size, mtime=stat.st_mtime)
                if info and decision.md5 and info.size == decision.size:
                    info.etag = local_md5(target)
            else:
                try:
                    head = self.clients["destination"].head_object(
                        Bucket=destination.bucket, Key=destination.prefix + key
                    )
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                        return
                    raise
                info = ObjectInfo(
                    size=head["ContentLength"],
                    etag=head.get("ETag", "").strip('"'),
                    mtime=head["LastModified"].timestamp(),
                )
            if info:
                with lock:
                    found[key] = info

        unknown = for_each(
            decisions,
            look,
            threads=8,
            cancel=self.cancel,
            describe=lambda exc: str(exc),
            name="reconcile",
        )
        if unknown:
            logger.info("could not look up %d unreported objects at the destination", len(unknown))
        # S3 keeps whole seconds; a second more allows for the server's clock.
        written_since = int(since) - 1
        intact = set()
        for decision in decisions:
            info = found.get(decision.key)
            if info is None or info.size != decision.size:
                continue
            if decision.md5 and info.md5:
                if decision.md5 == info.md5:
                    intact.add(decision.key)
            elif info.mtime >= written_since:
                intact.add(decision.key)
        return intact

    def copy_server_side(self, decisions: Iterable[Decision]) -> None:
        spec, plan = self.spec, self.plan
        client = self.clients["source"]
        options = spec.options

        def copy_one(decision: Decision) -> None:
            key = decision.key
            server_side_copy(
                client,
                source_bucket=spec.source.bucket,
                source_key=plan.source_base + key,
                destination_bucket=spec.destination.bucket,
                destination_key=spec.destination.prefix + key,
                size=decision.size,
                part_size=options.part_size_mb * MiB,
                concurrency=options.concurrency,
                storage_class=options.storage_class,
                threshold=spec.runtime.multipart_copy_threshold,
                cancel=self.cancel,
                on_bytes=lambda n: self.tracker.add(bytes=n),
            )
            self.copied.add(key)
            self.tracker.add(objects=1)

        self._each(
            decisions, copy_one, threads=min(options.workers, 8), endpoint=spec.source.endpoint
        )

    def copy_by_relay(self) -> None:
        spec, plan = self.spec, self.plan
        options, runtime = spec.options, spec.runtime
        objects = max(1, min(options.workers, runtime.relay_max_objects))
        relay = Relay(
            spec.source,
            spec.destination,
            self.clients["source"],
            self.clients["destination"],
            source_base=plan.source_base,
            part_size=options.part_size_mb * MiB,
            concurrency=options.concurrency,
            storage_class=options.storage_class,
            budget=BufferBudget(runtime.relay_buffer_bytes),
            part_threads=max(2, min(32, objects * options.concurrency)),
            cancel=self.cancel,
            on_bytes=lambda n: self.tracker.add(bytes=n),
        )
        self.command = (
            f"relay {spec.source.display} -> {spec.destination.display} "
            f"({objects} objects at a time, {runtime.relay_buffer_bytes // MiB} MiB of buffers)"
        )
        self.budget = relay.budget

        def copy_one(decision: Decision) -> None:
            relay.copy(decision.key)
            self.copied.add(decision.key)
            self.tracker.add(objects=1)

        try:
            self._each(plan.decisions(COPY), copy_one, threads=objects, endpoint=None)
        finally:
            relay.close()

    def _each(self, decisions, work, *, threads: int, endpoint) -> None:
        def describe(exc: BaseException) -> str:
            if isinstance(exc, (BotoCoreError, ClientError)):
                return describe_error(exc, endpoint)
            return str(exc) or exc.__class__.__name__

        failures = for_each(
            decisions, work, threads=max(1, threads), cancel=self.cancel, describe=describe
        )
        if self.cancel.is_set():
            return  # what broke off is the cancel's doing, not the objects'
        for decision, error in failures.items():
            self.fail(decision.key, "copy", error)

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
                    self.deleted.add(key)
                    self.tracker.add(deleted=1)
                except OSError as exc:
                    self.fail(key, "delete", exc.strerror or str(exc))
            return

        def on_deleted(full_keys: list[str]) -> None:
            self.deleted.update(key[len(destination.prefix) :] for key in full_keys)
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
        failed = {key for key, _ in self.failures}
        verification = verify_plan(plan.decisions, fresh, failed=failed)
        for key, problem in verification.mismatches.items():
            self.fail(key, "verify", problem)
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

    def _source_ref(self, key: str) -> str:
        source = self.spec.source
        if source.is_local:
            return os.path.join(source.path, *key.split("/"))
        return f"s3://{source.bucket}/{self.plan.source_base}{key}"

    def _destination_ref(self, key: str) -> str:
        destination = self.spec.destination
        if destination.is_local:
            return safe_local_target(destination.path, key) or ""
        return destination.url(key)

    def fail(self, key: str, operation: str, error: str) -> None:
        if (key, operation) not in self.failures:
            self.failures[(key, operation)] = error
            self.tracker.add(failed=1)

    def outcome(self) -> str:
        if self.cancel.is_set():
            return Outcome.CANCELLED
        # Per-object evidence decides, never s5cmd's exit status or stray output alone.
        if not self.failures:
            return Outcome.PARTIAL if self.unverified else Outcome.SUCCEEDED
        if any(operation == "verify" for _key, operation in self.failures):
            # A mismatch is found in what the run copied or left unchanged as up to date:
            # the run did its work, and some of it did not verify.
            return Outcome.PARTIAL
        tracker = self.tracker
        if tracker.objects_done == 0 and tracker.objects_deleted == 0:
            return Outcome.FAILED
        return Outcome.PARTIAL

    def result(self, outcome: str, *, error: str = "", verification: dict | None = None) -> Result:
        tracker, plan = self.tracker, self.plan
        failures = [Failure(k, op, e) for (k, op), e in self.failures.items()]
        if not error and outcome in (Outcome.FAILED, Outcome.PARTIAL):
            error = self._summary(failures)
        return Result(
            outcome=outcome,
            error=error,
            plan=plan.summary() if plan is not None else None,
            objects_total=tracker.objects_total or 0,
            bytes_total=tracker.bytes_total or 0,
            objects_done=tracker.objects_done,
            bytes_done=tracker.bytes_done,
            objects_skipped=tracker.objects_skipped,
            objects_failed=len(failures),
            objects_deleted=tracker.objects_deleted,
            failures=failures,
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
        return Manifest(
            plan=plan,
            copied=self.copied,
            deleted=self.deleted,
            failures=self.failures,
        )

    def _summary(self, failures: list[Failure]) -> str:
        parts = []
        if failures:
            first = failures[0]
            counts = {}
            for failure in failures:
                counts[failure.operation] = counts.get(failure.operation, 0) + 1
            described = ", ".join(f"{n} to {op}" for op, n in counts.items())
            parts.append(
                f"{len(failures)} object(s) failed ({described}); first: {first.key}: {first.error}"
            )
        parts += list(dict.fromkeys(self.notes))[:10]
        return " ".join(parts)[:4000]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


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
        for client in clients.values():
            client.close()


__all__ = [
    "Failure",
    "Outcome",
    "Result",
    "TransferError",
    "plan_transfer",
    "run_transfer",
    "sweep_uploads",
]
