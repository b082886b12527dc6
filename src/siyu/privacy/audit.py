"""The audit log (审计日志): an append-only, hash-chained record of every PII read, export, consent change, role
change, key change, erasure and configuration change, as PIPL asks. ``siyu privacy audit verify`` runs
:meth:`AuditLog.verify`.

Every entry's ``hash`` is SHA-256 over :func:`canonical` — sorted-key compact JSON of ``seq``, ``at``
(``YYYY-MM-DDTHH:MM:SS.ffffffZ``), ``actor``, ``actor_role``, ``action``, ``target_type``, ``target``,
``details`` (the stored JSON text, verbatim) and ``prev_hash``, encoded as UTF-8 — where ``prev_hash`` is
the previous entry's hash, 64 zeros for the first. Editing, deleting or reordering any entry breaks the
chain there, and :meth:`AuditLog.verify` names the first such place.

Threat model:

* The plain chain detects accidental and naive changes: an UPDATE, DELETE or shuffle of rows made without
  recomputing hashes. (Triggers from migration 0002 refuse UPDATE and DELETE outright, too.)
* Someone who can rewrite the whole table can recompute every hash after an edit. The HMAC stops them:
  each entry also keeps HMAC-SHA256 of its hash under a key they do not hold (by default derived from
  ``SIYU_HASH_KEY``; with the development key it protects nothing). So does an external anchor: write
  :meth:`AuditLog.head` down elsewhere and check it with ``verify(expected_head=...)``.
* Deleting the newest entries leaves a valid, shorter chain: only a recorded head detects a truncated tail.

``details`` and ``target`` never hold plaintext personal data: callers pass one_ids, tokens and masked values
(``138****5678``). As a seatbelt, strings that look like a raw mainland mobile number are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from siyu.core.config import get_settings
from siyu.store.db import Store
from siyu.store.errors import Conflict, StoreInputError, check_text
from siyu.store.models import AuditRecord, utcnow

GENESIS = "0" * 64
MAX_PAGE = 1000
#: The ``details`` key that carries a row count (exports, bulk reads); :mod:`siyu.privacy.audit_alerts` reads it.
ROWS = "rows"
_HMAC_CONTEXT = b"siyu audit log v1"
_RETRIES = 8
_PHONE = re.compile(r"(?:\+?86[ -]?)?1[3-9]\d{9}")
_T = AuditRecord
_Row = Any  # a result row of _COLUMNS (SQLAlchemy's Row generics add nothing here)
_COLUMNS = (_T.seq, _T.at, _T.actor, _T.actor_role, _T.action, _T.target_type, _T.target, _T.details,
            _T.prev_hash, _T.hash, _T.hmac)


class AuditAction(StrEnum):
    """What an entry records."""

    PII_READ = "pii_read"
    EXPORT = "export"
    CONSENT_CHANGE = "consent_change"
    ROLE_CHANGE = "role_change"
    KEY_CREATED = "key_created"
    KEY_REVOKED = "key_revoked"
    ERASURE = "erasure"
    SUBJECT_ACCESS = "subject_access"
    RECTIFICATION = "rectification"
    CONFIG_CHANGE = "config_change"
    RETENTION_RUN = "retention_run"
    ACCESS_DENIED = "access_denied"


class Break(StrEnum):
    """Why a chain is broken at an entry."""

    EDITED = "edited"  # its fields do not hash to its stored hash
    DELETED = "deleted"  # a gap in seq, or prev_hash is not the previous entry's hash
    REORDERED = "reordered"  # the entry verifies, but at another seq
    TRUNCATED = "truncated"  # the log ends before the recorded head
    REWRITTEN = "rewritten"  # a consistent chain whose hash at the recorded head differs
    HMAC_MISMATCH = "hmac_mismatch"  # consistent hashes without a valid HMAC: rebuilt without the key


class Head(NamedTuple):
    """The newest entry's ``(seq, hash)``: write it down elsewhere to detect a truncated tail later.

    ``str(head)`` is ``"seq:hash"`` and :meth:`parse` reads it back.
    """

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, value: str) -> Head:
        """``"123:ab…"`` → ``Head(123, "ab…")``; raises :class:`StoreInputError` naming the expected form."""
        seq, _, digest = value.strip().partition(":")
        if not seq.isdigit() or int(seq) < 1 or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise StoreInputError(f"an audit head looks like '<seq>:<64 hex digits>', not {value!r}",
                                  input_name="expected_head")
        return cls(int(seq), digest)


class _KeyFrom(Enum):
    SETTINGS = "settings"


#: Default ``hmac_key``: derive the key from ``SIYU_HASH_KEY`` (:func:`settings_hmac_key`).
FROM_SETTINGS = _KeyFrom.SETTINGS


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit-log entry as read back (``details`` parsed; ``{"_unparsed": text}`` if it is not JSON)."""

    seq: int
    at: datetime
    actor: str
    actor_role: str | None
    action: str
    target_type: str | None
    target: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    hmac: str | None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :meth:`AuditLog.verify`: ``ok``, or the first broken entry and why."""

    ok: bool
    checked: int  # entries found intact before the first break (all of them when ok)
    head: Head | None  # the last intact entry (the log's head when ok)
    broken_at: int | None
    reason: Break | None
    message: str
    hmac_checked: bool


def canonical(seq: int, at: datetime, actor: str, actor_role: str | None, action: str, target_type: str | None,
              target: str | None, details: str, prev_hash: str) -> bytes:
    """The bytes an entry's hash covers (see the module docstring); ``details`` is the stored JSON text."""
    doc = {"seq": seq, "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "actor": actor,
           "actor_role": actor_role, "action": action, "target_type": target_type, "target": target,
           "details": details, "prev_hash": prev_hash}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(seq: int, at: datetime, actor: str, actor_role: str | None, action: str, target_type: str | None,
               target: str | None, details: str, prev_hash: str) -> str:
    """SHA-256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(seq, at, actor, actor_role, action, target_type, target, details,
                                    prev_hash)).hexdigest()


def settings_hmac_key() -> bytes:
    """The audit HMAC key: HMAC-SHA256(``SIYU_HASH_KEY``, a fixed label), so the hash key itself is used once."""
    return hmac.new(get_settings().hash_key.encode(), _HMAC_CONTEXT, hashlib.sha256).digest()


def _row_hash(row: _Row, seq: int | None = None) -> str:
    return entry_hash(row.seq if seq is None else seq, row.at, row.actor, row.actor_role, row.action,
                      row.target_type, row.target, row.details, row.prev_hash)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


def _refuse_pii(value: Any, field: str) -> None:
    if isinstance(value, str) and _PHONE.fullmatch(value.strip()):
        raise StoreInputError(f"{field} holds what looks like a plaintext phone number; record a one_id, token "
                              "or masked value instead", code="plaintext_pii", input_name=field)
    if isinstance(value, Mapping):
        for item in value.values():
            _refuse_pii(item, field)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_pii(item, field)


def _text(value: str | None, field: str, longest: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise StoreInputError(f"{field} must be text", input_name=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StoreInputError(f"{field} is not valid Unicode text", input_name=field) from exc
    return check_text(value, field, longest)


def _entry(row: _Row) -> AuditEntry:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = None
    return AuditEntry(seq=row.seq, at=row.at, actor=row.actor, actor_role=row.actor_role, action=row.action,
                      target_type=row.target_type, target=row.target,
                      details=details if isinstance(details, dict) else {"_unparsed": row.details},
                      prev_hash=row.prev_hash, hash=row.hash, hmac=row.hmac)


def _tail(session: Session) -> _Row | None:
    return session.execute(select(_T.seq, _T.hash).order_by(_T.seq.desc()).limit(1)).first()


class AuditLog:
    """The audit log in one operational store: :meth:`record`, :meth:`entries`, :meth:`verify`, :meth:`head`.

    ``hmac_key``: :data:`FROM_SETTINGS` (default), explicit key bytes/text, or None for no HMAC. ``clock``
    gives each entry's time (aware). ``batch_size`` is how many entries :meth:`verify` and :meth:`scan`
    hold at once.

    >>> log = AuditLog(open_store("sqlite://"))
    >>> log.record("a1b2c3d4e5f6", "analyst", "pii_read", "one_id", "o_42", {"fields": ["phone"]}).seq
    1
    """

    def __init__(self, store: Store | Engine, *, hmac_key: bytes | str | _KeyFrom | None = FROM_SETTINGS,
                 clock: Callable[[], datetime] = utcnow, batch_size: int = 5000) -> None:
        self.store = store if isinstance(store, Store) else Store(store)
        if isinstance(hmac_key, _KeyFrom):
            self._key: bytes | None = settings_hmac_key()
        else:
            self._key = hmac_key.encode() if isinstance(hmac_key, str) else hmac_key
        if batch_size < 1:
            raise StoreInputError("batch_size must be at least 1", input_name="batch_size")
        self._clock, self._batch = clock, batch_size

    @property
    def keyed(self) -> bool:
        """Whether entries get (and :meth:`verify` checks) an HMAC."""
        return self._key is not None

    def _mac(self, digest: str) -> str | None:
        return None if self._key is None else hmac.new(self._key, digest.encode(), hashlib.sha256).hexdigest()

    def record(self, actor: str, role: str | None, action: AuditAction | str, target_type: str | None = None,
               target: str | None = None, details: Mapping[str, Any] | None = None, *,
               session: Session | None = None) -> AuditEntry:
        """Append one entry and return it. Safe with concurrent writers (threads, processes, machines).

        ``details`` must be JSON-able and hold no plaintext PII; put a row count under :data:`ROWS`. Pass
        ``session`` (from ``store.writing()``) to append inside a caller's transaction, so the audited change
        and its entry commit together (appends by others wait for that commit); otherwise the entry gets its own
        transaction, retried on a lost race.
        """
        if action not in AuditAction.__members__.values():
            raise StoreInputError(f"unknown audit action {action!r}; one of {', '.join(AuditAction)}",
                                  input_name="action")
        _refuse_pii(target, "target")
        _refuse_pii(details, "details")
        try:
            details_text = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=False, allow_nan=False, default=_jsonable)
        except (TypeError, ValueError) as exc:
            raise StoreInputError(f"audit details must be a JSON object: {exc}", input_name="details") from exc
        values = {"actor": _text(actor, "actor", 128), "actor_role": _text(role, "role", 32),
                  "action": str(AuditAction(action)), "target_type": _text(target_type, "target_type", 32),
                  "target": _text(target, "target", 256), "details": _text(details_text, "details", 1 << 20)}
        if not values["actor"]:
            raise StoreInputError("an audit entry needs an actor (key id or user)", input_name="actor")
        if session is not None:
            return self._append(session, values)
        for attempt in range(_RETRIES):
            try:
                with self.store.writing() as own:
                    return self._append(own, values)
            except (IntegrityError, OperationalError) as exc:  # seq taken by a writer that did not lock, or busy
                if isinstance(exc, OperationalError) and "locked" not in str(exc):
                    raise
                if attempt == _RETRIES - 1:
                    raise Conflict("could not append to the audit log: other writers kept winning") from exc
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    def _append(self, session: Session, values: dict[str, Any]) -> AuditEntry:
        if session.get_bind().dialect.name == "postgresql":  # one appender at a time; readers are not blocked
            session.execute(text("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE"))
        last = _tail(session)  # on SQLite the transaction already holds the write lock (BEGIN IMMEDIATE)
        seq, prev = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
        at = self._clock()
        if at.tzinfo is None:
            raise ValueError(f"the audit clock gave a naive time {at!r}; it must be timezone-aware")
        at = at.astimezone(UTC)
        digest = entry_hash(seq, at, prev_hash=prev, **values)
        row = {"seq": seq, "at": at, **values, "prev_hash": prev, "hash": digest, "hmac": self._mac(digest)}
        session.execute(insert(AuditRecord).values(**row))
        return _entry(SimpleNamespace(**row))

    def head(self) -> Head | None:
        """The newest entry's ``(seq, hash)``, or None for an empty log — record it outside the database."""
        with self.store.session() as session:
            last = _tail(session)
        return Head(last.seq, last.hash) if last is not None else None

    def _where(self, since: datetime | None, until: datetime | None, action: str | Collection[str] | None,
               actor: str | None, target: str | None) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if since is not None:
            where.append(_T.at >= since)
        if until is not None:
            where.append(_T.at < until)
        if action is not None:
            actions = [action] if isinstance(action, str) else list(action)
            unknown = [a for a in actions if a not in AuditAction.__members__.values()]
            if unknown:
                raise StoreInputError(f"unknown audit action(s) {unknown}", input_name="action")
            where.append(_T.action.in_([str(a) for a in actions]))
        if actor is not None:
            where.append(_T.actor == check_text(actor, "actor"))
        if target is not None:
            where.append(_T.target == check_text(target, "target"))
        return where

    def entries(self, *, since: datetime | None = None, until: datetime | None = None,
                action: str | Collection[str] | None = None, actor: str | None = None, target: str | None = None,
                offset: int = 0, limit: int = 100, newest_first: bool = False) -> list[AuditEntry]:
        """One page of entries in seq order, filtered by time (``since`` ≤ at < ``until``), action, actor, target."""
        if offset < 0:
            raise StoreInputError("offset must be 0 or more", input_name="offset")
        if not 1 <= limit <= MAX_PAGE:
            raise StoreInputError(f"limit must be between 1 and {MAX_PAGE}", input_name="limit")
        order = _T.seq.desc() if newest_first else _T.seq
        stmt = select(*_COLUMNS).where(*self._where(since, until, action, actor, target)).order_by(order)
        with self.store.session() as session:
            return [_entry(row) for row in session.execute(stmt.offset(offset).limit(limit))]

    def count(self, *, since: datetime | None = None, until: datetime | None = None,
              action: str | Collection[str] | None = None, actor: str | None = None, target: str | None = None
              ) -> int:
        """How many entries :meth:`entries` would page through with the same filters."""
        stmt = select(func.count()).select_from(_T).where(*self._where(since, until, action, actor, target))
        with self.store.session() as session:
            return int(session.scalar(stmt) or 0)

    def scan(self, *, since: datetime | None = None, until: datetime | None = None,
             action: str | Collection[str] | None = None, actor: str | None = None) -> Iterator[AuditEntry]:
        """Every matching entry in seq order, read :attr:`batch_size` at a time (for alerts and exports)."""
        for row in self._rows(self._where(since, until, action, actor, None)):
            yield _entry(row)

    def _rows(self, where: list[ColumnElement[bool]] | None = None) -> Iterator[_Row]:
        after = 0
        while True:  # keyset pages, each in its own short read transaction
            with self.store.session() as session:
                rows = session.execute(select(*_COLUMNS).where(_T.seq > after, *(where or []))
                                       .order_by(_T.seq).limit(self._batch)).all()
            yield from rows
            if len(rows) < self._batch:
                return
            after = rows[-1].seq

    def verify(self, expected_head: Head | tuple[int, str] | str | None = None, *,
               check_hmac: bool | None = None) -> VerifyReport:
        """Walk the chain in seq order, :attr:`batch_size` entries at a time, and report the first break.

        ``expected_head`` is a head recorded earlier (:meth:`head`): without it, deleting the newest entries
        cannot be detected. ``check_hmac`` defaults to whether this log has a key.
        """
        anchor = None if expected_head is None else Head.parse(
            expected_head if isinstance(expected_head, str) else f"{expected_head[0]}:{expected_head[1]}")
        use_mac = self.keyed if check_hmac is None else check_hmac
        if use_mac and not self.keyed:
            raise StoreInputError("cannot check HMACs: no audit HMAC key is configured", input_name="check_hmac")
        checked, last = 0, None
        for row in self._rows():
            broken = self._check(row, last, use_mac)
            if broken is None and anchor is not None and row.seq == anchor.seq and row.hash != anchor.hash:
                broken = (Break.REWRITTEN, row.seq, f"entry {row.seq} does not have the recorded head's hash: the "
                                                     f"chain up to it was rebuilt after the head was recorded")
            if broken is not None:
                return VerifyReport(False, checked, last, broken[1], broken[0], broken[2], use_mac)
            checked, last = checked + 1, Head(row.seq, row.hash)
        if anchor is not None and (last is None or last.seq < anchor.seq):
            end = last.seq if last is not None else 0
            return VerifyReport(False, checked, last, end + 1, Break.TRUNCATED,
                                f"the log ends at entry {end} but the recorded head is entry {anchor.seq}: "
                                f"entries {end + 1}..{anchor.seq} were deleted", use_mac)
        where = f"; head {last}" if last is not None else ""
        return VerifyReport(True, checked, last, None, None, f"{checked} entries verified{where}", use_mac)

    def _check(self, row: _Row, last: Head | None, use_mac: bool) -> tuple[Break, int, str] | None:
        """The first thing wrong with ``row`` following ``last`` (None at the start), or None."""
        expected = last.seq + 1 if last is not None else 1
        if row.seq != expected:
            missing = f"entry {expected} is" if row.seq == expected + 1 else f"entries {expected}..{row.seq - 1} are"
            return Break.DELETED, expected, f"{missing} missing: seq jumps from {expected - 1} to {row.seq}"
        if _row_hash(row) != row.hash:
            moved = self._written_as(row)
            if moved is not None and moved != row.seq:
                return Break.REORDERED, row.seq, f"entry {row.seq} holds the entry written as {moved}: reordered"
            return Break.EDITED, row.seq, f"entry {row.seq} was edited: its fields do not hash to its stored hash"
        if row.prev_hash != (last.hash if last is not None else GENESIS):
            return Break.DELETED, row.seq, (f"entry {row.seq} does not follow entry {row.seq - 1} (its prev_hash is "
                                            f"not that entry's hash): an entry between them was removed and later "
                                            f"ones renumbered, or entry {row.seq - 1} was rewritten")
        if use_mac:
            if row.hmac is None:
                return Break.HMAC_MISMATCH, row.seq, f"entry {row.seq} has no HMAC although a key is configured"
            if not hmac.compare_digest(row.hmac, self._mac(row.hash) or ""):
                return Break.HMAC_MISMATCH, row.seq, (f"entry {row.seq}'s HMAC does not match: the chain was rebuilt "
                                                      f"without the key (or a different key is configured)")
        return None

    def _written_as(self, row: _Row) -> int | None:
        """The seq ``row`` was written with, when it verifies right after the entry its prev_hash names."""
        if row.prev_hash == GENESIS:
            before = 0
        else:
            with self.store.session() as session:  # a one-off scan, only once a break has been found
                found = session.scalar(select(func.min(_T.seq)).where(_T.hash == row.prev_hash))
            if found is None:
                return None
            before = int(found)
        return before + 1 if _row_hash(row, before + 1) == row.hash else None
