"""Saved segments (人群): definitions kept in the store with a version bumped on every change.

Rules are parsed and checked with :mod:`siyu.profile.rules` before they are saved — an invalid rule, or
one that names a segment that does not exist, is refused — and stored in canonical text and JSON form.
Every create, change and delete appends a :class:`~siyu.store.models.SegmentVersion` snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeGuard

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.profile.rules import check_rule, parse_rule, to_json, to_text
from siyu.profile.rules.ast import InSegment, Rule, walk
from siyu.profile.rules.check import check_segments
from siyu.profile.rules.schema import DEFAULT_SCHEMA, RuleSchema
from siyu.profile.segments import SegmentDefinition
from siyu.profile.tags.model import TAG_NAME
from siyu.store.db import Store
from siyu.store.errors import Conflict, NotFound, StoreInputError, check_text
from siyu.store.models import SegmentRecord, SegmentVersion, utcnow

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class SegmentRecordInfo:
    """A saved segment at its current version."""

    name: str
    name_zh: str
    owner: str
    description: str
    rule_text: str
    rule_json: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True, slots=True)
class SegmentVersionInfo:
    """One entry of a segment's history: what it was after a create, update or delete."""

    name: str
    version: int
    action: str
    name_zh: str
    owner: str
    description: str
    rule_text: str
    rule_json: dict[str, Any]
    changed_at: datetime
    changed_by: str | None


def _info(row: SegmentRecord) -> SegmentRecordInfo:
    return SegmentRecordInfo(name=row.name, name_zh=row.name_zh, owner=row.owner, description=row.description,
                             rule_text=row.rule_text, rule_json=row.rule_json, version=row.version,
                             created_at=row.created_at, updated_at=row.updated_at, updated_by=row.updated_by)


def _check_name(name: object) -> str:
    if not _valid_name(name):
        raise StoreInputError(f"segment names are lower-case letters, digits and '_', starting with a letter, "
                              f"at most 63 characters: {name!r}", code="bad_segment_name", input_name="name")
    return name


def _valid_name(name: object) -> TypeGuard[str]:
    return isinstance(name, str) and re.fullmatch(TAG_NAME, name) is not None


def _segment_refs(rule: Rule) -> set[str]:
    return {leaf.name for leaf in walk(rule) if isinstance(leaf, InSegment)}


def save_segment(store: Store, definition: SegmentDefinition, *, by: str | None,
                 expected_version: int | None = None, schema: RuleSchema = DEFAULT_SCHEMA) -> SegmentRecordInfo:
    """Create or update a segment; the version goes up only when something changed.

    Raises ``RuleError`` for an invalid rule (with its message and position), :class:`Conflict` when
    ``expected_version`` is given and is not the current version (0 means "must not exist yet").
    """
    name = _check_name(definition.name)
    for field, longest in (("name_zh", 64), ("owner", 128), ("description", 2000)):
        check_text(getattr(definition, field), field, longest)
    if by is not None:
        check_text(by, "by", 128)
    checked = check_rule(parse_rule(definition.rule), schema)
    text, as_json = check_text(to_text(checked), "rule"), to_json(checked)
    with store.writing() as session:
        row = session.get(SegmentRecord, name, with_for_update=True)
        current = row.version if row is not None else 0
        if expected_version is not None and expected_version != current:
            raise Conflict(f"segment {name!r} is at version {current}, not {expected_version}", input_name="version")

        def lookup(ref: str) -> Rule | None:
            if ref == name:
                return checked
            if not _valid_name(ref):
                return None
            found = session.get(SegmentRecord, ref)
            return parse_rule(found.rule_text) if found is not None else None

        check_segments(checked, lookup, schema)  # unknown segments and cycles fail here, not at evaluation
        fields = {"name_zh": definition.name_zh, "owner": definition.owner, "description": definition.description,
                  "rule_text": text}
        if row is not None and all(getattr(row, k) == v for k, v in fields.items()):
            return _info(row)
        now, action = utcnow(), "update" if row is not None else "create"
        if row is None:
            version = _last_version(session, name) + 1  # a re-created segment continues its old history
            row = SegmentRecord(name=name, version=version, created_at=now, rule_json=as_json, updated_at=now,
                                updated_by=by, **fields)
            session.add(row)
        else:
            for key, value in {**fields, "rule_json": as_json, "version": row.version + 1, "updated_at": now,
                               "updated_by": by}.items():
                setattr(row, key, value)
        _append(session, row, action, by)
        try:
            session.flush()
        except IntegrityError as exc:
            raise Conflict(f"segment {name!r} was changed at the same time; try again") from exc
        return _info(row)


