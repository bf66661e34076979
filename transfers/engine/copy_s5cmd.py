"""The s5cmd route: `s5cmd run` fed one `cp` line per object as it reads them (uploads,
downloads, and the server-side copies s5cmd handles well), its JSON answers matched back to the
objects, and what it never reported on looked up at the destination before it counts as failed.

`run` is the runner's `_Run`: its spec, plan, clients, cancel event, tracker and journal, and
`fail()`; this module only reads and reports through it.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from transfers.engine.listing import ObjectInfo, local_md5
from transfers.engine.locations import describe_s5cmd_error
from transfers.engine.parallel import for_each
from transfers.engine.planning import Decision, Route
from transfers.engine.s5cmd import S5cmdBatch, arguments_of, command_line, find_s5cmd
from transfers.engine.validation import safe_local_target

if TYPE_CHECKING:
    from transfers.engine.runner import _Run

logger = logging.getLogger(__name__)


def copy_with_s5cmd(run: _Run, decisions: Iterable[Decision]) -> None:
    decisions = iter(decisions)
    first = next(decisions, None)
    if first is None:
        return
    decisions = itertools.chain([first], decisions)
    spec, plan = run.spec, run.plan
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
            by_arguments.pop(f"{source_ref(run, key)} {destination_ref(run, key)}", None)
            errors.pop(key, None)
        run.journal.copied(key)
        run.tracker.add(objects=1, bytes=decision.size)

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
                src, dst = source_ref(run, decision.key), destination_ref(run, decision.key)
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
    outcome = batch.run(lines(), on_success=on_success, on_error=on_error, cancel=run.cancel)
    with lock:
        stopped.set()
    run.command, run.exit_code = outcome.command, outcome.exit_code
    general = [describe_s5cmd_error(line, endpoint, bucket) for line in outcome.general_errors]
    general += [f"s5cmd: {line}" for line in outcome.noise]
    run.notes += general
    if outcome.cancelled:
        return
    unexplained = "; ".join(general)[:500]
    # s5cmd can die (killed, out of memory) between an object landing and its success
    # line: look at the destination before calling an unreported object failed. Lines it
    # was never given (it stopped early) cannot have landed.
    given = [d for d in by_destination.values() if d.key not in errors]
    intact = arrived_intact(run, given, since=started)
    for decision in given:
        if decision.key in intact:
            run.journal.copied(decision.key)
            run.tracker.add(objects=1, bytes=decision.size)
    unreported = itertools.chain(
        (d for d in by_destination.values() if d.key not in intact), decisions
    )
    for key in (decision.key for decision in unreported):
        error = errors.get(key) or (
            f"s5cmd reported no result for this object (exit status {outcome.exit_code}"
            + (f": {unexplained}" if unexplained else "")
            + ")"
        )
        run.fail(key, "copy", error)


def arrived_intact(run: _Run, decisions: list[Decision], *, since: float) -> set[str]:
    """The keys whose object is at the destination as verification would accept it: the
    source's size, and its MD5 where both sides have one; where they don't, written since
    the copy began (so not the object the plan found there)."""
    if not decisions:
        return set()
    destination = run.spec.destination
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
                head = run.clients["destination"].head_object(
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
        cancel=run.cancel,
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


def source_ref(run: _Run, key: str) -> str:
    source = run.spec.source
    if source.is_local:
        return os.path.join(source.path, *key.split("/"))
    return f"s3://{source.bucket}/{run.plan.source_base}{key}"


def destination_ref(run: _Run, key: str) -> str:
    destination = run.spec.destination
    if destination.is_local:
        return safe_local_target(destination.path, key) or ""
    return destination.url(key)
