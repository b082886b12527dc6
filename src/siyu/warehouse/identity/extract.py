"""Identity nodes and edges from lake rows, as SQL that runs on every engine.

Each event links its *anchor* (its highest-priority identifier) to each other identifier it
carries; an order from the order system links its phone, openid and member_no the same way.
The SQL text is generated from the identifier table in ``siyu.core``, never from user input.
"""

from __future__ import annotations

from siyu.core.identifiers import ID_COLUMNS, IDENTIFIER_PRIORITY, IdentifierType

BY_PRIORITY = sorted(IdentifierType, key=lambda t: -IDENTIFIER_PRIORITY[t])


def _anchor_sql(columns: dict[IdentifierType, str]) -> tuple[str, str]:
    kinds = [t for t in BY_PRIORITY if t in columns]
    type_case = "CASE " + " ".join(f"WHEN {columns[t]} IS NOT NULL THEN '{t.value}'" for t in kinds) + " END"
    value = "COALESCE(" + ", ".join(columns[t] for t in kinds) + ")"
    return type_case, value


def anchor_columns_sql(columns: dict[IdentifierType, str] | None = None) -> str:
    """``anchor_type, anchor_value`` select list (default: the wide ``id_*`` columns)."""
    type_case, value = _anchor_sql(columns or ID_COLUMNS)
    return f"{type_case} AS anchor_type, {value} AS anchor_value"


def nodes_sql(view: str, columns: dict[IdentifierType, str], time_col: str, day_col: str) -> str:
    """``(identifier_type, identifier_value, first_seen, dt)`` for every identifier in ``view``."""
    parts = [
        f"SELECT '{t.value}' AS identifier_type, {col} AS identifier_value, {time_col} AS ts, {day_col} AS dt "
        f"FROM {view} WHERE {col} IS NOT NULL"
        for t, col in columns.items()
    ]
    return (
        "SELECT identifier_type, identifier_value, min(ts) AS first_seen, dt FROM ("
        + " UNION ALL ".join(parts)
        + ") AS n GROUP BY identifier_type, identifier_value, dt"
    )


def edges_sql(view: str, columns: dict[IdentifierType, str], time_col: str, evidence_col: str, rule: str,
              day_col: str) -> str:
    """Anchor-to-other edges per day with first-seen time and the smallest evidence id (deterministic)."""
    type_case, value = _anchor_sql(columns)
    base = (
        f"SELECT {type_case} AS a_type, {value} AS a_value, {time_col} AS ts, {evidence_col} AS ev, "
        f"{day_col} AS dt, " + ", ".join(columns.values()) + f" FROM {view}"
    )
    parts = [
        f"SELECT a_type, a_value, '{t.value}' AS b_type, {col} AS b_value, ts, ev, dt FROM base "
        f"WHERE {col} IS NOT NULL AND a_type <> '{t.value}'"
        for t, col in columns.items()
    ]
    return (
        f"WITH base AS ({base}) "
        "SELECT a_type, a_value, b_type, b_value, min(ts) AS first_seen, min(ev) AS evidence, "
        f"'{rule}' AS rule, dt FROM (" + " UNION ALL ".join(parts) + ") AS e "
        "GROUP BY a_type, a_value, b_type, b_value, dt"
    )


EVENT_ID_COLUMNS = ID_COLUMNS
ORDER_ID_COLUMNS = {
    IdentifierType.PHONE: "phone",
    IdentifierType.OPENID: "openid",
    IdentifierType.MEMBER_NO: "member_no",
}
