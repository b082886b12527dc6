"""API keys: create (the token is shown once), verify, revoke, list.

Tokens look like ``sy_w_<key_id>_<secret>`` (write keys, for sending events) or ``sy_u_<key_id>_<secret>``
(user keys, acting with a :class:`Role`). ``key_id`` is public (12 hex characters); the secret is
``secrets.token_urlsafe(32)`` and only its SHA-256 is stored. A fast unsalted hash is right here — and a
slow password hash (bcrypt, argon2) is not needed — because the secret is 256 random bits, not something a
person chose: there is no dictionary to try, and verification stays cheap on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from siyu.core.config import get_settings
from siyu.store.db import Store
from siyu.store.errors import NotFound, StoreInputError, check_text
from siyu.store.models import ApiKey, utcnow

log = logging.getLogger(__name__)

#: How long a verified key is served from memory. A revocation reaches other processes within this time.
CACHE_TTL_SECONDS = 5.0
#: ``last_used_at`` is written at most this often per key, so verifying does not write on every request.
LAST_USED_EVERY = timedelta(minutes=1)

_TOKEN = re.compile(r"sy_([wu])_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_PREFIX = {"write": "w", "user": "u"}
_SOURCE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


class Role(StrEnum):
    """What a user key may do (see docs/store.md for the table)."""

    ADMIN = "admin"
    ANALYST = "analyst"
    OPERATOR = "operator"
    AUDITOR = "auditor"


#: Roles whose keys read personal data unmasked (the PII grant); their active keys are capped (max_pii_keys).
PII_ROLES = frozenset({Role.ADMIN.value})

class KeyKind(StrEnum):
    """``write``: sends events for one source. ``user``: calls the API with a role."""

    WRITE = "write"
    USER = "user"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Everything about a key except its secret (never its hash either)."""

    key_id: str
    name: str
    kind: KeyKind
    role: Role | None
    source: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limit_per_minute: int | None
    description: str
    created_by: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(key_id=row.key_id, name=row.name, kind=KeyKind(row.kind),
                   role=Role(row.role) if row.role else None, source=row.source, created_at=row.created_at,
                   revoked_at=row.revoked_at, last_used_at=row.last_used_at,
                   rate_limit_per_minute=row.rate_limit_per_minute, description=row.description,
                   created_by=row.created_by)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _validate(kind: str, name: str, role: str | None, source: str | None, rate_limit: int | None
              ) -> tuple[KeyKind, Role | None]:
    """The key's kind and role, or a :class:`StoreInputError` naming the field at fault."""
    if kind not in KeyKind.__members__.values():
        raise StoreInputError(f"key kind must be 'write' or 'user', not {kind!r}", input_name="kind")
    if not name.strip() or len(name) > 128:
        raise StoreInputError("a key needs a name of 1 to 128 characters", input_name="name")
    check_text(name, "name")
    if rate_limit is not None and rate_limit <= 0:
        raise StoreInputError("rate limit must be a positive number of requests per minute",
                              input_name="rate_limit_per_minute")
    if kind == KeyKind.WRITE:
        if role is not None:
            raise StoreInputError("write keys send events and have no role; use a user key for a role",
                                  input_name="role")
        if source is None or not _SOURCE.fullmatch(source):
            raise StoreInputError("write keys need a source, the name their events are stamped with (e.g. "
                                  "'miniprogram'; lower-case letters, digits, '_', '.', '-')", input_name="source")
        return KeyKind.WRITE, None
    if source is not None:
        raise StoreInputError("user keys have no source; use a write key to send events", input_name="source")
    if role is None or role not in Role.__members__.values():
        raise StoreInputError(f"user keys need a role: one of {', '.join(Role)} (got {role!r})", input_name="role")
    return KeyKind.USER, Role(role)


def create_key(store: Store, *, kind: KeyKind | str, name: str, role: Role | str | None = None,
               source: str | None = None, created_by: str | None = None, rate_limit_per_minute: int | None = None,
               description: str = "") -> tuple[KeyInfo, str]:
    """Create a key; returns its info and the plaintext token, which is not kept and cannot be shown again."""
    key_kind, key_role = _validate(str(kind), name, None if role is None else str(role), source,
                                   rate_limit_per_minute)
    check_text(description, "description", 2000)
    if created_by is not None:
        check_text(created_by, "created_by", 128)
    if key_role is not None and key_role.value in PII_ROLES:
        _check_pii_cap(store)
    for _ in range(5):  # 48-bit key ids: a collision is astronomically rare, but cheap to survive
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        row = ApiKey(key_id=key_id, name=name, kind=key_kind.value, role=key_role.value if key_role else None,
                     source=source, secret_hash=_hash(secret), created_at=utcnow(), created_by=created_by,
                     rate_limit_per_minute=rate_limit_per_minute, description=description)
        try:
            with store.session() as session:
                session.add(row)
        except IntegrityError:
            continue
        return _info(row), f"sy_{_PREFIX[key_kind.value]}_{key_id}_{secret}"
    raise RuntimeError("could not allocate a unique key id")


