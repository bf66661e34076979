"""A synthetic S3 server for the benchmarks (never shipped): buckets of N generated objects.

Loopback moto cannot hold 10^7 objects; this server holds none. A bucket is a rule: object i
(0 <= i < count) has the key `<prefix><i, zero-padded>`, so keys come in UTF-8 byte order as
ListObjectsV2 returns them, and a size, ETag and mtime computed from i. Two buckets with the
same `seed` are identical; `changed` (a fraction) makes that share of a bucket's objects one
byte longer with another ETag, spread evenly, so a sync has a known amount of work.

Writes are a null sink, except that a copy or upload onto a generated key is remembered (its
size and ETag as written), so a verification after a sync sees what the sync did. Requests
answered: ListObjectsV2 (prefix, delimiter, max-keys, start-after, continuation-token,
encoding-type=url), HeadObject, GetObject (zero bytes), PutObject, CopyObject, the multipart
calls (as a sink), DeleteObject(s), HeadBucket/GetBucketLocation. Signatures are not checked.

    python -m bench.synthetic_s3 --port 9000 --bucket src=1000000 --bucket dst=1000000:0.01

prints `ready http://127.0.0.1:<port>` once it listens.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import re
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

MTIME = datetime(2026, 1, 1, tzinfo=UTC)  # every generated object's LastModified
_ISO = MTIME.strftime("%Y-%m-%dT%H:%M:%S.000Z")
_HTTP_DATE = formatdate(MTIME.timestamp(), usegmt=True)
_MASK = (1 << 128) - 1


@dataclass
class Bucket:
    """`count` generated objects under `prefix`; `changed` of them differ from seed's twin."""

    name: str
    count: int
    prefix: str = "data/"
    changed: float = 0.0
    seed: int = 1
    digits: int = 10
    # Listed out of key order (a store that does not sort), by a stride that wraps around.
    disorder: bool = False
    # Pages from this position on are answered only once something was written to the server
    # (or after 30 s, counted in `SyntheticS3.gate_timeouts`): a test that the copy starts
    # before the listing ends.
    hold_listing_at: int | None = None
    written: dict[int, tuple[int, str]] = field(default_factory=dict)  # i -> (size, etag)

    def key(self, i: int) -> str:
        return f"{self.prefix}{i:0{self.digits}d}"

    def listed(self, position: int) -> int:
        """The index of the object listed at `position`."""
        if not self.disorder:
            return position
        stride = 7919 if self.count % 7919 else 7907
        return position * stride % self.count

    def is_changed(self, i: int) -> bool:
        if not self.changed:
            return False
        step = max(1, round(1 / self.changed))
        return i % step == step // 2

    def info(self, i: int) -> tuple[int, str]:
        """(size, ETag without quotes) of object i."""
        if i in self.written:
            return self.written[i]
        size = 1024 + i % 97
        tag = (i * 0x9E3779B97F4A7C15 + self.seed * 0x632BE59BD9B4E019) & _MASK
        if self.is_changed(i):
            size += 1
            tag ^= _MASK
        return size, f"{tag:032x}"

    def index(self, key: str) -> int | None:
        """i of a generated key, or None."""
        tail = key[len(self.prefix) :]
        if key.startswith(self.prefix) and len(tail) == self.digits and tail.isdigit():
            i = int(tail)
            return i if i < self.count else None
        return None

    def first_at_or_after(self, key: str) -> int:
        """The index of the first generated key >= `key` (binary search over the keys)."""
        return bisect.bisect_left(_Keys(self), key)


class _Keys:
    def __init__(self, bucket: Bucket):
        self.bucket = bucket

    def __len__(self) -> int:
        return self.bucket.count

    def __getitem__(self, i: int) -> str:
        return self.bucket.key(i)


