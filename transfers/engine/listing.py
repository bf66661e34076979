"""Listings: streams of (key, size/ETag/mtime) of an S3 prefix or a local directory, in key
order.

Keys are relative to the location's base prefix (or directory) and use '/' on both sides, so
the two streams of a sync can be merged key by key.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote
from xml.etree import ElementTree

from botocore.exceptions import BotoCoreError, ClientError

from transfers.engine.errors import TransferError
from transfers.engine.locations import LocalLocation, S3Location, describe_error
from transfers.engine.ordering import external_sort

_PLAIN_ETAG = re.compile(r"^[0-9a-f]{32}$")


@dataclass(slots=True)
class ObjectInfo:
    size: int
    etag: str = ""  # without quotes; "" for local files
    mtime: float = 0.0  # seconds since the epoch

    @property
    def md5(self) -> str | None:
        return md5_of(self.etag)

    def __reduce__(self):
        # Pickled by the million when a listing is sorted on disk: a plain tuple is quickest.
        return ObjectInfo, (self.size, self.etag, self.mtime)


def md5_of(etag: str) -> str | None:
    """The content MD5 when the ETag is one (single-part upload, no SSE-KMS): else None."""
    return etag if _PLAIN_ETAG.match(etag) else None


Item = tuple[str, ObjectInfo]  # (key relative to the base, what is known of the object)


def iter_s3(
    location: S3Location,
    client,
    *,
    base: str,
    keep: Callable[[str], bool],
    cancel: threading.Event | None = None,
    page_size: int = 1000,
    after: str = "",
    upto: str | None = None,
) -> Iterator[Item]:
    """Objects under `base` whose relative key passes `keep`, in the order the store lists
    them (ListObjectsV2: UTF-8 binary order of the key; callers check it).

    boto3 signs, sends and retries each ListObjectsV2 request, but the page's XML is read
    here (`parse_listing`): botocore's generic parser, with a dateutil parse of every
    timestamp, cost about 20 times more than the request itself. The next page is asked for
    while this one is read (its token is found first), so the store's latency and the parse
    overlap.

    A key range (`after`, `upto`] (relative keys; `upto` None: to the end) is listed from its
    start (StartAfter) and no further than its end: a shard of a job reads its range only.
    """
    where = f"s3://{location.bucket}/{base}"
    pages = _raw_pages(
        client, location, base, page_size, cancel, start_after=base + after if after else ""
    )
    try:
        for body in pages:
            if cancel is not None and cancel.is_set():
                break
            for key, info in parse_listing(body, where).entries:
                key = key[len(base) :]
                if upto is not None and key > upto:
                    return
                if key and keep(key):
                    yield key, info
    finally:
        pages.close()


@dataclass(slots=True)
class Page:
    entries: list[Item]  # (full key, object)
    next_token: str | None  # None: the last page


_LISTING_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_NEXT_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")
_TRUNCATED = re.compile(rb"<IsTruncated>\s*true\s*</IsTruncated>")


# An entry as AWS, MinIO and Ceph write it (checksum elements may sit between ETag and Size):
# read with one regular expression, several times quicker than an XML parser. A page where
# not every entry matches is read by the XML parser instead.
_ENTRY = re.compile(
    rb"<Contents>\s*<Key>([^<]*)</Key>\s*<LastModified>([^<]*)</LastModified>\s*"
    rb"<ETag>([^<]*)</ETag>(?:\s*<Checksum\w*>[^<]*</Checksum\w*>)*\s*<Size>(\d+)</Size>"
)
_URL_ENCODED = re.compile(rb"<EncodingType>\s*url\s*</EncodingType>", re.IGNORECASE)


def parse_listing(body: bytes, where: str = "the store") -> Page:
    """A ListObjectsV2 answer (XML) read into (key, object) pairs, in the order listed, and
    the token of the next page. Keys are URL-decoded when the answer says it encoded them."""
    entries = _quick_entries(body)
    if entries is not None and not body.rstrip().endswith(b"ListBucketResult>"):
        # A 200 whose body broke off between entries (or before any): never a shorter or an
        # empty listing, which a mirror would read as "delete the rest".
        raise TransferError(f"Listing {where} failed: the store's answer is incomplete.")
    page = _parsed_listing(body, where) if entries is None else Page(entries, _next_token(body))
    if page.next_token == "" and not page.entries:
        raise TransferError(
            f"Listing {where} failed: the store said the listing goes on but gave no way to "
            "continue it."
        )
    return page


def _quick_entries(body: bytes) -> list[Item] | None:
    found = _ENTRY.findall(body)
    if len(found) != body.count(b"<Contents>") or b"<![CDATA[" in body:
        return None
    url_encoded = _URL_ENCODED.search(body) is not None
    times: dict[bytes, float] = {}
    entries: list[Item] = []
    for raw_key, stamp, raw_etag, size in found:
        key = raw_key.decode()
        if "&" in key:
            key = html.unescape(key)
        if url_encoded:
            key = unquote(key)
        etag = raw_etag.decode()
        if "&" in etag:
            etag = html.unescape(etag)
        mtime = times.get(stamp)
        if mtime is None:
            mtime = times[stamp] = _timestamp(stamp.decode())
        entries.append((key, ObjectInfo(int(size), etag.strip('"'), mtime)))
    return entries


def _parsed_listing(body: bytes, where: str) -> Page:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - expat, no external entities
    except ElementTree.ParseError as exc:
        raise TransferError(
            f"Listing {where} failed: the store's answer is not XML ({exc})."
        ) from None
    ns = _LISTING_NS if root.tag.startswith(_LISTING_NS) else ""
    tag_key, tag_size, tag_etag, tag_time = (
        ns + t for t in ("Key", "Size", "ETag", "LastModified")
    )
    url_encoded = (root.findtext(ns + "EncodingType") or "").lower() == "url"
    times: dict[str, float] = {}
    entries: list[Item] = []
    try:
        for contents in root.iter(ns + "Contents"):
            key = size = etag = stamp = None
            for child in contents:
                tag = child.tag
                if tag == tag_key:
                    key = child.text or ""
                elif tag == tag_size:
                    size = child.text
                elif tag == tag_etag:
                    etag = child.text
                elif tag == tag_time:
                    stamp = child.text
            if key is None or size is None:
                raise ValueError("an entry without a key or size")
            mtime = times.get(stamp) if stamp else 0.0
            if mtime is None:
                mtime = times[stamp] = _timestamp(stamp)
            if url_encoded:
                key = unquote(key)
            entries.append((key, ObjectInfo(int(size), (etag or "").strip('"'), mtime)))
    except ValueError as exc:
        raise TransferError(
            f"Listing {where} failed: the store's answer is malformed ({exc})."
        ) from None
    token = None
    if (root.findtext(ns + "IsTruncated") or "").strip().lower() == "true":
        # No token: continue after the last key (StartAfter).
        token = root.findtext(ns + "NextContinuationToken") or ""
    return Page(entries, token)


def _timestamp(text: str) -> float:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_RAW = threading.local()  # set while iter_s3 asks for a page it reads itself
_HOOKED = "syncportal-raw-listing"


def _keep_raw_listing(response_dict, customized_response_dict, **_kwargs) -> None:
    """botocore's before-parse hook: hand a successful ListObjectsV2 answer's XML back as
    it came (under "RawListing"), and let botocore parse an empty one instead."""
    if getattr(_RAW, "active", False) and response_dict.get("status_code") == 200:
        customized_response_dict["RawListing"] = response_dict["body"]
        response_dict["body"] = b"<ListBucketResult></ListBucketResult>"


def _raw_pages(
    client,
    location: S3Location,
    base: str,
    page_size: int,
    cancel: threading.Event | None,
    *,
    start_after: str = "",
) -> Generator[bytes, None, None]:
    """The XML of each page of the listing, the next one asked for by a helper thread while
    the caller reads this one (one page ahead, no more)."""
    where = f"s3://{location.bucket}/{base}"
    client.meta.events.register(
        "before-parse.s3.ListObjectsV2", _keep_raw_listing, unique_id=_HOOKED
    )
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch(**kwargs) -> bytes:
        _RAW.active = True
        try:
            return client.list_objects_v2(**kwargs)["RawListing"]
        finally:
            _RAW.active = False

    def fetcher() -> None:
        request = {"Bucket": location.bucket, "Prefix": base, "MaxKeys": page_size}
        if start_after:
            request["StartAfter"] = start_after
        try:
            while not stop.is_set() and not (cancel is not None and cancel.is_set()):
                body = fetch(**request)
                token = _next_token(body)
                if token is None:
                    _put(ahead, (body, None), stop)
                    return
                if token:
                    request = {**request, "ContinuationToken": token}
                else:  # a store without tokens: after the page's last key
                    last = parse_listing(body, where).entries
                    request = {**request, "StartAfter": last[-1][0]}
                if not _put(ahead, (body, None), stop):
                    return
        except BaseException as exc:  # handed to the reader, raised there
            _put(ahead, (None, exc), stop)

    thread = threading.Thread(target=fetcher, name="listing", daemon=True)
    thread.start()
    try:
        while True:
            body, error = ahead.get()
            if error is not None:
                if isinstance(error, (BotoCoreError, ClientError)):
                    raise TransferError(
                        f"Listing {where} failed: "
                        + describe_error(error, location.endpoint, location.bucket)
                    ) from None
                raise error
            yield body
            if _next_token(body) is None:
                return
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            ahead.get_nowait()  # unblock a fetcher waiting to hand a page over
        thread.join()


def _put(ahead: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            ahead.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _next_token(body: bytes) -> str | None:
    """The page's continuation token ("" to go on after its last key, None at the end),
    found without parsing the whole page."""
    if not _TRUNCATED.search(body):
        return None
    match = _NEXT_TOKEN.search(body)
    return html.unescape(match.group(1).decode()) if match else ""


def iter_local(
    location: LocalLocation,
    *,
    keep: Callable[[str], bool],
    must_exist: bool,
    cancel: threading.Event | None = None,
) -> Iterator[Item]:
    """Regular files under the directory, in key order; symbolic links are never followed
    (nor listed).

    Each directory's entries are sorted by name, a subdirectory's name with its '/' (so 'a/x'
    comes after 'a-b' and before 'a0', as in an S3 listing); a directory too large to sort in
    memory is sorted on disk.
    """
    root = location.path
    if not os.path.isdir(root):
        if must_exist:
            raise TransferError(f"The local directory {root} does not exist.")
        return
    stack = [_sorted_entries(root, "")]
    while stack:
        if cancel is not None and cancel.is_set():
            return
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        name, path, size, mtime = entry
        if size < 0:  # a directory: its name ends with '/'
            stack.append(_sorted_entries(path, name))
        elif keep(name):
            yield name, ObjectInfo(size=size, mtime=mtime)


def _sorted_entries(directory: str, prefix: str) -> Iterator[tuple[str, str, int, float]]:
    """(key or 'key/' of a directory, path, size or -1 for a directory, mtime), sorted; the
    directory is read as it is sorted, so a huge one is never held whole."""

    def described() -> Iterator[tuple[str, str, int, float]]:
        try:
            entries = os.scandir(directory)
        except OSError as exc:
            raise TransferError(f"Cannot read {directory}: {exc.strerror}.") from None
        with entries:
            for entry in entries:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    yield prefix + entry.name + "/", entry.path, -1, 0.0
                elif entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    yield prefix + entry.name, entry.path, stat.st_size, stat.st_mtime

    return external_sort(described())


def local_md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
