"""The routes the engine copies object by object in threads of its own, through boto3:
server-side CopyObject / UploadPartCopy within one endpoint (for what s5cmd copies badly),
and the streamed relay between two endpoints.

`run` is the runner's `_Run`: its spec, plan, clients, cancel event, tracker and journal, and
`fail()`; this module only reads and reports through it (and names the relay's command).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine.locations import describe_error
from transfers.engine.parallel import for_each
from transfers.engine.planning import Decision
from transfers.engine.relay import BufferBudget, Relay
from transfers.engine.s3ops import server_side_copy
from transfers.engine.spec import MiB

if TYPE_CHECKING:
    from transfers.engine.runner import _Run


def batchable(run: _Run, decision: Decision) -> bool:
    """Whether s5cmd can server-side copy this key. Not: objects over the CopyObject limit
    (#29), 'folder' keys ending in '/', keys with spaces (s5cmd form-encodes them in the
    copy source, which some services read back as '+'), line breaks, or '.'/'..'/''
    segments (URL cleaning). Those go through CopyObject/UploadPartCopy here."""
    key = decision.key
    if decision.size > run.spec.runtime.multipart_copy_threshold:
        return False
    if key.endswith("/") or any(c in key for c in " \n\r"):
        return False
    return not any(s in ("", ".", "..") for s in key.split("/"))


def _copy_object(run: _Run, decision: Decision, on_bytes: Callable[[int], None]) -> None:
    """CopyObject (or UploadPartCopy for a big object) of one planned copy, within the source's
    endpoint. Raises what boto3 raises."""
    spec, options = run.spec, run.spec.options
    server_side_copy(
        run.clients["source"],
        source_bucket=spec.source.bucket,
        source_key=run.plan.source_base + decision.key,
        destination_bucket=spec.destination.bucket,
        destination_key=spec.destination.prefix + decision.key,
        size=decision.size,
        part_size=options.part_size_mb * MiB,
        concurrency=options.concurrency,
        storage_class=options.storage_class,
        threshold=spec.runtime.multipart_copy_threshold,
        cancel=run.cancel,
        on_bytes=on_bytes,
    )


def copy_server_side(run: _Run, decisions: Iterable[Decision]) -> None:
    def copy_one(decision: Decision) -> None:
        _copy_object(run, decision, lambda n: run.tracker.add(bytes=n))
        run.journal.copied(decision.key)
        run.tracker.add(objects=1)

    threads = min(run.spec.options.workers, 8)
    copy_each(run, decisions, copy_one, threads=threads, endpoint=run.spec.source.endpoint)


def copy_small_plan(run: _Run, copies: Callable[[], Iterator[Decision]]) -> bool:
    """Copy a server-side plan of at most `runtime.small_plan_objects` copies with CopyObject,
    one thread per object, without starting s5cmd; False (nothing done) for a bigger plan.

    Starting s5cmd costs tens of milliseconds before its first request (measured: a one-object
    `s5cmd run` 67 ms, CopyObject through the run's client 16 ms), most of a one-object job's
    copy. `copies()` reads the plan's copies afresh; this waits for the plan to decide
    more than the limit, or to end. A cancel stops waiting for the copies still in flight, as
    stopping s5cmd would: what they do after it is not recorded."""
    limit = run.spec.runtime.small_plan_objects
    if limit <= 0:
        return False
    decisions = copies()
    try:
        few = list(itertools.islice(decisions, limit + 1))
    finally:
        decisions.close()
    if len(few) > limit:
        return False
    spec = run.spec
    run.command = (
        f"CopyObject {spec.source.display} -> {spec.destination.display} "
        f"({len(few)} object(s), no s5cmd)"
    )
    lock = threading.Lock()
    waiting = [True]

    def report(record: Callable[[], None]) -> None:
        with lock:
            if waiting[0]:
                record()

    def copy_one(decision: Decision) -> None:
        key = decision.key
        try:
            _copy_object(run, decision, lambda n: report(lambda: run.tracker.add(bytes=n)))
        except Exception as exc:
            if run.cancel.is_set():
                return  # what broke off is the cancel's doing, not the object's
            if isinstance(exc, (BotoCoreError, ClientError)):
                error = describe_error(exc, spec.source.endpoint)
            else:
                error = str(exc) or exc.__class__.__name__
            report(lambda: run.fail(key, "copy", error))
            return

        def copied() -> None:
            run.journal.copied(key)
            run.tracker.add(objects=1)

        report(copied)

    threads = [
        threading.Thread(target=copy_one, args=(d,), name="small-copy", daemon=True) for d in few
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive() and not run.cancel.is_set():
                thread.join(0.1)
    finally:
        with lock:
            waiting[0] = False
    return True


def copy_by_relay(run: _Run, decisions: Iterable[Decision]) -> None:
    spec, plan = run.spec, run.plan
    options, runtime = spec.options, spec.runtime
    objects = max(1, min(options.workers, runtime.relay_max_objects))
    relay = Relay(
        spec.source,
        spec.destination,
        run.clients["source"],
        run.clients["destination"],
        source_base=plan.source_base,
        part_size=options.part_size_mb * MiB,
        concurrency=options.concurrency,
        storage_class=options.storage_class,
        budget=BufferBudget(runtime.relay_buffer_bytes),
        part_threads=max(2, min(32, objects * options.concurrency)),
        cancel=run.cancel,
        on_bytes=lambda n: run.tracker.add(bytes=n),
    )
    run.command = (
        f"relay {spec.source.display} -> {spec.destination.display} "
        f"({objects} objects at a time, {runtime.relay_buffer_bytes // MiB} MiB of buffers)"
    )
    run.budget = relay.budget

    def copy_one(decision: Decision) -> None:
        relay.copy(decision.key)
        run.journal.copied(decision.key)
        run.tracker.add(objects=1)

    try:
        copy_each(run, decisions, copy_one, threads=objects, endpoint=None)
    finally:
        relay.close()


def copy_each(run: _Run, decisions, work, *, threads: int, endpoint) -> None:
    def describe(exc: BaseException) -> str:
        if isinstance(exc, (BotoCoreError, ClientError)):
            return describe_error(exc, endpoint)
        return str(exc) or exc.__class__.__name__

    failures = for_each(
        decisions, work, threads=max(1, threads), cancel=run.cancel, describe=describe
    )
    if run.cancel.is_set():
        return  # what broke off is the cancel's doing, not the objects'
    for decision, error in failures.items():
        run.fail(decision.key, "copy", error)
