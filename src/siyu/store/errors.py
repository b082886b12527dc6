"""Typed store errors: bad input (also a ``ValueError``), unknown names and write conflicts."""

from __future__ import annotations

from siyu.core.errors import SiyuError


class StoreError(SiyuError):
    """Base of every operational-store error."""

    code = "store_error"


class StoreInputError(StoreError, ValueError):
    """A value the caller gave is not acceptable (wrong key kind, missing role, bad page size, …)."""

    code = "invalid_input"


class NotFound(StoreError, LookupError):
    """No row with that key or name."""

    code = "not_found"


class Conflict(StoreError):
    """The write lost a race or would break a reference (stale version, segment still in use)."""

    code = "conflict"


def check_text(value: str, field: str, max_length: int | None = None) -> str:
    """``value`` if it is storable text: PostgreSQL refuses NUL characters, so every backend does."""
    if "\x00" in value:
        raise StoreInputError(f"{field} contains a NUL character", input_name=field)
    if max_length is not None and len(value) > max_length:
        raise StoreInputError(f"{field} is longer than {max_length} characters", input_name=field)
    return value
