"""`make run`'s supervisor: one command starts everything, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import psutil
import pytest

from tests.support import BASE_DIR, free_port, wait_until

pytestmark = pytest.mark.timeout(240)


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_it_starts_the_portal_and_stops_every_process(tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "VAR_DIR": str(tmp_path),
        "PORT": str(port),
        "SANDBOX_S3_PORT": str(free_port()),
    }
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "syncportal.devstack"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def banner():
            assert supervisor.poll() is None, (tmp_path / "run.log").read_text()
            return "SyncPortal is running" in (tmp_path / "run.log").read_text()

        wait_until(banner, "the portal to start", timeout=180)
        output = (tmp_path / "run.log").read_text()
        assert f"http://127.0.0.1:{port}/" in output
        login = (tmp_path / "demo-login.txt").read_text().strip()
        assert f"Demo login: {login}" in output
        assert "MFA policy: off for this local demo" in output
        # Everything a newcomer needs is in the banner, and nothing buries it.
        s3_url = f"http://127.0.0.1:{env['SANDBOX_S3_PORT']}"
        assert f"Sandbox S3: {s3_url}  (access key demo, secret demo-sandbox-secret)" in output
        assert "Demo profile: 'Demo: source to archive'" in output
        assert f"cd {BASE_DIR} && " in output
        s3_request = "/demo-source HTTP/1.1"
        assert s3_request not in output, "the sandbox S3 server's request log belongs in its file"
        assert s3_request in (tmp_path / "sandbox-s3.log").read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as r:
            assert r.status == 200
        children = descendants(supervisor.pid)
        names = " ".join(" ".join(p.cmdline()) for p in children)
        for part in ("redis-server", "moto.server", "syncportal.server", "worker", "beat"):
            assert part in names, names

        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(timeout=60) == 0
        wait_until(
            lambda: (
                [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
            ),
            "every child of the supervisor to have stopped",
        )
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        log.close()


def test_a_second_run_reuses_the_database(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "VAR_DIR": str(tmp_path),
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "syncportal.settings",
        # As make run sets it: the sandbox S3 server listens on loopback.
        "ENDPOINT_ALLOW_PRIVATE_NETWORKS": "1",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=BASE_DIR, env=env, check=True)
    from tests.conftest import S3Server

    server = S3Server(free_port())
    try:
        for _ in range(2):
            subprocess.run(
                [*manage, "seed_demo", "--s3-url", server.url],
                cwd=BASE_DIR,
                env=env,
                check=True,
                capture_output=True,
            )
        counts = subprocess.run(
            [
                *manage,
                "shell",
                "-v",
                "0",
                "-c",
                "from accounts.models import User, Team; from transfers.models import SyncProfile;"
                "print(User.objects.count(), Team.objects.count(), SyncProfile.objects.count())",
            ],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    finally:
        server.stop()
    assert counts == ["1", "1", "1"]
