"""Where a route's time goes: `python -m bench.profile PATH [PATH ...]` runs each path N times
in this process through Django's full stack (middleware, ninja, token authentication) against
the database a bench run left behind, and prints the wall and CPU time a request and a
pyinstrument profile of each (`--cprofile`: cProfile timed by this process's CPU instead, so
waits on the database and the machine's other load drop out).

    .venv/bin/python -m bench.profile '/api/v1/jobs?limit=50' /api/v1/jobs/5000 -n 300

The database is the bench's (`--database-url`, as `python -m bench`); it is read, not
recreated, and a personal token for its bench user is made for the run (then revoked).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench.__main__ import DEFAULT_DATABASE
from bench.portal import portal_env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("paths", nargs="+", help="paths to GET, e.g. /api/v1/jobs?limit=50")
    parser.add_argument("-n", type=int, default=200, help="requests per path")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--session", action="store_true", help="as a signed-in browser (pages)")
    parser.add_argument("--flat", action="store_true", help="functions by total time, no tree")
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile on CPU time, top functions"
    )
    parser.add_argument("--sort", default="cumulative", help="cProfile's order (e.g. tottime)")
    parser.add_argument("--timing", action="store_true", help="the times only, no profile")
    args = parser.parse_args(argv)

    var_dir = Path(tempfile.mkdtemp(prefix="syncportal-profile-"))
    env = portal_env(
        database_url=args.database_url, redis_url="redis://127.0.0.1:1/0", var_dir=var_dir, port=0
    )
    env["ALLOWED_HOSTS"] = "127.0.0.1"
    os.environ.update(env)
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    from accounts.models import ApiToken, User
    from accounts.services import create_api_token, revoke_api_token

    user = User.objects.get(username="bench")
    token, secret = create_api_token(
        user,
        name="profile",
        scope=ApiToken.Scope.READ,
        teams=[m.team for m in user.memberships.all()],
        expires_in_days=1,
    )
    try:
        client = Client(HTTP_HOST="127.0.0.1")
        if args.session:
            client.force_login(user)
        else:
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        for path in args.paths:
            response = client.get(path)
            if response.status_code != 200:
                print(f"{path}: {response.status_code}", file=sys.stderr)
                return 1
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.n):
                client.get(path)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"== {path}: {wall * 1000 / args.n:.2f} ms, {cpu * 1000 / args.n:.2f} ms CPU")
            if args.timing:
                continue
            if args.cprofile:
                profile = cProfile.Profile(time.process_time)
                profile.runcall(_repeat, client, path, args.n)
                stats = pstats.Stats(profile).sort_stats(args.sort)
                stats.print_stats(45)
                continue
            profiler = Profiler(interval=0.0005)
            with profiler:
                for _ in range(args.n):
                    client.get(path)
            print(
                profiler.output_text(
                    unicode=False, color=False, show_all=False, flat=args.flat, flat_time="total"
                )
            )
    finally:
        revoke_api_token(token)
    return 0


def _repeat(client, path: str, n: int) -> None:
    for _ in range(n):
        client.get(path)


if __name__ == "__main__":
    sys.exit(main())
