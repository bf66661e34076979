"""Encryption at rest for credentials: AES-256-GCM with a key ring that supports rotation.

`FIELD_ENCRYPTION_KEYS` holds one or more keys as ``kid:base64key`` separated by commas. The
first key encrypts; every key listed can decrypt. Rotating means: put a new key first, keep the
old one after it, run ``manage.py rotate_keys``, then drop the old key.

A sealed value is ``v1.<kid>.<base64url(nonce || ciphertext || tag)>``. The associated data binds
it to the model field it belongs to, so a ciphertext copied into another column fails to open.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from syncportal.env import ConfigError

VERSION = "v1"
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A sealed value could not be opened: unknown key id, wrong key or tampered data."""


@dataclass(frozen=True)
class KeyRing:
    """Ordered encryption keys; the first one seals, all of them open."""

    keys: tuple[tuple[str, bytes], ...]

    @property
    def primary_kid(self) -> str:
        return self.keys[0][0]

    def seal(self, plaintext: str, *, aad: bytes) -> str:
        kid, key = self.keys[0]
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode(), aad)
        payload = base64.urlsafe_b64encode(nonce + ciphertext).decode().rstrip("=")
        return f"{VERSION}.{kid}.{payload}"

    def open(self, token: str, *, aad: bytes) -> str:
        version, kid, payload = split_token(token)
        if version != VERSION:
            raise DecryptionError(f"unsupported sealed value version {version!r}")
        key = dict(self.keys).get(kid)
        if key is None:
            raise DecryptionError(
                f"value was sealed with key id {kid!r}, which is not in FIELD_ENCRYPTION_KEYS"
            )
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError(
                f"value sealed with key id {kid!r} failed authentication "
                "(wrong key for this id, or the stored value was altered)"
            ) from None

    def needs_rotation(self, token: str) -> bool:
        return split_token(token)[1] != self.primary_kid


def split_token(token: str) -> tuple[str, str, str]:
    parts = token.split(".")
    if len(parts) != 3:
        raise DecryptionError("stored value is not a sealed secret")
    return parts[0], parts[1], parts[2]


def parse_keys(
    value: str, *, variable: str = "FIELD_ENCRYPTION_KEYS"
) -> tuple[tuple[str, bytes], ...]:
    """Parse ``kid:base64key[,kid:base64key...]``; raise ConfigError with a one-line reason."""
    keys: list[tuple[str, bytes]] = []
    for position, item in enumerate(filter(None, (p.strip() for p in value.split(","))), 1):
        kid, sep, encoded = item.partition(":")
        if not sep or not KEY_ID_RE.match(kid):
            raise ConfigError(
                f"{variable} entry {position} must look like 'keyid:base64key' "
                "(key id: letters, digits, '-' or '_')"
            )
        try:
            standard = encoded.replace("-", "+").replace("_", "/")
            key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{variable} key {kid!r} is not valid base64") from None
        if len(key) != 32:
            raise ConfigError(
                f"{variable} key {kid!r} must be 32 bytes (AES-256), got {len(key)}; "
                "generate one with: openssl rand -base64 32"
            )
        if kid in dict(keys):
            raise ConfigError(f"{variable} lists key id {kid!r} twice")
        keys.append((kid, key))
    if not keys:
        raise ConfigError(f"{variable} is empty")
    return tuple(keys)


def derive_dev_key(secret_key: str) -> tuple[tuple[str, bytes], ...]:
    """A deterministic key for DEBUG only, so a development database survives restarts."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"syncportal-dev-field-key"
    ).derive(secret_key.encode())
    return (("dev", key),)


@lru_cache(maxsize=4)
def _keyring(keys: tuple[tuple[str, bytes], ...]) -> KeyRing:
    return KeyRing(keys)


def get_keyring() -> KeyRing:
    from django.conf import settings

    return _keyring(tuple(settings.FIELD_ENCRYPTION_KEYS))
