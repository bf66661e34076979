"""Settings for the test suite: the production settings module with a test environment.

DEBUG is off, as in production; only transport security is relaxed, because the test servers
speak plain HTTP on loopback. REDIS_URL and DATABASE_URL from the environment are honoured
(CI sets them); without REDIS_URL the suite starts an embedded Redis (see tests/conftest.py).
"""

import os
from pathlib import Path

TEST_EMBEDDED_REDIS = not os.environ.get("REDIS_URL")

_TEST_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    # A fixed 32-byte key so sealed fixtures stay readable across runs.
    "FIELD_ENCRYPTION_KEYS": "test1:dGVzdC1rZXktMzItYnl0ZXMtZm9yLWFlcy0yNTYhISE=",
    "AUDIT_HMAC_KEY": "test-only-audit-chain-key-0123456789abcdef",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "REDIS_URL": "redis://127.0.0.1:6379/15",  # replaced by the embedded Redis when unset
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
    "STATIC_MANIFEST": "0",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "ENDPOINT_ALLOW_PRIVATE_NETWORKS": "1",
    # Webhook retries in the worker wait 1 s, then 2 s, ... instead of 30 s, 60 s, ...
    "NOTIFICATION_RETRY_BACKOFF_SECONDS": "1",
    # Local-path profiles of the transfer tests live here (the workers inherit it).
    "LOCAL_ROOTS": str(Path(__file__).resolve().parent.parent / "var" / "test-local"),
}
for _name, _value in _TEST_ENV.items():
    if not os.environ.get(_name):
        os.environ[_name] = _value

from syncportal.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
