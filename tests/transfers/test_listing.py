"""Listing an S3 prefix: every page, in the order listed, read from the store's own XML, with
clear errors; a store that lists out of order is sorted on disk before planning.

Against the bench's synthetic S3 server on loopback (real HTTP, real boto3 requests), which
generates its buckets instead of storing them."""

from __future__ import annotations

import threading

import pytest

from bench.synthetic_s3 import MTIME, Bucket, serving
from transfers.engine import Options, S3Location, TransferSpec
from transfers.engine.errors import TransferError
from transfers.engine.listing import _quick_entries, iter_s3, parse_listing
from transfers.engine.locations import EndpointConfig
from transfers.engine.planning import COPY, build_plan


def _location(server, bucket: str, prefix: str = "data/") -> S3Location:
    return S3Location(EndpointConfig(server.url, "key", "secret"), bucket, prefix)


def _listing(location: S3Location, **kwargs) -> list:
    client = location.endpoint.client()
    try:
        return list(iter_s3(location, client, base=location.prefix, keep=bool, **kwargs))
    finally:
        client.close()


def _listing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "listing"]


def test_it_lists_every_page_in_order_with_sizes_etags_and_times():
    bucket = Bucket("src", 2345, digits=6)
    with serving(bucket) as server:
        items = _listing(_location(server, "src"), page_size=100)
        assert server.requests["GET"] == 24
    assert [key for key, _ in items] == [f"{i:06d}" for i in range(2345)]
    for i in (0, 99, 100, 2344):
        size, etag = bucket.info(i)
        assert (items[i][1].size, items[i][1].etag) == (size, etag)
        assert items[i][1].mtime == MTIME.timestamp()
    assert not _listing_threads()


def test_it_keeps_only_the_keys_in_scope_and_relative_to_the_prefix():
    with serving(Bucket("src", 500, digits=3)) as server:
        location = _location(server, "src")
        client = location.endpoint.client()
        items = list(
            iter_s3(location, client, base="data/1", keep=lambda k: k.endswith("7"), page_size=30)
        )
    assert [key for key, _ in items] == [f"{n:02d}" for n in range(7, 100, 10)]


def test_a_key_range_is_listed_from_its_start_to_its_end_and_no_further():
    """A shard's range (after, upto]: the listing starts after `after` (StartAfter) and stops
    at the first key past `upto`, without asking for the pages beyond it."""
    with serving(Bucket("src", 5000, digits=4)) as server:
        location = _location(server, "src")
        client = location.endpoint.client()
        items = list(
            iter_s3(
                location, client, base="data/", keep=bool, page_size=100, after="1000", upto="1250"
            )
        )
        pages = server.requests.get("list", 0)
    assert [key for key, _ in items] == [f"{n:04d}" for n in range(1001, 1251)]
    assert pages <= 4  # three pages hold the range; the fetcher may be one page ahead


def test_a_page_that_broke_off_is_an_error_not_an_empty_listing():
    with pytest.raises(TransferError, match="incomplete"):
        parse_listing(b"", "s3://b/p/")
    with pytest.raises(TransferError, match="incomplete"):
        parse_listing(
            b"<ListBucketResult><Contents><Key>a</Key><LastModified>2026-01-01T00:00:00Z"
            b"</LastModified><ETag>x</ETag><Size>1</Size></Contents>",
            "s3://b/p/",
        )


def test_an_empty_prefix_lists_nothing():
    with serving(Bucket("src", 10)) as server:
        assert _listing(_location(server, "src", "elsewhere/")) == []


def test_it_stops_at_a_cancel_and_leaves_no_thread_behind():
    cancel = threading.Event()
    with serving(Bucket("src", 5000)) as server:
        location = _location(server, "src")
        client = location.endpoint.client()
        seen = 0
        for _item in iter_s3(location, client, base="data/", keep=bool, cancel=cancel):
            seen += 1
            if seen == 10:
                cancel.set()
        assert seen == 1000  # the page being read is finished, no other is asked for
        assert not _listing_threads()
        # Left half-way by its reader: the page fetched ahead is dropped with the thread.
        listing = iter_s3(location, client, base="data/", keep=bool, page_size=10)
        assert next(listing)[0] == "0000000000"
        listing.close()
    assert not _listing_threads()


def test_a_failed_listing_names_the_listing_and_the_reason():
    with serving(Bucket("src", 10)) as server, pytest.raises(TransferError) as caught:
        _listing(_location(server, "nope"))
    assert "Listing s3://nope/data/ failed" in str(caught.value)
    assert "NoSuchBucket" in str(caught.value) or "does not exist" in str(caught.value)
    assert not _listing_threads()


