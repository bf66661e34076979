"""Include/exclude globs with s5cmd's semantics, and the scope of keys a job works on."""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass

from transfers.engine.keyset import KeySet
from transfers.engine.validation import WILDCARD_CHARACTERS


def glob_to_regex(pattern: str) -> re.Pattern:
    """`*` matches any run of characters, `/` included; `?` one character; the rest is literal."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class Scope:
    """Which keys, relative to a location's base prefix, a job considers at all.

    A key is in scope when it matches the wildcard part of the source prefix (if any), matches
    an include pattern (if any), matches no exclude pattern (exclude beats include) and, for a
    retry, is one of the keys to retry. The same scope applies to both sides, so a mirror never
    deletes what its filters leave out (unlike `s5cmd sync --delete`, #815).
    """

    include: tuple[re.Pattern, ...] = ()
    exclude: tuple[re.Pattern, ...] = ()
    wildcard: re.Pattern | None = None
    only_keys: Container[str] | None = None  # a frozenset, or a KeySet on disk for a big retry
    # A shard of a job: only the keys k with after < k <= upto (upto None: to the end).
    after: str = ""
    upto: str | None = None

    @classmethod
    def build(
        cls,
        *,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        wildcard: str | None = None,
        only_keys: Iterable[str] | KeySet | None = None,
        key_range: tuple[str, str | None] | None = None,
    ) -> Scope:
        after, upto = key_range or ("", None)
        return cls(
            include=tuple(glob_to_regex(p) for p in include),
            exclude=tuple(glob_to_regex(p) for p in exclude),
            wildcard=glob_to_regex(wildcard) if wildcard else None,
            only_keys=(
                only_keys
                if only_keys is None or isinstance(only_keys, KeySet)
                else frozenset(only_keys)
            ),
            after=after,
            upto=upto,
        )

    @property
    def ranged(self) -> bool:
        return bool(self.after) or self.upto is not None

    def in_range(self, key: str) -> bool:
        """Within (after, upto]: str order is the code-point order, which is the UTF-8 byte
        order S3 lists keys in."""
        return key > self.after and (self.upto is None or key <= self.upto)

    def __call__(self, key: str) -> bool:
        if (self.after or self.upto is not None) and not self.in_range(key):
            return False
        if self.only_keys is not None and key not in self.only_keys:
            return False
        if self.wildcard is not None and not self.wildcard.fullmatch(key):
            return False
        if any(p.fullmatch(key) for p in self.exclude):
            return False
        return not self.include or any(p.fullmatch(key) for p in self.include)


def split_wildcard_prefix(prefix: str) -> tuple[str, str | None]:
    """'logs/2026-*/' -> ('logs/', '2026-*/*'): the literal folder to list, and the glob the
    rest of each key must match (`*` crosses '/', as in s5cmd). No wildcard: (prefix, None)."""
    positions = [prefix.find(c) for c in WILDCARD_CHARACTERS if c in prefix]
    if not positions:
        return prefix, None
    base = prefix[: prefix.rfind("/", 0, min(positions)) + 1]
    rest = prefix[len(base) :]
    return base, rest + "*" if rest.endswith("/") else rest
