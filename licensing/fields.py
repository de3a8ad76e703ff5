"""A text field encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key is the FIELD_ENCRYPTION_KEY setting (Fernet keys): from the environment,
required when DEBUG is off (seatmgr/settings.py; only development derives one).
Rotating keys: FIELD_ENCRYPTION_KEY may hold several comma-separated keys, the first
encrypts.
"""

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


@functools.cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in (settings.FIELD_ENCRYPTION_KEY or "").split(",") if k.strip()]
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is empty: stored secrets cannot be encrypted.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY is not a valid Fernet key: {error}") from None


class EncryptedTextField(models.TextField):
    """Stores `fernet:<token>`; reads back the plain text. Empty stays empty."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return PREFIX + _fernet().encrypt(value.encode()).decode()

    def from_db_value(self, value, expression, connection):
        if not value or not value.startswith(PREFIX):
            return value
        try:
            return _fernet().decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ImproperlyConfigured(
                "A stored secret cannot be decrypted: FIELD_ENCRYPTION_KEY changed?"
            ) from None


def encrypt_text(value: str) -> str:
    """`value` encrypted with the field key, for secrets kept outside these fields
    (a cached Salesforce access token)."""
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(value: str) -> str | None:
    """What `encrypt_text` gave, or None when it cannot be read (another key, garbage)."""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except (InvalidToken, ValueError):
        return None
