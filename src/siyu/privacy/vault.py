"""PII vault (个人信息加密): field-level AES-256-GCM under envelope keys, key rotation and keyed tokens.

A value is encrypted with a data-encryption key (DEK) and a random 96-bit nonce, with the field name as
associated data (a phone ciphertext pasted into the ``name`` column does not decrypt), into one text
token ``enc:v{version}:{base64(nonce | ciphertext | tag)}`` that fits any string column. The DEKs live
wrapped under one key-encryption key in a :class:`~siyu.privacy.keyring.Keyring` (``siyu.privacy.keyring``).

Rotation has no downtime: :meth:`Vault.rotate` makes a new version active while old ones keep
decrypting, :meth:`Vault.reencrypt_column` moves stored values over at leisure, :meth:`Vault.retire`
destroys the old DEK. A process meeting a version it does not know re-reads the keyring once. Joins need
no plaintext: :meth:`Vault.token` is the lake's keyed HMAC token (``ph_…``) of ``siyu.core.identifiers``.
See docs/privacy.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
from cryptography.exceptions import InvalidTag

from siyu.core.identifiers import BadIdentifier, IdentifierType, canonical_value, keyed_hash
from siyu.privacy.keyring import NONCE_BYTES, Keyring, VaultError, _b64, _unb64, keyring_path_for

__all__ = ["TOKEN_PREFIX", "Keyring", "Vault", "VaultError", "keyring_path_for", "token_version"]

TAG_BYTES = 16
TOKEN_PREFIX = "enc:v"


def _field_aad(version: int, field: str) -> bytes:
    # The field name (and version) is authenticated: a token only decrypts as the field it was made for.
    return f"siyu-vault:v{version}:{field}".encode("utf-8", "surrogatepass")


def token_version(token: str) -> int:
    """The key version of an ``enc:v{n}:…`` token; raises :class:`VaultError` if it is not one."""
    return _parse(token)[0]


def _parse(token: object) -> tuple[int, bytes]:
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise VaultError("not a vault token (enc:v{n}:…)", code="vault_malformed")
    head, sep, body = token[len(TOKEN_PREFIX):].partition(":")
    if not sep or not (head.isascii() and head.isdigit()) or str(int(head)) != head:
        raise VaultError("not a vault token (enc:v{n}:…)", code="vault_malformed")
    blob = _unb64(body, "the vault token")
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise VaultError("the vault token is too short", code="vault_malformed")
    return int(head), blob


_IDENTIFIER_KINDS = frozenset(t.value for t in IdentifierType)


class Vault:
    """Encrypts and decrypts PII fields with a :class:`Keyring`, rotates its keys and makes join tokens.

    >>> vault = Vault.from_env()                              # doctest: +SKIP
    >>> token = vault.encrypt("13812341234", field="phone")   # doctest: +SKIP
    >>> vault.decrypt(token, field="phone")                   # doctest: +SKIP
    '13812341234'
    """

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Vault:
        """The vault of :meth:`Keyring.from_env`; a clear :class:`VaultError` when no key is set."""
        return cls(Keyring.from_env(environ))

    @property
    def active_version(self) -> int:
        """The key version new values are encrypted under."""
        return self.keyring.active

    def encrypt(self, value: str, *, field: str) -> str:
        """Encrypt ``value`` for ``field`` (e.g. the column name) under the active key version."""
        if not isinstance(value, str):
            raise VaultError(f"only text is encrypted, not {type(value).__name__}", code="vault_bad_input",
                             input_name=field)
        version = self.keyring.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.keyring.cipher(version).encrypt(nonce, value.encode("utf-8", "surrogatepass"),
                                                      _field_aad(version, field))
        return f"{TOKEN_PREFIX}{version}:{_b64(nonce + sealed)}"

    def decrypt(self, token: str, *, field: str) -> str:
        """The plaintext of ``token``; :class:`VaultError` if it was changed, is for another field, or its
        key version is unknown or retired."""
        version, blob = _parse(token)
        cipher = self.keyring.cipher(version)
        try:
            plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _field_aad(version, field))
        except InvalidTag:
            raise VaultError(f"the token does not decrypt as {field!r}: it was changed, or made for another field",
                             code="vault_tampered", input_name=field) from None
        return plain.decode("utf-8", "surrogatepass")

    def rotate(self) -> int:
        """Add a new key version and make it active; older versions keep decrypting. Returns the version."""
        return self.keyring.add_version()

    def retire(self, version: int) -> None:
        """Destroy the key of ``version`` once nothing is stored under it (run :meth:`reencrypt_column` on
        every encrypted column first); refuses the active version."""
        self.keyring.remove_version(version)

    def reencrypt(self, token: str, field: str) -> str:
        """``token`` under the active key version; a token already under it is returned as it is."""
        if token_version(token) == self.keyring.active:
            return token
        return self.encrypt(self.decrypt(token, field=field), field=field)

    def encrypt_column(self, table: pa.Table, columns: list[str]) -> pa.Table:
        """``table`` with ``columns`` encrypted; each column's field is its name, nulls stay null."""
        return _map_columns(table, columns, lambda name, value: self.encrypt(str(value), field=name))

    def decrypt_column(self, table: pa.Table, columns: list[str]) -> pa.Table:
        """``table`` with the tokens of ``columns`` decrypted (the inverse of :meth:`encrypt_column`)."""
        return _map_columns(table, columns, lambda name, value: self.decrypt(value, field=name))

    def reencrypt_column(self, table: pa.Table, columns: list[str]) -> pa.Table:
        """``table`` with the tokens of ``columns`` moved to the active key version. Only values under an
        older version are decrypted and re-encrypted; the others are kept byte for byte."""
        self.keyring.reload()  # a batch job moves values to the newest version, even one rotated elsewhere
        return _map_columns(table, columns, lambda name, value: self.reencrypt(value, name))

    @staticmethod
    def token(kind: str, value: str) -> str:
        """The deterministic keyed token (HMAC-SHA256) of a PII value, for joins without plaintext.

        Delegates to :func:`siyu.core.identifiers.keyed_hash` with the same canonical form the lake uses,
        so ``token("phone", "138 1234 1234")`` equals the ``ph_…`` the lake stores for that phone.
        Kinds that are not identifier types (``name``, ``national_id``, ``address``) are stripped first
        (and a national id upper-cased). The key is ``SIYU_HASH_KEY``, not the vault key.
        """
        try:
            if kind in _IDENTIFIER_KINDS:
                canonical = canonical_value(kind, value)
            else:
                canonical = value.strip().upper() if kind == "national_id" else value.strip()
                if not canonical:
                    raise BadIdentifier(f"{kind} is empty")
        except (BadIdentifier, AttributeError) as exc:
            raise VaultError(f"cannot make a {kind} token: {exc}", code="vault_bad_input", input_name=kind) from None
        return keyed_hash(kind, canonical)


def _map_columns(table: pa.Table, columns: list[str], change: Callable[[str, Any], str]) -> pa.Table:
    for name in columns:
        if name not in table.column_names:
            raise VaultError(f"no column {name!r} in the table", code="vault_bad_input", input_name=name)
        index = table.schema.get_field_index(name)
        values = [None if v is None else change(name, v) for v in table.column(index).to_pylist()]
        table = table.set_column(index, pa.field(name, pa.string()), pa.array(values, pa.string()))
    return table
