"""Credentials encrypted at rest: keys from the environment, newest first, rotated by a command.

FIELD_ENCRYPTION_KEYS (dcportal/settings.py) is a list of Fernet keys; the first encrypts, every one
decrypts, so a new key can go first while values written with an older one still read. The
`rotate_encryption_keys` command re-encrypts every EncryptedTextField with the newest key, after which
the older keys can be removed. No message here ever carries a token or the plain text, and an error page
shows none of these functions' variables (`sensitive_variables`, honoured with DEBUG on too).
"""

import base64
import hashlib
from collections.abc import Iterator

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.views.decorators.debug import sensitive_variables

# How to make a key, as every message that asks for one says it.
MAKE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class DecryptionError(Exception):
    """A stored value no configured key opens (a key removed too early, or the wrong keys)."""


def parse_keys(raw: str) -> list[str]:
    """FIELD_ENCRYPTION_KEYS's comma-separated Fernet keys, newest first; a bad one is named by position."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 bytes, URL-safe base64). "
                f"Make one with: {MAKE_KEY}"
            ) from None
    return keys


def key_from_secret_key(secret_key: str) -> str:
    """The development key, derived from SECRET_KEY, so `make run` needs no FIELD_ENCRYPTION_KEYS."""
    digest = hashlib.sha256(b"dcportal field encryption\0" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set: dcportal cannot store credentials.")
    return MultiFernet([Fernet(key) for key in keys])


@sensitive_variables()
def encrypt(text: str) -> str:
    """The token for text, made with the newest key."""
    return _fernet().encrypt(text.encode()).decode()


@sensitive_variables()
def decrypt(token: str) -> str:
    """The plain text behind a token made with any configured key."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored credential could not be decrypted with any key in FIELD_ENCRYPTION_KEYS "
            "(was a key removed before running rotate_encryption_keys?)."
        ) from None


def is_current(token: str) -> bool:
    """Whether the newest key already opens token (rotation leaves it alone)."""
    try:
        Fernet(settings.FIELD_ENCRYPTION_KEYS[0]).decrypt(token.encode())
    except (InvalidToken, IndexError):
        return False
    return True


@sensitive_variables()
def rotate(token: str) -> str:
    """The same value's token made with the newest key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored credential could not be decrypted with any key in FIELD_ENCRYPTION_KEYS."
        ) from None


class EncryptedTextField(models.TextField):
    """Text kept encrypted in the database and plain in Python; never shown in full outside the model.

    Lookups other than isnull cannot work on it (each token differs), and serialisation writes the token.
    """

    @sensitive_variables()
    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        return value if not value else decrypt(value)

    @sensitive_variables()
    def get_prep_value(self, value: object) -> str | None:
        """Encrypted; nothing (None or "") is stored as it is, so a blank field needs no key."""
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(value)

    def formfield(self, **kwargs: object) -> forms.Field:
        """Write-only in forms: the stored value is never drawn back into the page, and a field left
        empty keeps it (save_form_data), so editing something else never wipes a credential. The widget
        is always this one: a caller's (the Django admin's textarea for text) would draw the value."""
        return super().formfield(
            **{**kwargs, "widget": forms.PasswordInput(render_value=False), "required": False}
        )

    @sensitive_variables()
    def save_form_data(self, instance: models.Model, data: object) -> None:
        if data:
            super().save_form_data(instance, data)

    @sensitive_variables()
    def value_to_string(self, obj: models.Model) -> str:
        """Serialisation (dumpdata, fixtures) gets the token, never the plain text."""
        value = self.value_from_object(obj)
        return encrypt(value) if value else ""


def encrypted_fields() -> Iterator[tuple[type[models.Model], list[str]]]:
    """Every concrete model with EncryptedTextFields, and those fields' names."""
    from django.apps import apps

    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            yield model, names
