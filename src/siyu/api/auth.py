"""Who is calling: write keys (HTTP Basic, as Segment) for the collector, user keys with roles for the rest.

A write key can only send events; it reads nothing. A user key carries one role, and each API
permission names the roles that hold it (``PERMISSIONS``); everything else is refused with 403.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request

from siyu.api.errors import ApiError
from siyu.store.keys import PII_ROLES


class Permission(StrEnum):
    READ_PROFILES = "read_profiles"
    READ_PII = "read_pii"
    READ_EVENTS = "read_events"
    READ_SEGMENTS = "read_segments"
    WRITE_SEGMENTS = "write_segments"
    EXPORT_SEGMENTS = "export_segments"
    READ_CATALOGUE = "read_catalogue"
    READ_KPIS = "read_kpis"
    READ_KEYS = "read_keys"
    MANAGE_KEYS = "manage_keys"
    READ_AUDIT = "read_audit"
    READ_CONSENT = "read_consent"


#: Which roles hold each permission. Auditors see key metadata (and, with the privacy room, the
#: audit log) but no customer data; only admins see unmasked identifiers.
PERMISSIONS: dict[Permission, frozenset[str]] = {
    Permission.READ_PROFILES: frozenset({"admin", "analyst", "operator"}),
    Permission.READ_PII: PII_ROLES,
    Permission.READ_EVENTS: frozenset({"admin", "analyst", "operator"}),
    Permission.READ_SEGMENTS: frozenset({"admin", "analyst", "operator"}),
    Permission.WRITE_SEGMENTS: frozenset({"admin", "operator"}),
    Permission.EXPORT_SEGMENTS: frozenset({"admin", "operator"}),
    Permission.READ_CATALOGUE: frozenset({"admin", "analyst", "operator"}),
    Permission.READ_KPIS: frozenset({"admin", "analyst", "operator"}),
    Permission.READ_KEYS: frozenset({"admin", "auditor"}),
    Permission.MANAGE_KEYS: frozenset({"admin"}),
    Permission.READ_AUDIT: frozenset({"admin", "auditor"}),
    Permission.READ_CONSENT: frozenset({"admin", "analyst", "operator", "auditor"}),
}


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated key behind a request."""

    key_id: str
    name: str
    kind: str
    role: str | None
    source: str | None
    rate_limit_per_minute: int | None

    def may(self, permission: Permission) -> bool:
        return self.kind == "user" and self.role in PERMISSIONS[permission]


def basic_username(header: str | None) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header (Segment puts the write key there)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, _, _password = decoded.partition(":")
    return user or None


def bearer_token(request: Request) -> str | None:
    """A user key from ``Authorization: Bearer …`` or ``X-API-Key``."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="siyu"'})


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)
