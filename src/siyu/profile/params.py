"""Renaming a compiled query's bound parameters so several queries can share one statement."""

from __future__ import annotations

import re
from typing import Any

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\b")


def with_prefix(sql: str, params: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """``$p0`` → ``$<prefix>p0`` in the SQL and the dict. Values never appear in our SQL, only names do."""
    renamed = _PARAM.sub(lambda m: f"${prefix}{m.group(1)}" if m.group(1) in params else m.group(0), sql)
    return renamed, {f"{prefix}{k}": v for k, v in params.items()}
