"""The web process: uvicorn serving `syncportal.asgi`, with proxy headers left to the portal.

    python -m syncportal.server --host 0.0.0.0 --port 8000

Left to itself, uvicorn rewrites the client address from `X-Forwarded-For` for every request
whose peer is in FORWARDED_ALLOW_IPS (127.0.0.1 by default, and `--proxy-headers` is its
default too). Anyone who reaches the port from the host itself, or through a proxy there that
passes the header on, then chooses the address the audit trail records and the per-address
sign-in limit counts, whatever TRUSTED_PROXY_COUNT says. Here uvicorn hands the peer address
over untouched, and `TRUSTED_PROXY_COUNT` alone decides which `X-Forwarded-For` entries count
(`accounts.security.client_ip`). Deploy files, `make run` and the tests all start this.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m syncportal.server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's own log level (requests and start-up)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncportal.settings")

    import uvicorn

    uvicorn.run(
        "syncportal.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        lifespan="off",
        server_header=False,
        # The one switch this module exists for: see the docstring.
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