def list_objects_v2(bucket: Bucket, query: dict[str, str]) -> bytes:
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = max(0, min(1000, int(query.get("max-keys", "1000") or 1000)))
    url = query.get("encoding-type") == "url"
    token = query.get("continuation-token")
    start_after = query.get("start-after", "")
    if token:  # the position to go on from
        i = int(base64.urlsafe_b64decode(token.encode()).decode())
    elif bucket.disorder:
        i = 0
    else:
        i = bucket.first_at_or_after(max(prefix, start_after))
        if i < bucket.count and start_after and bucket.key(i) == start_after:
            i += 1

    def out(text: str) -> str:
        return urllib.parse.quote(text, safe="/") if url else escape(text)

    parts: list[str] = []
    common: list[str] = []
    n = 0
    while i < bucket.count and n < max_keys:
        key = bucket.key(bucket.listed(i))
        if not key.startswith(prefix):
            if bucket.disorder:
                i += 1
                continue
            i = bucket.count
            break
        if delimiter and not bucket.disorder:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                group = key[: cut + len(delimiter)]
                common.append(f"<CommonPrefixes><Prefix>{out(group)}</Prefix></CommonPrefixes>")
                n += 1
                # Past every key of the group: the first key not starting with it.
                i = bucket.first_at_or_after(group[:-1] + chr(ord(group[-1]) + 1))
                continue
        size, etag = bucket.info(bucket.listed(i))
        parts.append(
            f"<Contents><Key>{out(key)}</Key><LastModified>{_ISO}</LastModified>"
            f"<ETag>&quot;{etag}&quot;</ETag><Size>{size}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
        n += 1
        i += 1
    truncated = i < bucket.count and (bucket.disorder or bucket.key(i).startswith(prefix))
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
        f"<Name>{escape(bucket.name)}</Name><Prefix>{out(prefix)}</Prefix>",
        f"<KeyCount>{n}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
    ]
    if delimiter:
        head.append(f"<Delimiter>{out(delimiter)}</Delimiter>")
    if url:
        head.append("<EncodingType>url</EncodingType>")
    if token:
        head.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
    if start_after:
        head.append(f"<StartAfter>{out(start_after)}</StartAfter>")
    if truncated:
        next_token = base64.urlsafe_b64encode(str(i).encode()).decode()
        head.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
    return "".join([*head, *parts, *common, "</ListBucketResult>"]).encode()


