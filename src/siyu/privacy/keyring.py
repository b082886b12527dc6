"""The vault's keys (密钥环): one key-encryption key (KEK) and the wrapped data-encryption keys (DEKs).

DEKs are stored only wrapped (AES-256-GCM) under one KEK kept outside the data: ``SIYU_VAULT_KEY``
(base64 of 32 bytes) or a key file (``SIYU_VAULT_KEY_FILE``, mode 0600). The keyring file beside it holds
``{"format": "siyu-vault-keyring/1", "active": 2, "retired": [],
"keys": {"1": {"wrapped": base64(nonce | DEK | tag), "created_at": ISO time}, …}}``.

Every change is read-modify-write of that file under a lock file beside it, saved by atomic replace; a
process meeting a version it does not know re-reads the keyring once. :class:`siyu.privacy.vault.Vault`
encrypts with these keys. See docs/privacy.md.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from siyu.core.config import get_settings
from siyu.core.errors import SiyuError

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits: the GCM nonce size NIST SP 800-38D recommends for random nonces
KEYRING_FORMAT = "siyu-vault-keyring/1"
ENV_KEY, ENV_KEY_FILE, ENV_KEYRING = "SIYU_VAULT_KEY", "SIYU_VAULT_KEY_FILE", "SIYU_VAULT_KEYRING"


class VaultError(SiyuError):
    """A value cannot be encrypted or decrypted, or the keys cannot be read; ``code`` says which."""

    code = "vault_error"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    # Only the canonical encoding is accepted, so changing any character of a token is detected.
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        data = None
    if data is None or _b64(data) != text:
        raise VaultError(f"{what} is not canonical base64", code="vault_malformed")
    return data


def _kek(text: str, where: str) -> bytes:
    try:
        key = _unb64(text.strip(), f"the vault key in {where}")
    except VaultError as exc:
        raise VaultError(exc.message, code="vault_bad_key") from None
    if len(key) != KEY_BYTES:
        raise VaultError(f"the vault key in {where} must be {KEY_BYTES} bytes (e.g. `openssl rand -base64 32`)",
                         code="vault_bad_key")
    return key


def _write_private(path: Path, text: str, *, exclusive: bool) -> None:
    """Write ``text`` to ``path`` readable by the owner only (0600), atomically unless ``exclusive``."""
    target = path if exclusive else path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise VaultError(f"{path} exists; refusing to overwrite key material", code="vault_exists") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode, and umask may strip bits
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    if not exclusive:
        os.replace(target, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # A keyring change is read-modify-write of one file: serialise it across processes (flock on a sidecar,
    # because the keyring itself is replaced on every save).
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def keyring_path_for(key_file: Path) -> Path:
    """Where the keyring of a key file lives: beside it, ``vault.key`` → ``vault.keyring.json``."""
    return key_file.with_name(key_file.stem + ".keyring.json")


class Keyring:
    """The KEK and the wrapped DEKs, one per version, with the active version.

    Open one with :meth:`load` (key file), :meth:`open` (a KEK you hold) or :meth:`from_env`; make a new
    one with :meth:`create`. Every change is written to the keyring file at once (atomic replace).
    """

    def __init__(self, kek: bytes, path: Path, data: Mapping[str, Any]) -> None:
        self._kek = AESGCM(kek)
        self.path = path
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> None:
        # Parse and unwrap everything first, then swap the state in: a failed reload changes nothing.
        try:
            if data["format"] != KEYRING_FORMAT:
                raise ValueError(data["format"])
            keys = {int(v): {"wrapped": str(k["wrapped"]), "created_at": str(k["created_at"])}
                    for v, k in data["keys"].items()}
            active, retired = int(data["active"]), {int(v) for v in data["retired"]}
            wrapped = {v: _unb64(k["wrapped"], f"key v{v}") for v, k in keys.items()}
            deks = {v: AESGCM(self._kek.decrypt(w[:NONCE_BYTES], w[NONCE_BYTES:], _wrap_aad(v)))
                    for v, w in wrapped.items()}
        except InvalidTag:
            raise VaultError(f"the vault key does not open {self.path} (wrong {ENV_KEY} or key file?)",
                             code="vault_wrong_key") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VaultError(f"{self.path} is not a siyu vault keyring ({exc!r})", code="vault_bad_keyring") from None
        self._keys, self._deks, self.active, self.retired = keys, deks, active, retired

    @staticmethod
    def generate_key() -> str:
        """A new random KEK as base64, for ``SIYU_VAULT_KEY`` or a secrets manager."""
        return _b64(AESGCM.generate_key(bit_length=256))

    @classmethod
    def create(cls, key_file: Path | str, *, keyring_file: Path | str | None = None) -> Keyring:
        """Make a new KEK in ``key_file`` (mode 0600) and a keyring beside it with DEK version 1.

        Refuses to overwrite either file: a lost key means every value under it is lost.
        """
        key_path = Path(key_file)
        ring_path = Path(keyring_file) if keyring_file else keyring_path_for(key_path)
        if ring_path.exists():
            raise VaultError(f"{ring_path} exists; refusing to overwrite key material", code="vault_exists")
        kek = cls.generate_key()
        _write_private(key_path, kek + "\n", exclusive=True)
        return cls.initialise(_kek(kek, str(key_path)), ring_path)

    @classmethod
    def initialise(cls, kek: bytes, keyring_file: Path | str) -> Keyring:
        """A new keyring file, under a KEK you already hold (e.g. from a secrets manager), with version 1."""
        path = Path(keyring_file)
        empty = {"format": KEYRING_FORMAT, "active": 0, "retired": [], "keys": {}}
        _write_private(path, json.dumps(empty), exclusive=True)  # O_EXCL: two initialisers cannot both win
        ring = cls.open(kek, path)
        ring.add_version()
        return ring

    @classmethod
    def open(cls, kek: bytes, keyring_file: Path | str) -> Keyring:
        """Open an existing keyring file with its KEK."""
        if len(kek) != KEY_BYTES:
            raise VaultError(f"the vault key must be {KEY_BYTES} bytes", code="vault_bad_key")
        path = Path(keyring_file)
        return cls(kek, path, _read_keyring(path))

    @classmethod
    def load(cls, key_file: Path | str, *, keyring_file: Path | str | None = None) -> Keyring:
        """Open the keyring of a key file; refuses a key file that others may read."""
        path = Path(key_file)
        try:
            mode = path.stat().st_mode & 0o777
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise VaultError(f"cannot read the vault key file {path}: {exc.strerror}", code="vault_no_key") from None
        if mode & 0o077:
            raise VaultError(f"the vault key file {path} has mode {mode:04o}; run `chmod 600 {path}`",
                             code="vault_key_exposed")
        return cls.open(_kek(text, str(path)), Path(keyring_file) if keyring_file else keyring_path_for(path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """The keyring the settings name: ``SIYU_VAULT_KEY`` (wins) or ``SIYU_VAULT_KEY_FILE``, else
        ``<SIYU_HOME>/vault.key`` if it exists. The keyring is ``SIYU_VAULT_KEYRING``, else beside the
        key file, else ``<SIYU_HOME>/vault.keyring.json``."""
        env = os.environ if environ is None else environ
        home = Path(get_settings().home)
        key_file = Path(env[ENV_KEY_FILE]) if env.get(ENV_KEY_FILE) else home / "vault.key"
        ring = Path(env[ENV_KEYRING]) if env.get(ENV_KEYRING) else None
        if env.get(ENV_KEY):
            fallback = keyring_path_for(key_file) if env.get(ENV_KEY_FILE) else home / "vault.keyring.json"
            return cls.open(_kek(env[ENV_KEY], ENV_KEY), ring or fallback)
        if env.get(ENV_KEY_FILE) or key_file.exists():
            return cls.load(key_file, keyring_file=ring)
        raise VaultError(f"no vault key: set {ENV_KEY} (base64 of 32 bytes) or {ENV_KEY_FILE}, or create "
                         f"{key_file} with Keyring.create", code="vault_no_key")

    @property
    def versions(self) -> list[int]:
        """The DEK versions that can decrypt, oldest first."""
        return sorted(self._deks)

    def cipher(self, version: int) -> AESGCM:
        """The DEK of ``version``; re-reads the keyring once for a version another process just added."""
        if version not in self._deks and version not in self.retired:
            self.reload()
        if version not in self._deks:
            why = "was retired" if version in self.retired else "is not in the keyring"
            raise VaultError(f"key version v{version} {why}", code="vault_unknown_key")
        return self._deks[version]

    def reload(self) -> None:
        """Re-read the keyring file (another process rotated or retired a key)."""
        self._load(_read_keyring(self.path))

    def add_version(self) -> int:
        """Make a new DEK, wrap it under the KEK, make it active and save; returns its version."""
        with _locked(self.path):
            self.reload()  # never write back a keyring another process has changed since we read it
            version = max([0, *self._deks, *self.retired]) + 1
            dek, nonce = AESGCM.generate_key(bit_length=256), os.urandom(NONCE_BYTES)
            wrapped = nonce + self._kek.encrypt(nonce, dek, _wrap_aad(version))
            self._keys[version] = {"wrapped": _b64(wrapped), "created_at": datetime.now(UTC).isoformat("T", "seconds")}
            self._deks[version], self.active = AESGCM(dek), version
            self._save()
        return version

    def remove_version(self, version: int) -> None:
        """Destroy a DEK for good (values still under it become unreadable); never the active one."""
        with _locked(self.path):
            self.reload()
            if version == self.active:
                raise VaultError(f"v{version} is the active key; rotate first", code="vault_active_key")
            if version not in self._deks:
                raise VaultError(f"key version v{version} is not in the keyring", code="vault_unknown_key")
            del self._keys[version], self._deks[version]
            self.retired.add(version)
            self._save()

    def _save(self) -> None:
        data = {"format": KEYRING_FORMAT, "active": self.active, "retired": sorted(self.retired),
                "keys": {str(v): k for v, k in sorted(self._keys.items())}}
        _write_private(self.path, json.dumps(data, indent=2) + "\n", exclusive=False)


def _read_keyring(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VaultError(f"no vault keyring at {path}; make one with Keyring.create or Keyring.initialise",
                         code="vault_no_keyring") from None
    except (OSError, ValueError) as exc:
        raise VaultError(f"cannot read the keyring {path}: {exc}", code="vault_bad_keyring") from None


def _wrap_aad(version: int) -> bytes:
    # Binds a wrapped DEK to its version: swapping two entries of the keyring is detected.
    return f"siyu-vault-dek:v{version}".encode()

