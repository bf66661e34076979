"""Planning rules: s5cmd's glob semantics, the scope both sides share, and what sync, copy
and mirror decide under each compare rule."""

from __future__ import annotations

import pytest

from tests.transfers.support import put_objects
from transfers.engine import Options, Runtime, S3Location, TransferSpec, plan_transfer
from transfers.engine.filters import Scope, split_wildcard_prefix
from transfers.engine.listing import ObjectInfo
from transfers.engine.locations import EndpointConfig
from transfers.engine.planning import COPY, DELETE, Route, plan_listings
from transfers.engine.validation import validate_prefix

MD5_A, MD5_B = "a" * 32, "b" * 32


@pytest.mark.parametrize(
    ("include", "exclude", "key", "kept"),
    [
        ((), ("*.log",), "app.log", False),
        ((), ("*.log",), "deep/down/app.log", False),  # `*` crosses '/'
        ((), ("tmp/*",), "tmp/a/b.bin", False),
        ((), ("tmp/*",), "data/tmp/x", True),  # patterns match the whole relative key
        (("*.csv",), (), "a/b.csv", True),
        (("*.csv",), (), "a/b.csv.gz", False),
        (("data/*",), ("*.tmp",), "data/x.tmp", False),  # exclude beats include
        (("file-?.txt",), (), "file-1.txt", True),
        (("file-?.txt",), (), "file-10.txt", False),
        (("[abc].txt",), (), "[abc].txt", True),  # only * and ? are special
        (("[abc].txt",), (), "a.txt", False),
    ],
)
def test_globs_follow_s5cmd(include, exclude, key, kept):
    assert Scope.build(include=include, exclude=exclude)(key) is kept


def test_a_retry_scope_keeps_only_its_keys():
    scope = Scope.build(exclude=("*.log",), only_keys=["a.txt", "b.log"])
    assert [k for k in ("a.txt", "b.log", "c.txt") if scope(k)] == ["a.txt"]


@pytest.mark.parametrize(
    ("prefix", "base", "pattern"),
    [
        ("logs/", "logs/", None),
        ("logs/2026-*/", "logs/", "2026-*/*"),
        ("logs/2026-*", "logs/", "2026-*"),
        ("*.csv", "", "*.csv"),
        ("a/b?/c/", "a/", "b?/c/*"),
    ],
)
def test_a_wildcard_prefix_lists_its_literal_folder(prefix, base, pattern):
    assert split_wildcard_prefix(prefix) == (base, pattern)


def info(size, etag="", mtime=1000.0):
    return ObjectInfo(size=size, etag=etag, mtime=mtime)


SOURCE = {
    "same": info(1, MD5_A, 1000.0),
    "bigger": info(2, MD5_A, 1000.0),
    "newer": info(1, MD5_A, 2000.0),
    "newer-same-second": info(1, MD5_A, 1000.9),
    "other-content": info(1, MD5_A, 1000.0),
    "missing": info(1),
}
DESTINATION = {
    "same": info(1, MD5_A, 1500.0),
    "bigger": info(1, MD5_A, 1500.0),
    "newer": info(1, MD5_A, 1500.0),
    "newer-same-second": info(1, MD5_A, 1000.2),
    "other-content": info(1, MD5_B, 1500.0),
    "extra": info(1),
}


def diff(source, destination, *, mode, compare, force=False, skip_intact=False):
    """(keys to copy, keys to delete, number unchanged) of the planner, S3 to S3."""
    plan = plan_listings(
        lambda: sorted(source.items()),
        None if destination is None else lambda: sorted(destination.items()),
        route=Route.SERVER_SIDE,
        mode=mode,
        compare=compare,
        force=force,
        skip_intact=skip_intact,
        target=S3Location(EndpointConfig("", "key", "secret"), "bucket", ""),
    )
    return list(plan.keys(COPY)), list(plan.keys(DELETE)), plan.unchanged


@pytest.mark.parametrize(
    ("mode", "compare", "copied", "deleted"),
    [
        ("copy", "size_mtime", set(SOURCE), set()),
        ("sync", "size_only", {"bigger", "missing"}, set()),
        ("sync", "size_mtime", {"bigger", "newer", "missing"}, set()),
        ("sync", "checksum", {"bigger", "other-content", "missing"}, set()),
        ("mirror", "size_mtime", {"bigger", "newer", "missing"}, {"extra"}),
    ],
)
def test_each_mode_and_compare_rule_decides_what_moves(mode, compare, copied, deleted):
    to_copy, to_delete, unchanged = diff(
        dict(SOURCE), dict(DESTINATION), mode=mode, compare=compare
    )
    assert set(to_copy) == copied
    assert set(to_delete) == deleted
    assert unchanged == len(SOURCE) - len(copied)


def test_a_retry_copies_its_keys_whatever_the_compare_rule():
    to_copy, _, unchanged = diff(
        {"same": SOURCE["same"]}, DESTINATION, mode="sync", compare="size_mtime", force=True
    )
    assert (to_copy, unchanged) == (["same"], 0)


@pytest.mark.parametrize(
    ("compare", "copied"),
    [
        ("size_only", {"bigger", "missing"}),
        ("size_mtime", {"bigger", "newer", "missing"}),
        ("checksum", {"bigger", "other-content", "missing"}),
    ],
)
def test_continuing_a_copy_skips_what_is_there_intact(compare, copied):
    """Continue: copy mode compares as sync does, and deletes nothing."""
    to_copy, to_delete, unchanged = diff(
        dict(SOURCE), dict(DESTINATION), mode="copy", compare=compare, skip_intact=True
    )
    assert (set(to_copy), to_delete, unchanged) == (copied, [], len(SOURCE) - len(copied))


def test_a_star_in_a_prefix_is_literal_unless_wildcards_are_on(s3_a):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"logs/2026-*/literal.log": b"1", "logs/2026-01/a.log": b"2"})

    def planned(wildcards: bool) -> list[str]:
        prefix = validate_prefix("logs/2026-*/", wildcards=wildcards)
        spec = TransferSpec(
            S3Location(s3_a.config(), bucket, prefix),
            S3Location(s3_a.config(), bucket, "copy/"),
            Options(mode="copy", source_wildcards=wildcards),
            Runtime(allow_private_networks=True),
        )
        return sorted(plan_transfer(spec, keep_decisions=True).keys(COPY))

    assert planned(False) == ["literal.log"]
    assert planned(True) == ["2026-*/literal.log", "2026-01/a.log"]