_COPY_SOURCE = re.compile(r"^/?([^/?]+)/([^?]+)")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SyntheticS3
    # The headers and the body are two writes: with Nagle's algorithm on, the body waited for
    # the client's delayed ACK of the headers, ~40 ms on every answer with a body (a listing
    # page, a CopyObject), which both contenders paid but which hid a job's own fixed cost.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    # --- helpers ------------------------------------------------------------------------------

    def _target(self) -> tuple[Bucket | None, str, dict[str, str], str]:
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        name, _, key = parsed.path.lstrip("/").partition("/")
        return self.server.buckets.get(name), urllib.parse.unquote(key), query, name

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.send_response(status)
        for header, value in (headers or {}).items():
            self.send_header(header, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str = "") -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{escape(message or code)}</Message></Error>"
        ).encode()
        self._send(status, body, {"Content-Type": "application/xml"})

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        data = b""
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)
            if len(data) < 1 << 20:
                data += chunk
        return data

    def _hold(self, bucket: Bucket, query: dict[str, str]) -> None:
        if bucket.hold_listing_at is None:
            return
        token = query.get("continuation-token")
        position = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        if position >= bucket.hold_listing_at and not self.server.written.wait(30):
            with self.server.lock:
                self.server.gate_timeouts += 1

    def _object(self, bucket: Bucket, key: str) -> tuple[int, str] | None:
        i = bucket.index(key)
        return None if i is None else bucket.info(i)

    def _remember(self, bucket: Bucket, key: str, size: int, etag: str) -> None:
        i = bucket.index(key)
        if i is not None:
            with self.server.lock:
                bucket.written[i] = (size, etag)
        self.server.written.set()

    # --- verbs --------------------------------------------------------------------------------

    def do_GET(self):
        self.server.count("GET")
        bucket, key, query, _name = self._target()
        if bucket is None:
            return self._error(404, "NoSuchBucket")
        if not key:
            if "location" in query:
                body = b'<?xml version="1.0" encoding="UTF-8"?><LocationConstraint/>'
                return self._send(200, body, {"Content-Type": "application/xml"})
            if "uploads" in query:
                body = b'<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult>'
                body += b"<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"
                return self._send(200, body, {"Content-Type": "application/xml"})
            self._hold(bucket, query)
            body = list_objects_v2(bucket, query)
            return self._send(200, body, {"Content-Type": "application/xml"})
        found = self._object(bucket, key)
        if found is None:
            return self._error(404, "NoSuchKey")
        size, etag = found
        headers = {"ETag": f'"{etag}"', "Last-Modified": _HTTP_DATE, "Content-Length": str(size)}
        if self.command == "HEAD":
            return self._send(200, b"", headers)
        return self._send(200, bytes(size), headers)

    def do_HEAD(self):
        bucket, key, _query, _name = self._target()
        if bucket is not None and not key:
            self.server.count("HEAD")
            return self._send(200)
        self.do_GET()

    def do_PUT(self):
        bucket, key, query, _name = self._target()
        data = self._drain()
        if bucket is None:
            return self._error(404, "NoSuchBucket")
        source = self.headers.get("x-amz-copy-source")
        if source and "partNumber" not in query:
            self.server.count("COPY")
            match = _COPY_SOURCE.match(urllib.parse.unquote(source))
            origin = self.server.buckets.get(match.group(1)) if match else None
            found = self._object(origin, match.group(2)) if origin else None
            if found is None:
                return self._error(404, "NoSuchKey")
            self._remember(bucket, key, *found)
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult>'
                f"<LastModified>{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.000Z}</LastModified>"
                f"<ETag>&quot;{found[1]}&quot;</ETag></CopyObjectResult>"
            ).encode()
            return self._send(200, body, {"Content-Type": "application/xml"})
        self.server.count("PUT")
        size = int(self.headers.get("Content-Length") or len(data))
        etag = f"{size:032x}"
        if "partNumber" not in query:
            self._remember(bucket, key, size, etag)
        self._send(200, b"", {"ETag": f'"{etag}"'})

    def do_POST(self):
        bucket, key, query, _name = self._target()
        self._drain()
        if bucket is None:
            return self._error(404, "NoSuchBucket")
        self.server.count("POST")
        if "delete" in query:
            body = b'<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>'
        elif "uploads" in query:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult>'
                f"<Bucket>{escape(bucket.name)}</Bucket><Key>{escape(key)}</Key>"
                "<UploadId>synthetic</UploadId></InitiateMultipartUploadResult>"
            ).encode()
        else:
            body = (
                '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult>'
                f"<Key>{escape(key)}</Key><ETag>&quot;{0:032x}-1&quot;</ETag>"
                "</CompleteMultipartUploadResult>"
            ).encode()
        self._send(200, body, {"Content-Type": "application/xml"})

    def do_DELETE(self):
        self._drain()
        self.server.count("DELETE")
        self._send(204)


class SyntheticS3(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], buckets: list[Bucket]):
        super().__init__(address, Handler)
        self.buckets = {bucket.name: bucket for bucket in buckets}
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.written = threading.Event()  # something was copied or uploaded
        self.gate_timeouts = 0

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is normal
            super().handle_error(request, client_address)

    def count(self, kind: str) -> None:
        with self.lock:
            self.requests[kind] = self.requests.get(kind, 0) + 1

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


@contextlib.contextmanager
def serving(*buckets: Bucket) -> Iterator[SyntheticS3]:
    """The server on a free loopback port, in a thread of this process (for tests)."""
    server = SyntheticS3(("127.0.0.1", 0), list(buckets))
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="synthetic-s3", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def parse_bucket(text: str) -> Bucket:
    """'name=count[:changed[:prefix]]', e.g. 'dst=1000000:0.01:data/'."""
    name, _, rest = text.partition("=")
    count, _, rest = rest.partition(":")
    changed, _, prefix = rest.partition(":")
    return Bucket(name, int(count), prefix=prefix or "data/", changed=float(changed or 0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bucket", action="append", default=[], type=parse_bucket)
    args = parser.parse_args(argv)
    server = SyntheticS3(("127.0.0.1", args.port), args.bucket)
    print(f"ready {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
