"""boto3 clients kept between the runs of one process (a worker runs job after job).

Making a client costs tens of milliseconds (measured 20-45 ms on two busy cores), a good part
of a small job's fixed time. A client is thread-safe and keeps its connections, so a worker
keeps a few: one per endpoint, credential set and pool size, the least recently used dropped
beyond `LIMIT`. A run borrows its clients with `borrow()` and gives them back with
`give_back()`; a client dropped while borrowed is closed when the last borrower gives it
back. When an endpoint's credentials change (its secret is rotated), the next run with the
new ones drops and closes the client made with the old ones. The secret is not part of any
key anyone can print: entries are found by a digest of it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from transfers.engine.locations import EndpointConfig

LIMIT = 8


@dataclass(eq=False)
class _Entry:
    client: object
    digest: str
    borrowers: int = 0
    dropped: bool = False
    key: tuple = field(default=())


_lock = threading.Lock()
_entries: OrderedDict[tuple, _Entry] = OrderedDict()
_borrowed: dict[int, _Entry] = {}  # id(client) -> entry, while borrowed


def _identity(endpoint: EndpointConfig, max_connections: int) -> tuple:
    """What one client serves, without the secret."""
    return (
        endpoint.url,
        endpoint.region,
        endpoint.access_key_id,
        endpoint.addressing_style,
        endpoint.verify_tls,
        max_connections,
    )


def _digest(endpoint: EndpointConfig) -> str:
    return hashlib.sha256(endpoint.secret_access_key.encode()).hexdigest()


def borrow(endpoint: EndpointConfig, *, max_connections: int = 10):
    """A client for `endpoint`: a kept one, or a new one that is kept. Give it back with
    `give_back()` when the run ends."""
    key, digest = _identity(endpoint, max_connections), _digest(endpoint)
    with _lock:
        entry = _entries.get(key)
        if entry is not None and entry.digest != digest:
            _drop(entry)  # made with credentials that are no longer the endpoint's
            entry = None
        if entry is not None:
            _entries.move_to_end(key)
            entry.borrowers += 1
            _borrowed[id(entry.client)] = entry
            return entry.client
    # Outside the lock: making a client takes a while, and other runs need not wait for it.
    client = endpoint.client(max_connections=max_connections)
    with _lock:
        entry = _Entry(client=client, digest=digest, borrowers=1, key=key)
        previous = _entries.pop(key, None)
        if previous is not None:  # another thread made one meanwhile: keep the newest
            _drop(previous)
        _entries[key] = entry
        _borrowed[id(client)] = entry
        while len(_entries) > LIMIT:
            _drop(next(iter(_entries.values())))
    return client


def give_back(client) -> None:
    """The run is done with `client`: closed if it was dropped and nobody else uses it."""
    with _lock:
        entry = _borrowed.get(id(client))
        if entry is None:  # not a kept client (made by other means): the caller's to close
            close = True
        else:
            entry.borrowers -= 1
            if entry.borrowers <= 0:
                del _borrowed[id(client)]
            close = entry.dropped and entry.borrowers <= 0
    if close:
        client.close()


def _drop(entry: _Entry) -> None:
    """Forget `entry` (under the lock); close its client now if nobody borrows it."""
    if _entries.get(entry.key) is entry:
        del _entries[entry.key]
    entry.dropped = True
    if entry.borrowers <= 0:
        entry.client.close()


def clear() -> None:
    """Drop every kept client (closed once given back)."""
    with _lock:
        for entry in list(_entries.values()):
            _drop(entry)


def kept() -> int:
    """How many clients are kept now."""
    with _lock:
        return len(_entries)
