"""Verification after a run: list the destination again and compare it with the plan the run
worked from — every key present, same size, same MD5 where both sides know it (single-part
uploads without SSE-KMS), and what the mirror deleted gone.

Both are read as streams in key order and merged, so verifying holds no listing in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field

from transfers.engine.listing import Item
from transfers.engine.ordering import listing_stream, merge_join, with_order_fallback
from transfers.engine.planning import DELETE, Decision

SAMPLE = 20


@dataclass
class Verification:
    checked: int = 0
    checksums_compared: int = 0
    mismatches: dict[str, str] = field(default_factory=dict)  # key -> what differs

    def as_dict(self) -> dict:
        return {
            "checked": self.checked,
            "checksums_compared": self.checksums_compared,
            "mismatched": len(self.mismatches),
            "sample": [
                {"key": key, "problem": problem}
                for key, problem in sorted(self.mismatches.items())[:SAMPLE]
            ],
        }


def verify_plan(
    decisions: Callable[[], Iterable[Decision]],
    destination: Callable[[], Iterable[Item]],
    *,
    failed: Container[str] = (),
) -> Verification:
    """Compare the plan's decisions (in key order) with a fresh listing of the destination:
    every source key (copied or unchanged) must be there as the source listed it, every
    deleted key gone. Keys that failed are not checked again."""

    def attempt(sort: frozenset[str]) -> Verification:
        result = Verification()
        fresh = listing_stream(destination, "destination", sort="destination" in sort)
        for key, planned, found in merge_join(decisions(), fresh):
            if planned is None or key in failed:
                continue
            result.checked += 1
            if planned.kind == DELETE:
                if found is not None:
                    result.mismatches[key] = (
                        "still present at the destination after the mirror deleted it"
                    )
                continue
            info = found[1] if found is not None else None
            if info is None:
                result.mismatches[key] = "missing at the destination"
            elif info.size != planned.size:
                result.mismatches[key] = (
                    f"size differs: {info.size} bytes at the destination, "
                    f"{planned.size} at the source"
                )
            elif planned.md5 and info.md5:
                result.checksums_compared += 1
                if planned.md5 != info.md5:
                    result.mismatches[key] = (
                        f"content differs: MD5 {info.md5}, expected {planned.md5}"
                    )
        return result

    return with_order_fallback(attempt)
