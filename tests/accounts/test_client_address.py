"""The client address in the audit trail and the sign-in limit, under the real web server.

The web process runs exactly as deploy/ documents it (the same command line, on a loopback
port), because that is where X-Forwarded-For may be rewritten before the portal sees it.
TRUSTED_PROXY_COUNT alone decides which proxies' entries count.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import requests

from accounts.models import AuditEvent
from tests.deploy.test_manifests import documented_commands
from tests.support import ChildProcess, free_port, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

IP_LIMIT = 3  # LOGIN_FAILURE_IP_LIMIT of the servers below


def web_command(port: int) -> list[str]:
    """deploy/'s web command, bound to 127.0.0.1:port; programs from this virtualenv."""
    argv = list(documented_commands()["web"])
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    program = Path(sys.executable).parent / argv[0]
    argv[0] = sys.executable if argv[0] == "python" else str(program)
    return argv


@pytest.fixture
def start_server(process_env, tmp_path):
    servers = []

    def start(**settings: str) -> str:
        port = free_port()
        env = {**process_env, "LOGIN_FAILURE_IP_LIMIT": str(IP_LIMIT), **settings}
        env.pop("FORWARDED_ALLOW_IPS", None)
        server = ChildProcess(web_command(port), env, tmp_path / f"web-{port}.log")
        servers.append(server)
        url = f"http://127.0.0.1:{port}"

        def ready():
            if not server.alive():
                raise AssertionError(f"web server died:\n{server.output()}")
            try:
                return requests.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(ready, "the web server", timeout=120)
        return url

    yield start
    for server in servers:
        server.stop()


def failed_sign_in(url: str, login: str, forwarded_for: str | None) -> str:
    """One failed password sign-in through the real server; returns the page."""
    with requests.Session() as browser:
        page = browser.get(f"{url}/accounts/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = browser.post(
            f"{url}/accounts/login/",
            data={"login": login, "password": "wrong password", "csrfmiddlewaretoken": token},
            headers={
                "Referer": f"{url}/accounts/login/",
                **({"X-Forwarded-For": forwarded_for} if forwarded_for else {}),
            },
            timeout=10,
        )
    assert response.status_code in (200, 429), response.text[:500]
    return response.text


def limited(page: str) -> bool:
    return "Too many failed login attempts" in page


def test_without_trusted_proxies_a_forged_header_changes_nothing(start_server, db):
    url = start_server(TRUSTED_PROXY_COUNT="0")

    failed_sign_in(url, "nobody-0", forwarded_for="203.0.113.50")
    assert AuditEvent.objects.get(action="login.failed").ip == "127.0.0.1"

    # Each attempt claims another address: they all count against the real one.
    for n in range(1, IP_LIMIT):
        assert not limited(failed_sign_in(url, f"nobody-{n}", forwarded_for=f"203.0.113.{n}"))
    assert limited(failed_sign_in(url, "nobody-x", forwarded_for="198.51.100.77"))
    assert set(AuditEvent.objects.values_list("ip", flat=True)) == {"127.0.0.1"}


def test_behind_a_trusted_proxy_its_entry_is_the_client(start_server, db):
    url = start_server(TRUSTED_PROXY_COUNT="1")

    # The client forged the first entry; the proxy appended the address it saw.
    failed_sign_in(url, "nobody-0", forwarded_for="10.9.9.9, 203.0.113.5")
    assert AuditEvent.objects.get(action="login.failed").ip == "203.0.113.5"

    for n in range(1, IP_LIMIT):
        assert not limited(
            failed_sign_in(url, f"nobody-{n}", forwarded_for=f"10.0.0.{n}, 203.0.113.5")
        )
    assert limited(failed_sign_in(url, "nobody-x", forwarded_for="10.0.0.99, 203.0.113.5"))
    # Another client behind the same proxy is not held back by that one.
    assert not limited(failed_sign_in(url, "nobody-y", forwarded_for="203.0.113.6"))
    assert AuditEvent.objects.filter(ip="203.0.113.6").count() == 1


def test_behind_a_trusted_proxy_a_direct_request_is_its_peer(start_server, db):
    url = start_server(TRUSTED_PROXY_COUNT="2")

    # No entry, or fewer than the proxies configured: it did not come through them.
    failed_sign_in(url, "nobody-0", forwarded_for=None)
    failed_sign_in(url, "nobody-1", forwarded_for="203.0.113.7")
    assert list(AuditEvent.objects.values_list("ip", flat=True)) == ["127.0.0.1", "127.0.0.1"]
