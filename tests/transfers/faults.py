"""A loopback HTTP proxy in front of a real S3 server, to put faults at exact moments.

Point an endpoint at `proxy.url` instead of the server: every request is forwarded unchanged
(the Host header too, so SigV4 signatures still match) and the answer sent back. Rules act on
the requests a test picks:

- `hold(match)` keeps a matching request before it reaches the server until the test calls
  `release()` (it then goes on, even if its client has gone: a request already on the wire);
  `hold(match, after_server=True)` lets the server act on it and keeps the answer back;
- `cut(match, after=n)` forwards it, then sends the answer's headers and `n` bytes of its body
  and closes the connection (a stream that breaks off).

So a test waits on a condition (`gate.reached`) instead of on data sizes or the clock.
"""

from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]

    @property
    def key(self) -> str:
        """The object key of a path-style request ('' for a bucket-level one)."""
        parts = self.path.lstrip("/").split("/", 1)
        return parts[1] if len(parts) == 2 else ""

    def is_upload_start(self) -> bool:  # CreateMultipartUpload
        return self.method == "POST" and "uploads" in self.query

    def is_part(self) -> bool:  # UploadPart
        return self.method == "PUT" and "partNumber" in self.query

    def is_put(self) -> bool:  # PutObject
        return self.method == "PUT" and not self.query and bool(self.key)

    def is_copy(self) -> bool:  # CopyObject: a server-side copy
        return self.method == "PUT" and any(
            name.lower() == "x-amz-copy-source" for name in self.headers
        )


@dataclass
class Gate:
    """Holds matching requests (all of them, or the first `count`) until released."""

    match: object
    after_server: bool = False
    count: int | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    held: list[Request] = field(default_factory=list)
    passed: threading.Event = field(default_factory=threading.Event)  # set once one went on

    def takes(self, request: Request) -> bool:
        if self.released.is_set():  # requests that come later are for the gates after it
            return False
        if self.count is not None and len(self.held) >= self.count:
            return False
        return bool(self.match(request))

    def release(self) -> None:
        self.released.set()


@dataclass
class Cut:
    match: object
    after: int = 0
    count: int | None = None
    done: list[Request] = field(default_factory=list)


class S3Proxy:
    def __init__(self, upstream_url: str):
        upstream = urlsplit(upstream_url)
        self.upstream = (upstream.hostname, upstream.port)
        self.gates: list[Gate] = []
        self.cuts: list[Cut] = []
        self.seen: list[Request] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def hold(self, match, *, after_server: bool = False, count: int | None = None) -> Gate:
        gate = Gate(match, after_server=after_server, count=count)
        with self._lock:
            self.gates.append(gate)
        return gate

    def cut(self, match, *, after: int = 0, count: int | None = None) -> Cut:
        cut = Cut(match, after=after, count=count)
        with self._lock:
            self.cuts.append(cut)
        return cut

    def release(self, gate: Gate) -> int:
        """Releases `gate`; returns how many requests it held (exactly: it takes no more)."""
        with self._lock:
            gate.release()
            return len(gate.held)

    def stop(self) -> None:
        for gate in self.gates:
            gate.release()
        self.server.shutdown()
        self.server.server_close()

    def _gate_for(self, request: Request, *, after_server: bool) -> Gate | None:
        with self._lock:
            if not after_server:
                self.seen.append(request)
            for gate in self.gates:
                if gate.after_server == after_server and gate.takes(request):
                    gate.held.append(request)
                    return gate
        return None

    def _cut_for(self, request: Request) -> Cut | None:
        with self._lock:
            for cut in self.cuts:
                if (cut.count is None or len(cut.done) < cut.count) and cut.match(request):
                    cut.done.append(request)
                    return cut
        return None


class _Handler(BaseHTTPRequestHandler):
    owner: S3Proxy
    protocol_version = "HTTP/1.1"  # keep-alive, and "Expect: 100-continue" answered here

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self._proxy()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _proxy(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        request = Request(
            self.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            dict(self.headers.items()),
        )
        before = self.owner._gate_for(request, after_server=False)
        if before is not None:
            before.reached.set()
            before.released.wait()
        status, reason, headers, answer = self._forward(body)
        if before is not None:
            before.passed.set()
        after = self.owner._gate_for(request, after_server=True)
        if after is not None:
            after.reached.set()
            after.released.wait()
            after.passed.set()
        cut = self.owner._cut_for(request)
        try:
            self._answer(status, reason, headers, answer, cut)
        except OSError:
            self.close_connection = True  # the client went away while it was held

    def _forward(self, body: bytes):
        connection = http.client.HTTPConnection(*self.owner.upstream, timeout=300)
        try:
            connection.putrequest(
                self.command, self.path, skip_host=True, skip_accept_encoding=True
            )
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    connection.putheader(name, value)
            if body or self.command in ("PUT", "POST"):
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            answer = response.read()
            return response.status, response.reason, response.getheaders(), answer
        finally:
            connection.close()

    def _answer(self, status, reason, headers, answer: bytes, cut: Cut | None) -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        length = None
        for name, value in headers:
            if name.lower() == "content-length":
                length = value
            if name.lower() not in _HOP_BY_HOP:
                lines.append(f"{name}: {value}")
        if self.command == "HEAD":
            lines.append(f"Content-Length: {length or 0}")
            answer = b""
        else:
            lines.append(f"Content-Length: {len(answer)}")
        if cut is not None:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if cut is not None:
            self.wfile.write(answer[: cut.after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(answer)
        self.wfile.flush()
