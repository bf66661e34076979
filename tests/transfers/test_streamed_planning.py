"""The streamed planner makes exactly the decisions of the in-memory planner it replaced (kept
in tests/transfers/planning_reference.py as the oracle), in every mode, compare rule, route and
filter, with rejected keys; listings out of order are sorted on disk, never planned wrong; and
planning a million objects takes little memory."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.transfers.planning_reference import reference_plan
from tests.transfers.support import put_objects
from transfers.engine import LocalLocation, S3Location
from transfers.engine.filters import Scope
from transfers.engine.listing import ObjectInfo, iter_local
from transfers.engine.locations import EndpointConfig
from transfers.engine.ordering import OutOfOrder, external_sort, in_order
from transfers.engine.planning import COPY, DELETE, REJECT, SKIP, Route, plan_listings
from transfers.engine.s5cmd import S5cmdBatch, command_line, find_s5cmd
from transfers.engine.verify import verify_plan

MD5_A, MD5_B = "a" * 32, "b" * 32
ENDPOINT = EndpointConfig("", "key", "secret")
# Characters that sort around '/' (so 'a', 'a-b', 'a.b', 'a/b', 'a0' interleave), a line break
# (rejected by the local routes), and characters of two and four bytes in UTF-8.
KEY_CHARACTERS = "ab/.-0 \né😀"

# Keys made of a few segments share prefixes often: 'a', 'a.b', 'a/b', 'a0' and 'a//b'.
SEGMENTS = ["a", "b", "a.b", "a-", "a0", "é", "😀", "", ".", " \n"]
keys = st.one_of(
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3).map("/".join),
    st.text(alphabet=KEY_CHARACTERS, min_size=1, max_size=5),
).filter(bool)
infos = st.builds(
    ObjectInfo,
    size=st.integers(0, 2),
    etag=st.sampled_from(["", MD5_A, MD5_B, "0" * 32 + "-2"]),
    mtime=st.sampled_from([1000.0, 1000.5, 2000.0]),
)
# A listing as a store might return it: any order, a key maybe more than once (the last wins).
listings = st.lists(st.tuples(keys, infos), max_size=14)
scopes = st.builds(
    dict,
    include=st.sampled_from([(), ("a*",), ("*b*", "*.*")]),
    exclude=st.sampled_from([(), ("*.*",), ("a/*",)]),
)


@pytest.fixture(scope="module")
def local_destination():
    """A download target where some keys find a directory in the way."""
    with tempfile.TemporaryDirectory() as root:
        for directory in ("b/a", "a-"):
            os.makedirs(os.path.join(root, directory))
        yield LocalLocation(os.path.realpath(root))


def target_for(route: Route, prefix: str, local: LocalLocation):
    if route is Route.DOWNLOAD:
        return local
    return S3Location(ENDPOINT, "bucket", prefix)


def decide(source_items, destination_items, *, sort_input: bool, **options):
    """The streamed plan of two listings: given sorted (as a store does), or as generated."""

    def feed(items):
        return sorted(dict(items).items()) if sort_input else list(items)

    return plan_listings(
        lambda: iter(feed(source_items)),
        None if destination_items is None else lambda: iter(feed(destination_items)),
        run_size=4,  # several sorted runs on disk as soon as a listing is out of order
        hold_limit=3,
        **options,
    )


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    source=listings,
    destination=listings,
    shared=st.lists(st.tuples(st.integers(0, 13), infos), max_size=8),
    mode=st.sampled_from(["copy", "sync", "mirror"]),
    compare=st.sampled_from(["size_mtime", "size_only", "checksum"]),
    route=st.sampled_from(list(Route)),
    prefix=st.sampled_from(["", "p/", "q" * 1019]),  # the last leaves 5 bytes for a key
    scope=scopes,
    retry=st.booleans(),
    sort_input=st.booleans(),
)
def test_it_decides_exactly_as_the_in_memory_planner(
    local_destination,
    source,
    destination,
    shared,
    mode,
    compare,
    route,
    prefix,
    scope,
    retry,
    sort_input,
):
    # Some destination keys are the source's, with their own size, ETag and time.
    destination = destination + [(source[i][0], info) for i, info in shared if i < len(source)]
    only_keys = sorted({key for key, _ in source})[::2] if retry else None
    keep = Scope.build(**scope, only_keys=only_keys)
    source = [(key, info) for key, info in source if keep(key)]
    destination = [(key, info) for key, info in destination if keep(key)]
    if route is Route.DOWNLOAD:
        # A local directory lists no keys with empty, '.' or '..' segments, nor a line break.
        destination = [(key, info) for key, info in destination if _local_name(key)]
    target = target_for(route, prefix, local_destination)
    listed_destination = None if mode == "copy" else destination
    options = {
        "route": route,
        "mode": mode,
        "compare": compare,
        "force": retry,
        "target": target,
    }

    expected = reference_plan(
        dict(source),
        None if listed_destination is None else dict(listed_destination),
        **options,
    )
    plan = decide(source, listed_destination, sort_input=sort_input, **options)

    decisions = list(plan.decisions())
    by_kind = {kind: [d for d in decisions if d.kind == kind] for kind in (COPY, SKIP, REJECT)}
    assert [d.key for d in decisions] == sorted({d.key for d in decisions})  # in key order
    assert [d.key for d in by_kind[COPY]] == sorted(expected.to_copy)
    assert list(plan.keys(DELETE)) == sorted(expected.to_delete)
    assert {d.key: d.reason for d in by_kind[REJECT]} == expected.rejected
    skipped = set(expected.source) - set(expected.to_copy) - set(expected.rejected)
    assert [d.key for d in by_kind[SKIP]] == sorted(skipped)

    # Each decision carries what was listed: the source's object, the destination's for a delete.
    listed = dict(source)
    for decision in decisions:
        info = (dict(destination) if decision.kind == DELETE else listed)[decision.key]
        assert (decision.size, decision.etag) == (info.size, info.etag)

    summary = plan.summary()
    assert summary.objects_to_copy == len(expected.to_copy)
    assert summary.bytes_to_copy == sum(expected.source[key].size for key in expected.to_copy)
    assert summary.objects_to_delete == len(expected.to_delete)
    assert summary.objects_unchanged == expected.unchanged
    assert summary.objects_rejected == len(expected.rejected)
    assert summary.sample_to_copy == sorted(expected.to_copy)[:20]
    assert summary.sample_to_delete == sorted(expected.to_delete)[:20]
    assert (
        summary.sample_rejected
        == [{"key": key, "reason": reason} for key, reason in sorted(expected.rejected.items())][
            :20
        ]
    )
    plan.close()


def _local_name(key: str) -> bool:
    segments = key.split("/")
    return "\n" not in key and not any(s in ("", ".", "..") for s in segments)


def test_it_sorts_an_unsorted_listing_on_disk_and_plans_again(caplog):
    """A store that lists out of order (and repeats a key) gets a right plan, not a crash."""
    calls = []

    def unsorted():
        calls.append(1)
        yield from [
            ("c", ObjectInfo(3, MD5_A, 1000)),
            ("a", ObjectInfo(1, MD5_A, 1000)),
            ("b", ObjectInfo(2, MD5_A, 1000)),
            ("a", ObjectInfo(5, MD5_A, 1000)),  # listed again: the later one counts
        ]

    destination = [("a", ObjectInfo(5, MD5_A, 1000)), ("d", ObjectInfo(1, MD5_B, 1000))]
    with caplog.at_level(logging.WARNING, logger="transfers.engine.ordering"):
        plan = plan_listings(
            unsorted,
            lambda: iter(destination),
            route=Route.SERVER_SIDE,
            mode="mirror",
            compare="size_mtime",
            target=S3Location(ENDPOINT, "bucket", ""),
            run_size=2,
        )
    assert [(d.key, d.kind, d.size) for d in plan.decisions()] == [
        ("a", SKIP, 5),
        ("b", COPY, 2),
        ("c", COPY, 3),
        ("d", DELETE, 1),
    ]
    assert len(calls) == 2  # the first pass stopped at 'a' after 'c'
    assert "returned 'a' after 'c'" in caplog.text


@pytest.mark.parametrize("then", [["a/b"], ["b"]])
def test_a_download_holds_keys_until_it_knows_a_directory_and_sorts_beyond_its_limit(
    local_destination, then
):
    """'a' cannot be downloaded if 'a/b' comes, but 'a-0' ... 'a-9' come between them: more than
    the planner holds back, so those go out first and the decisions are sorted afterwards."""
    listed = ["a", *(f"a-{n}" for n in range(10)), *then]
    source = [(key, ObjectInfo(1, MD5_A, 1000)) for key in listed]
    options = {"route": Route.DOWNLOAD, "mode": "copy", "compare": "size_mtime"}
    plan = plan_listings(
        lambda: iter(source), None, target=local_destination, hold_limit=3, **options
    )
    expected = reference_plan(dict(source), None, target=local_destination, **options)
    assert [d.key for d in plan.decisions()] == listed
    assert {d.key: d.reason for d in plan.decisions(REJECT)} == expected.rejected
    assert list(plan.keys(COPY)) == sorted(expected.to_copy)
    assert ("a" in expected.rejected) == (then == ["a/b"])


def test_an_order_check_refuses_a_repeated_or_earlier_key():
    assert list(in_order([("a",), ("b",)], "source")) == [("a",), ("b",)]
    for items in ([("b",), ("a",)], [("a",), ("a",)]):
        with pytest.raises(OutOfOrder):
            list(in_order(items, "source"))


@given(
    st.lists(st.tuples(st.integers(0, 20), st.integers()), max_size=80),
    st.integers(1, 8),
    st.integers(2, 4),
)
def test_an_external_sort_is_a_stable_sort(records, run_size, fan_in):
    # Runs of at most `run_size` on disk, merged in passes of `fan_in` when there are more.
    merged = external_sort(records, run_size=run_size, fan_in=fan_in)
    assert list(merged) == sorted(records, key=lambda r: r[0])


names = st.text(alphabet="ab-.0 é", min_size=1, max_size=3).filter(lambda n: n not in (".", ".."))
trees = st.dictionaries(
    st.lists(names, min_size=1, max_size=3).map("/".join), st.integers(0, 3), max_size=12
)


@settings(max_examples=60, deadline=None)
@given(trees)
def test_it_walks_a_local_directory_in_the_order_s3_lists_keys(files):
    with tempfile.TemporaryDirectory() as root:
        written = {}
        for key, size in files.items():
            path = os.path.join(root, *key.split("/"))
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as file:
                    file.write(b"x" * size)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                continue  # 'a' as a file and as a directory: the second one cannot exist
            written[key] = size
        walked = list(iter_local(LocalLocation(root), keep=lambda key: True, must_exist=True))
    # UTF-8 byte order, as ListObjectsV2 returns keys.
    assert [key for key, _ in walked] == sorted(written, key=str.encode)
    assert {key: info.size for key, info in walked} == written


def test_it_verifies_a_plan_against_a_fresh_listing_in_one_pass():
    source = [(k, ObjectInfo(1, MD5_A, 1000)) for k in ("a", "b", "c", "e")]
    destination = [("d", ObjectInfo(1, "", 1000))]
    plan = plan_listings(
        lambda: iter(source),
        lambda: iter(destination),
        route=Route.SERVER_SIDE,
        mode="mirror",
        compare="size_mtime",
        target=S3Location(ENDPOINT, "bucket", ""),
    )
    fresh = [
        ("a", ObjectInfo(1, MD5_A, 2000)),
        ("b", ObjectInfo(2, MD5_A, 2000)),
        ("c", ObjectInfo(1, MD5_B, 2000)),
        ("d", ObjectInfo(1, "", 1000)),
    ]
    result = verify_plan(plan.decisions, lambda: iter(fresh[::-1]), failed={"e"})
    assert result.checked == 4  # a, b, c and the deleted d; e failed already
    assert result.checksums_compared == 2
    assert result.mismatches == {
        "b": "size differs: 2 bytes at the destination, 1 at the source",
        "c": f"content differs: MD5 {MD5_B}, expected {MD5_A}",
        "d": "still present at the destination after the mirror deleted it",
    }


# Planning a million objects, in a process of its own so that its peak RSS is its own.
MILLION_PLAN = """
import json, resource, sys, time
from transfers.engine.listing import ObjectInfo
from transfers.engine.locations import EndpointConfig, S3Location
from transfers.engine.planning import COPY, Route, plan_listings

