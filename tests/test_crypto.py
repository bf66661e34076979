"""Credentials at rest: AES-256-GCM sealing, loud failures, key rotation."""

from __future__ import annotations

import base64

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from syncportal.crypto import DecryptionError, KeyRing, parse_keys
from syncportal.env import ConfigError
from syncportal.fields import Secret
from transfers.models import Endpoint

OLD = "test1:dGVzdC1rZXktMzItYnl0ZXMtZm9yLWFlcy0yNTYhISE="  # the suite's key (tests/settings.py)
NEW = "k2026:" + base64.b64encode(b"another-32-byte-key-for-rotation").decode()
STRANGER = "test1:" + base64.b64encode(b"same-kid-but-a-different-key-32b").decode()


def stored_token(endpoint: Endpoint) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret_access_key FROM transfers_endpoint WHERE id = %s", [endpoint.pk]
        )
        return cursor.fetchone()[0]


@pytest.fixture
def endpoint(team):
    return Endpoint.objects.create(
        team=team, name="aws", access_key_id="AKIAEXAMPLE", secret_access_key="s3cr3t/key+value"
    )


def test_it_round_trips(endpoint):
    reloaded = Endpoint.objects.get(pk=endpoint.pk)
    assert isinstance(reloaded.secret_access_key, Secret)
    assert reloaded.secret_access_key.reveal() == "s3cr3t/key+value"


def test_the_database_holds_only_ciphertext(endpoint):
    token = stored_token(endpoint)
    assert token.startswith("v1.test1.")
    assert "s3cr3t" not in token
    assert base64.b64encode(b"s3cr3t").decode()[:6] not in token


def test_secrets_are_masked_when_printed(endpoint):
    secret = Endpoint.objects.get(pk=endpoint.pk).secret_access_key
    assert "s3cr3t" not in str(secret)
    assert "s3cr3t" not in repr(secret)
    assert "s3cr3t" not in f"{secret}"
    # Assigning a new plain value masks it at once too.
    endpoint.secret_access_key = "fresh-value"
    assert str(endpoint.secret_access_key) == Secret.MASK


def test_a_wrong_key_fails_loudly(endpoint, settings):
    settings.FIELD_ENCRYPTION_KEYS = parse_keys(STRANGER)
    with pytest.raises(DecryptionError, match="key id 'test1' failed authentication"):
        Endpoint.objects.get(pk=endpoint.pk).secret_access_key.reveal()


def test_an_unknown_key_id_fails_loudly(endpoint, settings):
    settings.FIELD_ENCRYPTION_KEYS = parse_keys(NEW)
    with pytest.raises(
        DecryptionError, match="key id 'test1', which is not in FIELD_ENCRYPTION_KEYS"
    ):
        Endpoint.objects.get(pk=endpoint.pk).secret_access_key.reveal()


def test_a_ciphertext_moved_to_another_field_does_not_open(endpoint):
    keyring = KeyRing(parse_keys(OLD))
    token = stored_token(endpoint)
    with pytest.raises(DecryptionError):
        keyring.open(token, aad=b"transfers.Endpoint.access_key_id")


def test_a_tampered_ciphertext_does_not_open(endpoint):
    token = stored_token(endpoint)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptionError):
        KeyRing(parse_keys(OLD)).open(flipped, aad=b"transfers.Endpoint.secret_access_key")


def test_rotation_reseals_with_the_new_key(endpoint, settings):
    settings.FIELD_ENCRYPTION_KEYS = parse_keys(f"{NEW},{OLD}")
    call_command("rotate_keys", "--dry-run")
    assert stored_token(endpoint).startswith("v1.test1.")

    call_command("rotate_keys")
    assert stored_token(endpoint).startswith("v1.k2026.")
    # The old key can now be dropped.
    settings.FIELD_ENCRYPTION_KEYS = parse_keys(NEW)
    assert Endpoint.objects.get(pk=endpoint.pk).secret_access_key.reveal() == "s3cr3t/key+value"


def test_rotation_stops_before_writing_when_a_value_cannot_be_opened(endpoint, team, settings):
    other = Endpoint.objects.create(
        team=team, name="minio", access_key_id="minio", secret_access_key="other-secret"
    )
    settings.FIELD_ENCRYPTION_KEYS = parse_keys(f"{NEW.replace('k2026', 'k3')},{STRANGER}")
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("rotate_keys")
    assert stored_token(endpoint).startswith("v1.test1.")
    assert stored_token(other).startswith("v1.test1.")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nokeyid", "must look like 'keyid:base64key'"),
        ("k1:***", "not valid base64"),
        ("k1:" + base64.b64encode(b"x" * 16).decode(), "must be 32 bytes"),
        (f"{OLD},{OLD}", "lists key id 'test1' twice"),
        ("", "is empty"),
    ],
)
def test_it_refuses_malformed_key_lists(value, message):
    with pytest.raises(ConfigError, match=message):
        parse_keys(value)
