"""Renaming a compiled query's bound parameters so several queries can share one statement."""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import expressions as exp

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)\b")


def with_prefix(sql: str, params: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """``$p0`` → ``$<prefix>p0`` in the SQL and the dict. Values never appear in our SQL, only names do."""
    renamed = _PARAM.sub(lambda m: f"${prefix}{m.group(1)}" if m.group(1) in params else m.group(0), sql)
    return renamed, {f"{prefix}{k}": v for k, v in params.items()}


def namespace_ctes(sql: str, prefix: str) -> str:
    """Rename every CTE of ``sql`` (and the references to it) with ``prefix``.

    Spark hoists CTEs out of subqueries, so two tags that both name a CTE ``r`` clash once they are
    ``UNION ALL``-ed into one statement; prefixing keeps each query's names its own.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    if not names:
        return sql

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CTE):
            node.set("alias", exp.TableAlias(this=exp.to_identifier(prefix + node.alias_or_name)))
        elif isinstance(node, exp.Table) and not node.args.get("db") and node.name in names:
            alias = node.alias or node.name
            return exp.Table(this=exp.to_identifier(prefix + node.name),
                             alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return node

    return tree.transform(rename).sql(dialect="duckdb")
