"""Personal data at rest: Fernet encryption, keyed lookup hashes, and where the key comes from.

`DATA_ENCRYPTION_KEY` holds one or more Fernet keys, comma-separated, **newest first**:
new values are encrypted with the first; any of them decrypts (`MultiFernet`). Each key also
derives (HKDF-SHA256) an HMAC key for the *lookup hashes* stored beside encrypted values
(where the database must find or compare a value without decrypting every row) and one for
OTP hashes. Writes use the newest key; lookups try every key, so a rotation keeps working
before `bijli kyc rotate-keys` has re-encrypted and re-hashed the old rows (README, "Key
rotation").

The embedded default may run without a key: one is generated into a file beside the SQLite
database (`.bijli-dev-key`, mode 0600) with a loud warning. Production refuses to start
without `DATA_ENCRYPTION_KEY` (`Settings.production_problems`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import make_url

log = structlog.get_logger(__name__)

DEV_KEY_FILENAME = ".bijli-dev-key"
_LOOKUP_INFO = b"bijli/pii-lookup-hash/v1"
_OTP_INFO = b"bijli/otp-hash/v1"


class KeyProblem(ValueError):
    """DATA_ENCRYPTION_KEY is malformed (the message never repeats the key)."""


class Undecryptable(Exception):
    """A stored value no configured key decrypts: a key was dropped before rotating."""


def parse_keys(value: str) -> list[bytes]:
    """The Fernet keys in a DATA_ENCRYPTION_KEY value, newest first."""
    keys = [part.strip().encode("ascii", "replace") for part in value.split(",") if part.strip()]
    if not keys:
        raise KeyProblem("DATA_ENCRYPTION_KEY holds no key")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise KeyProblem(
                f"DATA_ENCRYPTION_KEY key #{position} is not a Fernet key (32 url-safe "
                "base64-encoded bytes)") from None
    return keys


def _derive(key: bytes, info: bytes) -> bytes:
    raw = base64.urlsafe_b64decode(key)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)


class PiiVault:
    """Encrypts, decrypts and hashes personal data (Samagra IDs, bank accounts)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KeyProblem("no encryption key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._lookup_keys = [_derive(key, _LOOKUP_INFO) for key in keys]
        self._otp_keys = [_derive(key, _OTP_INFO) for key in keys]

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise Undecryptable("no configured DATA_ENCRYPTION_KEY decrypts this value") from None

    def reencrypt(self, token: str) -> str:
        """The same value encrypted with the newest key (for key rotation)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise Undecryptable("no configured DATA_ENCRYPTION_KEY decrypts this value") from None

    def lookup_hash(self, kind: str, value: str) -> str:
        """The hash stored beside an encrypted value, under the newest key."""
        return self.lookup_hashes(kind, value)[0]

    def lookup_hashes(self, kind: str, value: str) -> list[str]:
        """The value's hash under every configured key, newest first: what to search for."""
        message = f"{kind}:{value}".encode()
        return [hmac.new(key, message, hashlib.sha256).hexdigest() for key in self._lookup_keys]

    def same_value(self, kind: str, value: str, stored_hash: str) -> bool:
        """Whether `value` is the one `stored_hash` was made from (constant time)."""
        matches = [hmac.compare_digest(candidate, stored_hash)
                   for candidate in self.lookup_hashes(kind, value)]
        return any(matches)

    def otp_hash(self, code: str, context: str) -> str:
        """An OTP's keyed hash, bound to where it may be used (purpose, chat, consumer, mobile),
        under the newest key."""
        return self.otp_hashes(code, context)[0]

    def otp_hashes(self, code: str, context: str) -> list[str]:
        """The OTP's hash under every configured key, newest first: a code issued before a
        key rotation still checks after it."""
        message = f"{context}|{code}".encode()
        return [hmac.new(key, message, hashlib.sha256).hexdigest() for key in self._otp_keys]

    def same_otp(self, code: str, context: str, stored_hash: str) -> bool:
        """Whether `code` is the one `stored_hash` was made from, under any key (constant
        time: every key is tried whatever the outcome)."""
        matches = [hmac.compare_digest(candidate, stored_hash)
                   for candidate in self.otp_hashes(code, context)]
        return any(matches)


def dev_key_path(database_url: str) -> Path:
    """Where the embedded default keeps its generated key: beside the SQLite file, or in the
    working directory for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / DEV_KEY_FILENAME
    return Path.cwd() / DEV_KEY_FILENAME


def load_or_create_dev_key(path: Path) -> bytes:
    """Read the generated development key, creating it (0600, never overwritten) if absent.
    Two processes starting together agree: the loser of the create race reads the winner's."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip().encode("ascii")
        parse_keys(key.decode("ascii"))
        created = False
    else:
        key = Fernet.generate_key()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key + b"\n")
        created = True
    log.warning(
        "DATA_ENCRYPTION_KEY is unset: personal data is encrypted with a DEVELOPMENT key "
        "kept in a file. Set DATA_ENCRYPTION_KEY before holding real consumers' data.",
        key_file=str(path), created=created)
    return key


def vault_from_settings(data_encryption_key: str | None, database_url: str, *,
                        production: bool) -> PiiVault:
    """The vault for these settings; production without a key is refused."""
    if data_encryption_key:
        return PiiVault(parse_keys(data_encryption_key))
    if production:
        raise KeyProblem("DATA_ENCRYPTION_KEY is unset: production refuses a generated key")
    return PiiVault([load_or_create_dev_key(dev_key_path(database_url))])
