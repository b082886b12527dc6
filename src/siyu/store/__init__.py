"""The operational store (运营库): API keys and saved segment definitions, on SQLite (WAL) or PostgreSQL.

SQLAlchemy 2 models with Alembic migrations shipped in the package; :func:`open_store` upgrades the
schema on open so a fresh machine just works. See ``docs/store.md``.
"""

from __future__ import annotations

from siyu.store.db import Store, default_store_url, open_store
from siyu.store.errors import Conflict, NotFound, StoreError, StoreInputError
from siyu.store.keys import KeyInfo, KeyKind, Role, create_key, get_key, list_keys, revoke_key, verify_key
from siyu.store.migrate import current_revision, head_revision, upgrade
from siyu.store.segments import (
    SegmentRecordInfo,
    SegmentVersionInfo,
    as_definition,
    delete_segment,
    get_segment,
    list_segments,
    load_definitions,
    require_segment,
    save_segment,
    segment_history,
)

__all__ = [
    "Conflict",
    "KeyInfo",
    "KeyKind",
    "NotFound",
    "Role",
    "SegmentRecordInfo",
    "SegmentVersionInfo",
    "Store",
    "StoreError",
    "StoreInputError",
    "as_definition",
    "create_key",
    "current_revision",
    "default_store_url",
    "delete_segment",
    "get_key",
    "get_segment",
    "head_revision",
    "list_keys",
    "list_segments",
    "load_definitions",
    "open_store",
    "require_segment",
    "revoke_key",
    "save_segment",
    "segment_history",
    "upgrade",
    "verify_key",
]
