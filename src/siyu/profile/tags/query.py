"""Questions answered from stored tag data: value counts, "who had T on D", "who entered/left T this week"."""

from __future__ import annotations

from datetime import date
from typing import Any

from siyu.core.errors import SiyuError
from siyu.profile.history import changes_between, state_on, week_of
from siyu.warehouse.build import register_layer
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake

_KEYS = ("one_id", "tag")


def _engine(lake: Lake, table: str, engine: Engine | str) -> Engine:
    if not lake.exists("ads", table):
        raise SiyuError(f"no ads/{table} in this lake: run `siyu tags build` first", code="tags_not_built")
    eng = open_engine(engine) if isinstance(engine, str) else engine
    register_layer(eng, lake, "ads", table)
    return eng


def tag_value_counts(lake: Lake, tag: str, engine: Engine | str = "duckdb") -> list[dict[str, Any]]:
    """People per value of ``tag`` today, largest first, with the mean score."""
    eng = _engine(lake, "tag_values", engine)
    return eng.query("SELECT value, count(*) AS people, round(avg(score), 4) AS mean_score FROM ads_tag_values "
                     "WHERE tag = $tag GROUP BY value ORDER BY people DESC, value", {"tag": tag}).to_pylist()


def _recorded_last(eng: Engine) -> date:
    day = eng.query("SELECT max(dt) AS d FROM ads_tag_values_changes")["d"][0].as_py()
    if day is None:
        raise SiyuError("no tag history recorded yet", code="tags_not_built")
    return day


def tag_holders_on(lake: Lake, tag: str, day: date | None, *, limit: int = 20,
                   engine: Engine | str = "duckdb") -> dict[str, Any]:
    """Who had ``tag`` on ``day`` (default: the last recorded day), from ``ads/tag_values_changes``."""
    eng = _engine(lake, "tag_values_changes", engine)
    day = day or _recorded_last(eng)
    held = state_on(eng, "ads_tag_values_changes", _KEYS, day, where="AND tag = $tag", params={"tag": tag})
    rows = sorted(held.to_pylist(), key=lambda r: r["one_id"])
    counts: dict[str, int] = {"people": len(rows)}
    for r in rows:
        counts[f"value={r['value']}"] = counts.get(f"value={r['value']}", 0) + 1
    return {"question": f"who had it on {day}", "day": day, "counts": counts,
            "people": [{"one_id": r["one_id"], "value": r["value"], "since": r["since"]} for r in rows[:limit]]}


def tag_changes_in_week(lake: Lake, tag: str, day: date | None, *, limit: int = 20,
                        engine: Engine | str = "duckdb") -> dict[str, Any]:
    """Who entered, left or changed value of ``tag`` during ``day``'s week (net of the week)."""
    eng = _engine(lake, "tag_values_changes", engine)
    start, end = week_of(day or _recorded_last(eng))
    rows = sorted(changes_between(eng, "ads_tag_values_changes", _KEYS, start, end, where="AND tag = $tag",
                                  params={"tag": tag}).to_pylist(), key=lambda r: (r["change"], r["one_id"]))
    counts = {k: sum(1 for r in rows if r["change"] == k) for k in ("entered", "left", "changed")}
    return {"question": f"who entered / left in the week {start} – {end}", "start": start, "end": end,
            "counts": counts, "people": [{k: r[k] for k in ("one_id", "change", "from_value", "to_value")}
                                         for r in rows[:limit]]}
