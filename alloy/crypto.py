"""Encryption of credentials at rest, and hashing of API keys."""

import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def _fernet() -> Fernet:
    try:
        return Fernet(settings.ENCRYPTION_KEY)
    except ValueError as exc:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEY must be 32 url-safe base64-encoded bytes; generate one "
            "with cryptography.fernet.Fernet.generate_key()."
        ) from exc


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored credential cannot be decrypted with the current ENCRYPTION_KEY."
        ) from exc


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which an API key is stored.

    API keys carry 256 bits of randomness, so a fast unsalted hash is enough:
    there is nothing to brute-force, and lookups stay a single indexed query.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def generate_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


class EncryptedTextField(models.TextField):
    """A text column stored Fernet-encrypted, read back as plaintext."""

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return encrypt(value)