N = int(sys.argv[1])
MD5 = "0123456789abcdef" * 2

def source():
    for n in range(N):
        yield f"dataset/part-{n:07d}.parquet", ObjectInfo(1000 + n % 7, MD5, 1_700_000_000.0)

def destination():  # every 10th object missing, some smaller, the rest newer, 1 in 100 extra
    for n in range(N):
        if n % 10:
            size = 1000 + n % 7 - (n % 7 == 3)
            yield f"dataset/part-{n:07d}.parquet", ObjectInfo(size, MD5, 1_800_000_000.0)
        if n % 100 == 5:
            yield f"dataset/part-{n:07d}.zzz", ObjectInfo(1, MD5, 1_600_000_000.0)

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
plan = plan_listings(
    source, destination, route=Route.SERVER_SIDE, mode="mirror", compare="size_mtime",
    target=S3Location(EndpointConfig("", "k", "s"), "bucket", "copy/"),
)
planned = time.monotonic() - started
copies = sum(1 for _ in plan.decisions(COPY))
print(json.dumps({
    "summary": plan.summary(3).as_dict(),
    "copies_read_back": copies,
    "rss_before_kib": before,
    "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "seconds": planned,
}))
"""


def test_it_plans_a_million_objects_in_a_fixed_memory_budget():
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-c", MILLION_PLAN, "1000000"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},  # this tree's code, not the one installed
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    measured = json.loads(result.stdout)
    summary = measured["summary"]
    n = 1_000_000
    missing, smaller = n // 10, sum(1 for i in range(n) if i % 10 and i % 7 == 3)
    assert summary["objects_to_copy"] == measured["copies_read_back"] == missing + smaller
    assert summary["objects_to_delete"] == n // 100
    assert summary["objects_unchanged"] == n - missing - smaller
    assert summary["sample_to_copy"] == [f"dataset/part-{i:07d}.parquet" for i in (0, 3, 10)]
    # Both listings held as maps took about 1 GB here; the stream's growth stays small.
    grown_mib = (measured["rss_peak_kib"] - measured["rss_before_kib"]) / 1024
    assert grown_mib < 20, measured


def test_s5cmd_reads_its_commands_only_as_it_works(s3_a):
    """The runner makes s5cmd's lines from the plan as s5cmd reads them and keeps only those
    not reported on: that holds because s5cmd's `run` takes a line only when a worker is free,
    so a full pipe holds the feeder back."""
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"one": b"x"})
    total, pulled, at_first_success = 3000, [0], []
    cancel = threading.Event()

    def lines():
        for n in range(total):
            pulled[0] += 1
            destination = f"s3://{bucket}/copies/{'long-name-' * 20}{n:05d}"
            yield command_line("cp", f"s3://{bucket}/one", destination, flags=["--raw"])

    def on_success(message):
        if not at_first_success:
            at_first_success.append(pulled[0])
            cancel.set()  # enough seen: stop s5cmd

    S5cmdBatch(find_s5cmd(), s3_a.config(), workers=1).run(
        lines(), on_success=on_success, on_error=lambda message: True, cancel=cancel
    )
    # About 300 lines fill the pipe and s5cmd's read buffer; the rest waited their turn.
    assert at_first_success and at_first_success[0] < total // 3
