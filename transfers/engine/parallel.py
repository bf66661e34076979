"""Run a function over many keys on a few threads, without queueing them all at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor


def for_each(
    keys: Iterable[str],
    work: Callable[[str], None],
    *,
    threads: int,
    cancel: threading.Event,
    describe: Callable[[BaseException], str],
    name: str = "transfer",
) -> dict[str, str]:
    """Call `work(key)` for each key; return key -> readable error for those that raised.

    At most twice `threads` keys are queued at a time (a listing may hold millions); keys not
    started when `cancel` is set are skipped.
    """
    failures: dict[str, str] = {}
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(2 * threads)

    def run(key: str) -> None:
        try:
            if not cancel.is_set():
                work(key)
        except BaseException as exc:
            with lock:
                failures[key] = describe(exc)
        finally:
            slots.release()

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name) as pool:
        for key in keys:
            while not slots.acquire(timeout=0.2):
                if cancel.is_set():
                    break
            else:
                pool.submit(run, key)
                continue
            break
    return failures
