"""Personal data never lands in the lake as plaintext: protect messages and rejected lines on the way in.

Identifiers are already stored as keyed tokens (``ph_…``, ``em_…``) by ``siyu.core.identifiers``; this
module does the same for the free-form JSON an event carries (``traits``, ``context``, ``properties``)
and for the raw text of quarantined lines:

* a JSON value under a personal key (phone, email, name, national id, address — see
  ``siyu.privacy.classification``) becomes a vault token ``enc:v{n}:…`` when a vault key is configured
  (so a reader with the PII grant can decrypt it), else a keyed token (irreversible, still joinable:
  a phone's token is the ``id_phone`` value of the same number);
* a phone number or e-mail address written into any other text value (a note, a remark) is replaced
  by its keyed token too;
* rejected lines cannot be parsed, so mainland mobile numbers, e-mail addresses and 18-character
  national ids are found by pattern and replaced by keyed tokens.

The spool keeps a message as received for at most a day before it is purged (docs/collector.md).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from siyu.core.identifiers import IdentifierType, keyed_hash, stored_value
from siyu.privacy.classification import DataClass, PiiKind, field_class
from siyu.privacy.vault import Vault, VaultError

#: The kinds whose values are protected wherever their key appears in an event's JSON.
PROTECTED_KINDS = frozenset({PiiKind.PHONE, PiiKind.EMAIL, PiiKind.NAME, PiiKind.NATIONAL_ID, PiiKind.ADDRESS})
_MAX_DEPTH = 32

# Letters count as part of a word too, so the digits inside a hex token (``ph_…``) are never taken for one.
_PHONE = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?![0-9A-Za-z])")
# Bounded repetitions: a rejected line can be megabytes of hostile text, and an unbounded ``+`` before
# ``@`` would make the scan quadratic.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}")
_KEYED_TOKEN = re.compile(r"[a-z]{2}_[0-9a-f]{32}")  # what keyed_hash returns
_NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


@lru_cache(maxsize=1)
def landing_vault() -> Vault | None:
    """The configured vault (``SIYU_VAULT_KEY`` / ``SIYU_VAULT_KEY_FILE`` / ``$SIYU_HOME/vault.key``), or None."""
    try:
        return Vault.from_env()
    except VaultError:
        return None


def token_for(kind: PiiKind | str, value: str) -> str:
    """The keyed token of a personal value; a phone or email takes the lake's identifier token."""
    if kind in (PiiKind.PHONE, PiiKind.EMAIL):
        try:
            return stored_value(IdentifierType(str(kind)), value)
        except ValueError:  # not a valid number or address: still never stored as sent
            pass
    return keyed_hash(str(kind), value.strip())


def protect_value(kind: PiiKind | str, value: Any) -> Any:
    """A personal value as it may be stored: encrypted if a vault is configured, else a keyed token."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    text = str(value)
    if not text.strip() or text.startswith("enc:v") or _KEYED_TOKEN.fullmatch(text):
        return value  # empty, or already protected
    vault = landing_vault()
    return vault.encrypt(text, field=str(kind)) if vault is not None else token_for(kind, text)


@lru_cache(maxsize=4096)
def _protected_kind(key: str) -> PiiKind | None:
    """The kind a value under ``key`` is protected as, or None (cached: the same few keys recur)."""
    fc = field_class(key)
    if fc.data_class in (DataClass.SENSITIVE, DataClass.CORE) and fc.kind in PROTECTED_KINDS:
        return fc.kind
    return None


def protect_json(obj: Any, _kind: PiiKind | None = None, _depth: int = 0) -> Any:
    """``obj`` with every value under a personal key protected (nested dicts and lists walked), and phone
    numbers and e-mail addresses written into any other text replaced by their tokens."""
    if _depth > _MAX_DEPTH:
        return None  # deeper than any real event: dropped rather than landed unchecked
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            kind = _protected_kind(key) if isinstance(key, str) else None
            out[key] = protect_json(value, kind or _kind, _depth + 1)
        return out
    if isinstance(obj, list):
        return [protect_json(v, _kind, _depth + 1) for v in obj]
    if _kind is not None:
        return protect_value(_kind, obj)
    return _redact_contacts(obj) if isinstance(obj, str) else obj


def _redact_contacts(text: str) -> str:
    """Free text under a non-personal key (a note, a remark) with phones and e-mails tokenised; national
    ids are not looked for here, since 18-digit order and document numbers are common in properties."""
    if "@" in text:
        text = _EMAIL.sub(lambda m: token_for(PiiKind.EMAIL, m.group()), text)
    return _PHONE.sub(lambda m: token_for(PiiKind.PHONE, m.group()), text)


def redact_text(text: str) -> str:
    """Raw text with phone numbers, e-mail addresses and national ids replaced by keyed tokens."""
    text = _NATIONAL_ID.sub(lambda m: token_for(PiiKind.NATIONAL_ID, m.group().upper()), text)
    return _redact_contacts(text)