def _check_pii_cap(store: Store) -> None:
    """Refuse a new key that could read personal data unmasked when ``max_pii_keys`` such keys are active."""
    limit = get_settings().max_pii_keys
    with store.session() as session:
        active = session.scalar(select(func.count()).select_from(ApiKey).where(
            ApiKey.role.in_(sorted(PII_ROLES)), ApiKey.revoked_at.is_(None))) or 0
    if active >= limit:
        raise StoreInputError(f"{active} active keys may already read personal data (limit {limit}, "
                              "SIYU_MAX_PII_KEYS): revoke one first, or give the new key another role",
                              input_name="role")


class _Cache:
    """Verified keys by SHA-256 of the whole token, each with its expiry (monotonic seconds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, tuple[float, KeyInfo]] = {}

    def get(self, digest: str) -> KeyInfo | None:
        with self.lock:
            hit = self.items.get(digest)
            if hit is None or hit[0] < time.monotonic():
                self.items.pop(digest, None)
                return None
            return hit[1]

    def put(self, digest: str, info: KeyInfo) -> None:
        with self.lock:
            if len(self.items) > 10_000:
                self.items.clear()
            self.items[digest] = (time.monotonic() + CACHE_TTL_SECONDS, info)

    def drop(self, key_id: str) -> None:
        with self.lock:
            for digest in [d for d, (_, info) in self.items.items() if info.key_id == key_id]:
                del self.items[digest]


_caches: weakref.WeakKeyDictionary[Store, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache(store: Store) -> _Cache:
    with _caches_lock:
        return _caches.setdefault(store, _Cache())


def parse_token(token: object) -> tuple[KeyKind, str, str] | None:
    """``(kind, key_id, secret)`` of a well-formed token, else None (never raises)."""
    if not isinstance(token, str) or len(token) > 100:
        return None
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    letter, key_id, secret = match.groups()
    return (KeyKind.WRITE if letter == "w" else KeyKind.USER), key_id, secret


def verify_key(store: Store, token: object, *, now: datetime | None = None, use_cache: bool = True
               ) -> KeyInfo | None:
    """The key a token belongs to, or None (malformed, unknown, wrong secret, revoked); never raises on input.

    Verified keys are cached in this process for :data:`CACHE_TTL_SECONDS`, so a revocation made by another
    process takes effect here within that time (at once in the process that revoked it).
    """
    parsed = parse_token(token)
    if parsed is None:
        return None
    kind, key_id, secret = parsed
    digest = _hash(str(token))
    cache = _cache(store)
    if use_cache and (hit := cache.get(digest)) is not None:
        return hit
    with store.session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_id == key_id)).one_or_none()
        info = _info(row) if row is not None else None
        stored_hash = row.secret_hash if row is not None else _hash("")
    # Compare even when the key is unknown, so timing does not tell the two apart.
    if not hmac.compare_digest(stored_hash, _hash(secret)) or info is None:
        return None
    if info.kind is not kind or info.revoked:
        return None
    info = _touch(store, info, now or utcnow())
    if use_cache:
        cache.put(digest, info)
    return info


def _touch(store: Store, info: KeyInfo, now: datetime) -> KeyInfo:
    """Record use at most once per :data:`LAST_USED_EVERY`; best effort (a busy database only loses a stamp)."""
    if info.last_used_at is not None and now - info.last_used_at < LAST_USED_EVERY:
        return info
    stmt = (update(ApiKey).where(ApiKey.key_id == info.key_id)
            .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_EVERY))
            .values(last_used_at=now))
    try:
        with store.session() as session:  # its own short write transaction, started by the write itself
            session.execute(stmt)
    except OperationalError as exc:
        log.warning("could not record last use of key %s: %s", info.key_id, exc)
        return info
    return replace(info, last_used_at=now)


def get_key(store: Store, key_id: str) -> KeyInfo | None:
    """One key's info by its public id (revoked or not)."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        return None
    with store.session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_id == key_id)).one_or_none()
        return _info(row) if row is not None else None


def revoke_key(store: Store, key_id: str) -> KeyInfo:
    """Revoke a key (idempotent: the first revocation time is kept); raises :class:`NotFound`."""
    with store.writing() as session:
        found = isinstance(key_id, str) and _KEY_ID.fullmatch(key_id)
        row = session.scalars(select(ApiKey).where(ApiKey.key_id == key_id)).one_or_none() if found else None
        if row is None:
            raise NotFound(f"no key with id {key_id!r}", code="unknown_key", input_name="key_id")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        info = _info(row)
    _cache(store).drop(key_id)
    return info


def list_keys(store: Store, include_revoked: bool = False) -> list[KeyInfo]:
    """Every key (oldest first) without secrets or hashes; revoked ones only when asked."""
    stmt = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    with store.session() as session:
        return [_info(row) for row in session.scalars(stmt)]