def test_an_unreachable_store_is_a_clear_error():
    with serving() as server:
        url = server.url
    location = S3Location(EndpointConfig(url, "k", "s"), "b", "p/")
    client = location.endpoint.client(attempts=1)
    with pytest.raises(TransferError, match=r"Listing s3://b/p/ failed: Cannot reach"):
        list(iter_s3(location, client, base="p/", keep=bool))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<ListBucketResult><Contents><Key>a", "not XML"),
        (b"<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>", "malformed"),
        (
            b"<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>",
            "malformed",
        ),
        (b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "continue"),
    ],
)
def test_a_malformed_page_is_a_clear_error(body, message):
    with pytest.raises(TransferError, match=message):
        parse_listing(body, "s3://b/p/")


def test_it_reads_url_encoded_keys_entities_and_answers_without_a_namespace():
    encoded = (
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
        b"<NextContinuationToken>t&amp;1</NextContinuationToken>"
        b"<Contents><Key>p/a%20b%0Ac%C3%A9</Key><LastModified>2026-01-02T03:04:05.000Z"
        b"</LastModified><ETag>&quot;abc&quot;</ETag><Size>7</Size></Contents></ListBucketResult>"
    )
    page = parse_listing(encoded)
    assert page.next_token == "t&1"
    [(key, info)] = page.entries
    assert (key, info.size, info.etag) == ("p/a b\ncé", 7, "abc")
    assert info.mtime == 1767323045.0
    plain = (
        b"<ListBucketResult><IsTruncated>true</IsTruncated>"
        b"<Contents><Size>1</Size><Key>x &amp; y&#13;</Key></Contents></ListBucketResult>"
    )
    page = parse_listing(plain)
    assert page.entries[0][0] == "x & y\r" and page.next_token == ""  # go on after the key


def test_a_store_that_lists_out_of_order_is_sorted_on_disk_and_planned_right(caplog):
    source = Bucket("src", 3001, disorder=True, digits=5)
    destination = Bucket("dst", 3001, changed=0.01, digits=5)
    with serving(source, destination) as server:
        listed = [key for key, _ in _listing(_location(server, "src"))]
        assert listed != sorted(listed) and sorted(listed) == [f"{i:05d}" for i in range(3001)]
        spec = TransferSpec(
            _location(server, "src"), _location(server, "dst"), Options(mode="sync")
        )
        clients = {side: spec.source.endpoint.client() for side in ("source", "destination")}
        plan = build_plan(spec, clients)
    try:
        expected = [f"{i:05d}" for i in range(3001) if destination.is_changed(i)]
        assert list(plan.keys(COPY)) == expected and len(expected) == 30
        assert plan.unchanged == 3001 - 30
    finally:
        plan.close()
    assert "the source listing returned" in caplog.text


def test_the_quick_reader_and_the_xml_parser_read_a_page_alike():
    entry = (
        "<Contents>\n  <Key>{key}</Key>\n  <LastModified>2026-01-02T03:04:05.000Z</LastModified>"
        "\n  <ETag>&quot;{etag}&quot;</ETag>\n  <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
        "\n  <Size>{size}</Size>\n  <StorageClass>STANDARD</StorageClass>\n</Contents>\n"
    )
    keys = ["a &amp; b", "c&#13;d", "e%2Ff", "été"]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n'
        "<IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken>\n"
        + "".join(entry.format(key=k, etag=f"{n:032x}", size=n) for n, k in enumerate(keys))
        + "</ListBucketResult>"
    ).encode()
    # An entry the quick reader does not know (Size before Key) sends the page to the parser.
    odd = body.replace(b"<Contents>", b"<Contents><Size>9</Size>", 1).replace(
        b"<Size>0</Size>", b""
    )
    assert _quick_entries(body) is not None and _quick_entries(odd) is None
    quick = parse_listing(body)
    parsed = parse_listing(odd)
    assert [k for k, _ in quick.entries] == ["a & b", "c\rd", "e%2Ff", "été"]
    assert [k for k, _ in parsed.entries] == [k for k, _ in quick.entries]
    assert [(i.size, i.etag, i.mtime) for _, i in quick.entries][1:] == [
        (i.size, i.etag, i.mtime) for _, i in parsed.entries
    ][1:]
    assert quick.entries[0][1].size == 0 and parsed.entries[0][1].size == 9
    assert quick.next_token == parsed.next_token == "tok"
