"""Hall secrets encrypted at rest, with a key file that lives outside HQ's store.

Each hall's HMAC key is stored sealed with AES-256-GCM under HQ's own 32-byte
key, the hall id bound in as associated data (a sealed key copied onto another
hall's row does not open). The sealed form is text, ``v1.<key id>.<base64>``;
the key id (16 hex digits derived from the key) is also kept in the store, so
opening the store with another key file is refused instead of locking every
hall out one request at a time.

The key file holds the key in hex on one line, mode 0600, and is made on first
start (``O_EXCL``, fsynced). A copy of the database alone opens no hall's key;
the key file must be backed up separately, and every HQ worker of one store
needs the same file.

    >>> box = SecretBox(bytes(32))
    >>> sealed = box.seal("h1", b"hall key")
    >>> sealed.startswith("v1." + box.key_id + ".")
    True
    >>> box.open("h1", sealed)
    b'hall key'
    >>> box.open("h2", sealed)
    Traceback (most recent call last):
    ...
    sync.errors.KeyFileError: the sealed key of hall h2 does not open with this key file (wrong file, or the row was altered)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from sync.errors import KeyFileError

PREFIX = "v1."
NONCE_BYTES = 12


class SecretBox:
    """Seal and open hall secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise KeyFileError(f"HQ's secrets key must be 32 bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hmac.new(key, b"hall-hq secrets key id", hashlib.sha256).hexdigest()[:16]

    def seal(self, hall: str, secret: bytes) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, secret, hall.encode())
        return f"{PREFIX}{self.key_id}.{base64.b64encode(sealed).decode()}"

    def open(self, hall: str, text: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            _, key_id, b64 = text.split(".", 2)
            raw = base64.b64decode(b64, validate=True)
        except ValueError:
            raise KeyFileError(f"the stored key of hall {hall} is not a sealed key") from None
        if key_id != self.key_id:
            raise KeyFileError(f"the key of hall {hall} was sealed with key {key_id}, this key file is {self.key_id}")
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], hall.encode())
        except InvalidTag:
            raise KeyFileError(
                f"the sealed key of hall {hall} does not open with this key file (wrong file, or the row was altered)"
            ) from None


def is_sealed(text: str) -> bool:
    return text.startswith(PREFIX)


class KeyFile:
    """HQ's secrets key in a file of its own: 64 hex digits and a newline, mode 0600."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> bytes:
        try:
            st = self.path.stat()
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise KeyFileError(f"HQ's key file {self.path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"HQ's key file {self.path} cannot be read: {exc}") from exc
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"HQ's key file {self.path} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}): "
                f"chmod 600 {self.path}"
            )
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise KeyFileError(f"HQ's key file {self.path} must hold 64 hex digits (a 32-byte key)")
        return key

    def create(self) -> bytes:
        """Make a new key file (never over an existing one); return its key."""
        key = secrets.token_bytes(32)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.load()  # made meanwhile by another worker
        except OSError as exc:
            raise KeyFileError(f"cannot create HQ's key file {self.path}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(key.hex() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            raise KeyFileError(f"cannot write HQ's key file {self.path}: {exc.strerror}") from exc
        return key
