"""Model fields shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from syncportal.crypto import get_keyring


class Secret:
    """A credential that is never printed: ``str()`` and ``repr()`` mask it, ``reveal()`` opens it.

    Values read from the database stay sealed until ``reveal()`` is called, so loading a model
    (in a list page, the admin or a serializer) never decrypts anything.
    """

    __slots__ = ("_aad", "_plaintext", "_token")
    MASK = "••••••••"

    def __init__(self, *, plaintext: str | None = None, token: str | None = None, aad: bytes = b""):
        self._plaintext = plaintext
        self._token = token
        self._aad = aad

    def reveal(self) -> str:
        if self._plaintext is None and self._token is not None:
            self._plaintext = get_keyring().open(self._token, aad=self._aad)
        return self._plaintext or ""

    @property
    def token(self) -> str | None:
        return self._token

    def __bool__(self) -> bool:
        return bool(self._token) or bool(self._plaintext)

    def __str__(self) -> str:
        return self.MASK

    def __repr__(self) -> str:
        return f"Secret({self.MASK!r})"

    def __eq__(self, other: object) -> bool:
        # Comparing secrets by value would invite timing leaks and accidental reveals.
        return self is other

    __hash__ = object.__hash__


class _SecretAttribute(DeferredAttribute):
    """Wraps plain strings assigned to the attribute, so a new secret is masked at once too."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = self.field.to_python(value)


class EncryptedTextField(models.TextField):
    """Stores a string sealed with AES-256-GCM (see syncportal.crypto); reads give a `Secret`.

    Assign a plain ``str`` to set a new value; it is sealed with the primary key on save.
    """

    descriptor_class = _SecretAttribute

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    @property
    def aad(self) -> bytes:
        return f"{self.model._meta.label}.{self.name}".encode()

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Secret | None:
        if value is None:
            return None
        return Secret(token=value, aad=self.aad)

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, Secret):
            return value
        return Secret(plaintext=str(value), aad=self.aad)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, Secret):
            if value.token is not None:
                return value.token
            value = value.reveal()
        return get_keyring().seal(str(value), aad=self.aad)

    def value_to_string(self, obj: models.Model) -> str:
        # Serialisation (dumpdata, fixtures) carries the sealed token, never the plaintext.
        value = self.value_from_object(obj)
        return self.get_prep_value(value) or ""
