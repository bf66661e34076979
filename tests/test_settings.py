"""Configuration: typed parsing, loud one-line failures, and a clean deployment check."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from syncportal.env import ConfigError, Env
from tests.support import BASE_DIR

GOOD_KEY = "k1:dGVzdC1rZXktMzItYnl0ZXMtZm9yLWFlcy0yNTYhISE="


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "SECRET_KEY": "p" * 30 + "-production-like-secret-key-value",
        "FIELD_ENCRYPTION_KEYS": GOOD_KEY,
        "AUDIT_HMAC_KEY": "a" * 40,
        "ALLOWED_HOSTS": "syncportal.example.com",
        "DATABASE_URL": "postgres://syncportal@db.example.com:5432/syncportal",
        "REDIS_URL": "redis://redis.example.com:6379/0",
        "DJANGO_SETTINGS_MODULE": "syncportal.settings",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_parses_typed_values():
    env = Env({"A": "yes", "B": "42", "C": "a, b ,,c", "D": ""})
    assert env.bool("A") is True
    assert env.int("B", min=1) == 42
    assert env.list("C") == ["a", "b", "c"]
    assert env.str("D", "fallback") == "fallback"
    assert env.bool("MISSING", False) is False


@pytest.mark.parametrize(
    ("environ", "call", "message"),
    [
        ({"X": "maybe"}, lambda e: e.bool("X"), "X='maybe' is not a boolean"),
        ({"X": "ten"}, lambda e: e.int("X"), "X='ten' is not an integer"),
        ({"X": "0"}, lambda e: e.int("X", min=1), "X=0 is below the minimum of 1"),
        ({}, lambda e: e.str("X"), "X is required but not set"),
        (
            {"X": "mysql://h/db"},
            lambda e: e.database("X"),
            "must be a postgres:// or sqlite:// URL",
        ),
        ({"X": "postgres://h:port/db"}, lambda e: e.database("X"), "X is malformed"),
        (
            {"X": "http://r"},
            lambda e: e.url("X", schemes=("redis",)),
            "must be a URL starting with redis://",
        ),
    ],
)
def test_it_refuses_bad_values_with_a_clear_message(environ, call, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        call(Env(environ))


def test_it_parses_a_postgres_url():
    config = Env({"DATABASE_URL": "postgres://u:p%40ss@db:5433/portal"}).database("DATABASE_URL")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "u",
        "p@ss",
        "db",
        5433,
        "portal",
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"DATABASE_URL": "postgres://db.example.com:notaport/x"}, "DATABASE_URL is malformed"),
        ({"FIELD_ENCRYPTION_KEYS": None}, "FIELD_ENCRYPTION_KEYS is required when DEBUG is off"),
        ({"FIELD_ENCRYPTION_KEYS": "k1:c2hvcnQ="}, "must be 32 bytes"),
        ({"DEBUG": "sometimes"}, "DEBUG='sometimes' is not a boolean"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 random characters"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS is required"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a URL starting with redis://"),
    ],
)
def test_bad_configuration_stops_startup_with_one_line(overrides, expected):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("syncportal: configuration error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_the_asgi_app_refuses_bad_configuration_with_one_line():
    env = production_env(FIELD_ENCRYPTION_KEYS=None)
    result = subprocess.run(
        [sys.executable, "-c", "import syncportal.asgi"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "syncportal: configuration error: FIELD_ENCRYPTION_KEYS is required when DEBUG is off "
        "(format 'keyid:base64-32-bytes'; see .env.example)"
    )


def test_the_deployment_check_is_clean_in_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_debug_runs_without_secrets(tmp_path):
    env = {"PATH": os.environ["PATH"], "DEBUG": "1", "VAR_DIR": str(tmp_path)}
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr
