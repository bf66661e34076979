"""The benchmark's reference route exists only where BENCH_ROUTES turns it on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client()
schema = client.get("/api/v1/openapi.json").json()
print(json.dumps({
    "status": client.get("/api/v1/bench/ceiling").status_code,
    "documented": any("bench" in path for path in schema["paths"]),
}))
"""


def _probe(flag: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "BENCH_ROUTES"}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    if flag is not None:
        env["BENCH_ROUTES"] = flag
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("flag", [None, "0"])
def test_it_is_not_mounted_by_default(flag):
    assert _probe(flag) == {"status": 404, "documented": False}


def test_it_is_mounted_for_the_bench_and_still_wants_a_token():
    assert _probe("1") == {"status": 401, "documented": False}
