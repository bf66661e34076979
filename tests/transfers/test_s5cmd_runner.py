"""The s5cmd runner: the Go binary, an argv without secrets, a minimal environment, JSON read
from both streams, and a process group that is stopped — or dies with its parent."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from tests.support import wait_until
from tests.transfers.support import put_objects, s5cmd_processes
from transfers.engine import EndpointConfig
from transfers.engine.s5cmd import S5cmdBatch, child_environment, command_line, find_s5cmd


def test_it_runs_the_go_binary_not_the_python_wrapper():
    binary = find_s5cmd()
    with open(binary, "rb") as file:
        assert file.read(4) == b"\x7fELF"
    assert binary.endswith(os.path.join("s5cmd", "bin", "s5cmd"))


def test_credentials_go_to_the_environment_only(s3_a):
    config = s3_a.config()
    batch = S5cmdBatch(find_s5cmd(), config, workers=4)

    argv = batch.argv()
    env = child_environment(config)

    assert s3_a.secret_key not in " ".join(argv) and s3_a.access_key not in " ".join(argv)
    assert argv[:2] == [find_s5cmd(), "--json"] and argv[-1] == "run"
    assert env["AWS_SECRET_ACCESS_KEY"] == s3_a.secret_key
    assert set(env) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_EC2_METADATA_DISABLED",
        "HOME",
        "PATH",
    }


def test_it_reports_each_object_whatever_the_exit_status(s3_a):
    client, bucket = s3_a.client(), s3_a.bucket()
    put_objects(client, bucket, {"there.txt": b"x", "odd'quote\"name.txt": b"y"})
    lines = [
        command_line(
            "cp", f"s3://{bucket}/there.txt", f"s3://{bucket}/copy/there.txt", flags=["--raw"]
        ),
        command_line(
            "cp", f"s3://{bucket}/missing.txt", f"s3://{bucket}/copy/missing.txt", flags=["--raw"]
        ),
        command_line(
            "cp",
            f"s3://{bucket}/odd'quote\"name.txt",
            f"s3://{bucket}/copy/odd'quote\"name.txt",
            flags=["--raw"],
        ),
    ]
    successes, errors = [], []

    def on_error(message):
        errors.append(message)
        return True

    outcome = S5cmdBatch(find_s5cmd(), s3_a.config(), workers=2).run(
        lines, on_success=successes.append, on_error=on_error, cancel=threading.Event()
    )

    assert sorted(m["destination"] for m in successes) == [
        f"s3://{bucket}/copy/odd'quote\"name.txt",
        f"s3://{bucket}/copy/there.txt",
    ]
    assert len(errors) == 1 and "NoSuchKey" in errors[0]["error"]
    assert errors[0]["command"].endswith(
        f"s3://{bucket}/missing.txt s3://{bucket}/copy/missing.txt"
    )
    assert outcome.exit_code == 1 and not outcome.cancelled


def endless_input():
    """A batch that never ends by itself (s5cmd skips comment lines)."""
    while True:
        yield "# more to come"


def test_a_cancel_stops_the_process_group_promptly(s3_a):
    cancel = threading.Event()
    batch = S5cmdBatch(find_s5cmd(), s3_a.config(), workers=1, kill_grace=30)
    runner = threading.Thread(
        target=batch.run,
        args=(endless_input(),),
        kwargs={"on_success": print, "on_error": lambda m: True, "cancel": cancel},
    )
    runner.start()
    wait_until(lambda: s5cmd_processes(s3_a.url), "s5cmd to start")

    cancel.set()
    runner.join(timeout=10)  # well within the grace: SIGTERM was enough

    assert not runner.is_alive()
    assert batch.process.returncode != -signal.SIGKILL
    assert s5cmd_processes(s3_a.url) == []


def test_a_process_that_ignores_term_is_killed_after_the_grace(tmp_path):
    stubborn = tmp_path / "stubborn"
    trapped = tmp_path / "trapped"
    stubborn.write_text(f"#!/bin/sh\ntrap '' TERM\ntouch {trapped}\nwhile :; do sleep 1; done\n")
    stubborn.chmod(stubborn.stat().st_mode | stat.S_IXUSR)
    config = EndpointConfig(url="", access_key_id="a", secret_access_key="s")
    cancel = threading.Event()
    batch = S5cmdBatch(str(stubborn), config, workers=1, kill_grace=0.5)

    def cancel_once_term_is_ignored():  # a TERM before the trap is set would simply kill it
        wait_until(trapped.exists, "the script to trap TERM")
        cancel.set()

    threading.Thread(target=cancel_once_term_is_ignored, daemon=True).start()

    outcome = batch.run([], on_success=print, on_error=lambda m: True, cancel=cancel)

    assert outcome.cancelled and outcome.exit_code == -signal.SIGKILL


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_s5cmd_dies_with_the_process_that_started_it(s3_a, tmp_path):
    """A worker killed with SIGKILL cannot stop its children: the kernel does (PDEATHSIG)."""
    script = textwrap.dedent(
        f"""
        import threading
        from transfers.engine import EndpointConfig
        from transfers.engine.s5cmd import S5cmdBatch, find_s5cmd
        config = EndpointConfig(url={s3_a.url!r}, access_key_id="a", secret_access_key="s")
        never = threading.Event()
        def lines():
            yield "# waiting"
            never.wait()
        S5cmdBatch(find_s5cmd(), config, workers=1).run(
            lines(), on_success=print, on_error=lambda m: True, cancel=never
        )
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    try:
        child = wait_until(lambda: s5cmd_processes(s3_a.url), "s5cmd to start")[0]
        assert child.ppid() == parent.pid

        parent.send_signal(signal.SIGKILL)

        wait_until(lambda: not s5cmd_processes(s3_a.url), "s5cmd to die with its parent", 10)
    finally:
        parent.kill()
        parent.wait()
