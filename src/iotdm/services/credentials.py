"""Identifiers, secrets and tokens: generation, hashing, and encryption of device secrets at rest (G4).

App secrets and tokens are 128+ bit random values made here, so an unsalted SHA-256 digest is a
sufficient one-way store (a slow password KDF only protects guessable human passwords). Device secrets must be
recoverable for the MQTT HMAC check, so they are encrypted with Fernet under the platform key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from pathlib import Path

from cryptography.fernet import Fernet


def new_app_id() -> str:
    return secrets.token_hex(12)


def new_secret() -> str:
    return secrets.token_hex(16)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_device_id() -> str:
    return str(uuid.uuid4())


def new_psk() -> str:
    """32 hex characters (DECISIONS D1)."""
    return secrets.token_hex(16)


def new_verify_code() -> str:
    return secrets.token_hex(8).upper()


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def matches(value: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(value), stored_digest)


class Keyring:
    """Encrypts device secrets under the platform key (``secret.key`` in the data dir, shared by all nodes)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(Fernet.generate_key())
            path.chmod(0o600)
        return cls(path.read_bytes().strip())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()
