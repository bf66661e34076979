"""Verification after a run: list the destination again and compare it with the source
listing the run worked from — every key present, same size, same MD5 where both sides know
it (single-part uploads without SSE-KMS), and what the mirror deleted gone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from transfers.engine.listing import Listing

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


def compare_listings(
    source: Listing,
    destination: Listing,
    *,
    expected: Iterable[str],
    deleted: Iterable[str] = (),
) -> Verification:
    result = Verification()
    for key in expected:
        result.checked += 1
        wanted, found = source[key], destination.get(key)
        if found is None:
            result.mismatches[key] = "missing at the destination"
        elif found.size != wanted.size:
            result.mismatches[key] = (
                f"size differs: {found.size} bytes at the destination, {wanted.size} at the source"
            )
        elif wanted.md5 and found.md5:
            result.checksums_compared += 1
            if wanted.md5 != found.md5:
                result.mismatches[key] = f"content differs: MD5 {found.md5}, expected {wanted.md5}"
    for key in deleted:
        result.checked += 1
        if key in destination:
            result.mismatches[key] = "still present at the destination after the mirror deleted it"
    return result