def _last_version(session: Session, name: str) -> int:
    return session.scalar(select(func.max(SegmentVersion.version)).where(SegmentVersion.name == name)) or 0


def _append(session: Session, row: SegmentRecord, action: str, by: str | None) -> None:
    session.add(SegmentVersion(name=row.name, version=row.version, action=action, name_zh=row.name_zh,
                               owner=row.owner, description=row.description, rule_text=row.rule_text,
                               rule_json=row.rule_json, changed_at=row.updated_at, changed_by=by))


def get_segment(store: Store, name: str) -> SegmentRecordInfo | None:
    """The saved segment called ``name``, or None."""
    if not _valid_name(name):
        return None
    with store.session() as session:
        row = session.get(SegmentRecord, name)
        return _info(row) if row is not None else None


def list_segments(store: Store, *, offset: int = 0, limit: int = 50, owner: str | None = None
                  ) -> tuple[list[SegmentRecordInfo], int]:
    """One page of saved segments by name, and how many there are in all (for this owner, if given)."""
    if offset < 0:
        raise StoreInputError("offset must be 0 or more", input_name="offset")
    if not 1 <= limit <= MAX_PAGE:
        raise StoreInputError(f"limit must be between 1 and {MAX_PAGE}", input_name="limit")
    where = [SegmentRecord.owner == check_text(owner, "owner")] if owner is not None else []
    with store.session() as session:
        total = session.scalar(select(func.count()).select_from(SegmentRecord).where(*where)) or 0
        rows = session.scalars(select(SegmentRecord).where(*where).order_by(SegmentRecord.name)
                               .offset(offset).limit(limit))
        return [_info(row) for row in rows], total


def delete_segment(store: Store, name: str, *, by: str | None = None) -> bool:
    """Delete a segment (its history stays); False when there was none. Refused while another segment uses it."""
    if not _valid_name(name):
        return False
    if by is not None:
        check_text(by, "by", 128)
    with store.writing() as session:
        row = session.get(SegmentRecord, name, with_for_update=True)
        if row is None:
            return False
        users = sorted(other.name for other in session.scalars(select(SegmentRecord).where(SegmentRecord.name != name))
                       if name in _segment_refs(parse_rule(other.rule_text)))
        if users:
            raise Conflict(f"segment {name!r} is used by in_segment in: {', '.join(users)}", input_name="name")
        row.version += 1
        row.updated_at = utcnow()
        _append(session, row, "delete", by)
        session.delete(row)
        return True


def segment_history(store: Store, name: str) -> list[SegmentVersionInfo]:
    """Every version of the segment, oldest first (empty when it never existed)."""
    if not _valid_name(name):
        return []
    with store.session() as session:
        rows = session.scalars(select(SegmentVersion).where(SegmentVersion.name == name)
                               .order_by(SegmentVersion.version))
        return [SegmentVersionInfo(name=r.name, version=r.version, action=r.action, name_zh=r.name_zh,
                                   owner=r.owner, description=r.description, rule_text=r.rule_text,
                                   rule_json=r.rule_json, changed_at=r.changed_at, changed_by=r.changed_by)
                for r in rows]


def as_definition(record: SegmentRecordInfo) -> SegmentDefinition:
    """The saved segment as the profile room's :class:`SegmentDefinition` (for ``open_profile(segments=…)``)."""
    return SegmentDefinition(name=record.name, name_zh=record.name_zh, owner=record.owner,
                             description=record.description, rule=record.rule_text)


def load_definitions(store: Store) -> dict[str, SegmentDefinition]:
    """Every saved segment as a definition, by name."""
    with store.session() as session:
        return {row.name: as_definition(_info(row)) for row in session.scalars(select(SegmentRecord))}


def require_segment(store: Store, name: str) -> SegmentRecordInfo:
    """Like :func:`get_segment`, raising :class:`NotFound` instead of returning None."""
    found = get_segment(store, name)
    if found is None:
        raise NotFound(f"no saved segment named {name!r}", code="unknown_segment", input_name="name")
    return found
