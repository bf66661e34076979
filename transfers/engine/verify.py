"""Verification after a run: list the destination again and compare it with the plan the run
worked from — every key present, same size, same MD5 where both sides know it (single-part
uploads without SSE-KMS), and what the mirror deleted gone.

Both are read as streams in key order and merged, so verifying holds no listing in memory;
the mismatches go to a spool on disk and then, once the listing has been read through in
order, to the caller one by one: only a sample of them is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field

from transfers.engine.listing import Item
from transfers.engine.ordering import RecordFile, listing_stream, merge_join, with_order_fallback
from transfers.engine.planning import DELETE, Decision

SAMPLE = 20


@dataclass
class Verification:
    checked: int = 0
    checksums_compared: int = 0
    mismatched: int = 0
    # The first SAMPLE mismatches in key order: key -> what differs.
    mismatches: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "checked": self.checked,
            "checksums_compared": self.checksums_compared,
            "mismatched": self.mismatched,
            "sample": [
                {"key": key, "problem": problem}
                for key, problem in sorted(self.mismatches.items())[:SAMPLE]
            ],
        }


class _Ascending:
    """Membership of keys asked in ascending order, in a sorted stream of keys: a merge, so
    the keys are never all in memory."""

    def __init__(self, keys: Iterable[str]):
        self._keys = iter(keys)
        self._current = next(self._keys, None)

    def __contains__(self, key: str) -> bool:
        while self._current is not None and self._current < key:
            self._current = next(self._keys, None)
        return self._current == key


def verify_plan(
    decisions: Callable[[], Iterable[Decision]],
    destination: Callable[[], Iterable[Item]],
    *,
    failed: Container[str] | Callable[[], Iterable[str]] = (),
    on_mismatch: Callable[[str, str], None] | None = None,
) -> Verification:
    """Compare the plan's decisions (in key order) with a fresh listing of the destination:
    every source key (copied or unchanged) must be there as the source listed it, every
    deleted key gone. Keys that failed are not checked again: `failed` is a container, or a
    callable giving them sorted (read afresh for each pass). Each mismatch goes to
    `on_mismatch(key, problem)`, in key order."""

    def attempt(sort: frozenset[str]) -> tuple[Verification, RecordFile]:
        result = Verification()
        spool = RecordFile()
        skip = _Ascending(failed()) if callable(failed) else failed
        fresh = listing_stream(destination, "destination", sort="destination" in sort)
        try:
            for key, planned, found in merge_join(decisions(), fresh):
                if planned is None or key in skip:
                    continue
                result.checked += 1
                problem = _problem(planned, found, result)
                if problem:
                    result.mismatched += 1
                    spool.append((key, problem))
                    if len(result.mismatches) < SAMPLE:
                        result.mismatches[key] = problem
        except BaseException:
            spool.close()
            raise
        return result, spool.finish()

    result, spool = with_order_fallback(attempt)
    try:
        if on_mismatch is not None:
            for key, problem in spool:
                on_mismatch(key, problem)
    finally:
        spool.close()
    return result


def _problem(planned: Decision, found, result: Verification) -> str:
    if planned.kind == DELETE:
        if found is not None:
            return "still present at the destination after the mirror deleted it"
        return ""
    info = found[1] if found is not None else None
    if info is None:
        return "missing at the destination"
    if info.size != planned.size:
        return f"size differs: {info.size} bytes at the destination, {planned.size} at the source"
    if planned.md5 and info.md5:
        result.checksums_compared += 1
        if planned.md5 != info.md5:
            return f"content differs: MD5 {info.md5}, expected {planned.md5}"
    return ""
