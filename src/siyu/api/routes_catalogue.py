"""The tag catalogue and KPI series, read from the lake's ADS tables."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Depends, Path, Query

from siyu.api.auth import Caller, Permission
from siyu.api.deps import require, runtime
from siyu.api.errors import ApiError
from siyu.api.models import ErrorOut, KpiInfo, KpiOut, KpiPoint, TagOut, TagPage
from siyu.api.periods import default_period
from siyu.api.runtime import ServiceRuntime

router = APIRouter(tags=["catalogue"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
    422: {"model": ErrorOut}, 429: {"model": ErrorOut},
}

#: KPIs served from ``ads/kpi_daily`` (the measurement room adds the full catalogue): name → (SQL
#: aggregate over the days of one period, description, unit). Sums add up over a period; DAU averages.
KPIS: dict[str, tuple[str, str, str]] = {
    "new_users": ("sum(new_users)", "People first active in the period (新增用户)", "people"),
    "dau": ("avg(dau)", "Daily active people, averaged over the period's days (日活)", "people"),
    "orders": ("sum(orders)", "Paid orders (订单数)", "orders"),
    "gmv": ("sum(gmv)", "Gross merchandise value of paid orders (成交额)", "CNY"),
    "buyers_daily": ("sum(buyers)", "Buyer-days: people with an order, summed over days (下单人天)", "people"),
    "repeat_buyers_daily": ("sum(repeat_buyers)", "Repeat-buyer-days: buyers who had bought before (复购人天)",
                            "people"),
    "aov": ("sum(gmv) / nullif(sum(orders), 0)", "Average order value (客单价)", "CNY"),
}
_GRAIN = {"day": "dt", "week": "date_trunc('week', dt)", "month": "date_trunc('month', dt)"}


@router.get("/v1/tags", response_model=TagPage, responses=_ERRORS, summary="The tag catalogue with coverage")
def tags(offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100,
         kind: Annotated[Literal["rule", "statistical", "predictive", "composite"] | None, Query()] = None,
         category: Annotated[str | None, Query(max_length=64)] = None, rt: ServiceRuntime = Depends(runtime),
         _c: Caller = Depends(require(Permission.READ_CATALOGUE))) -> TagPage:
    files = rt.lake.files("ads", "tag_catalogue")
    if not files:
        return TagPage(total=0, offset=offset, limit=limit, items=[])
    con = duckdb.connect()
    try:
        rel = con.read_parquet(files, hive_partitioning=False)
        con.register("catalogue", rel)
        where, params = ["($kind IS NULL OR kind = $kind)", "($cat IS NULL OR category = $cat)"], {
            "kind": kind, "cat": category}
        total = con.execute(f"SELECT count(*) FROM catalogue WHERE {' AND '.join(where)}", params).fetchone()
        res = con.execute(f"SELECT * FROM catalogue WHERE {' AND '.join(where)} ORDER BY tag LIMIT $lim OFFSET $off",
                          {**params, "lim": limit, "off": offset})
        names = [d[0] for d in res.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in res.fetchall()]
    finally:
        con.close()
    items = [TagOut(**{k: _iso(r.get(k)) for k in TagOut.model_fields}) for r in rows]
    return TagPage(total=int(total[0]) if total else 0, offset=offset, limit=limit, items=items)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


@router.get("/v1/kpis", response_model=list[KpiInfo], responses=_ERRORS, summary="KPIs this API can serve")
def kpi_list(_c: Caller = Depends(require(Permission.READ_KPIS))) -> list[KpiInfo]:
    return [KpiInfo(name=n, description=d, unit=u) for n, (_sql, d, u) in KPIS.items()]


@router.get("/v1/kpis/{name}", response_model=KpiOut, summary="One KPI over a period", responses={
    **_ERRORS, 503: {"model": ErrorOut, "description": "The lake has no KPIs yet (the first build is running)."}})
def kpi(name: Annotated[str, Path(max_length=64)],
        since: Annotated[date | None, Query(description="First day (default: 30 days before until).")] = None,
        until: Annotated[date | None, Query(description="Last day (default: the last day with data).")] = None,
        grain: Annotated[Literal["day", "week", "month"], Query()] = "day",
        rt: ServiceRuntime = Depends(runtime), _c: Caller = Depends(require(Permission.READ_KPIS))) -> KpiOut:
    if name not in KPIS:
        raise ApiError(404, "unknown_kpi", f"unknown KPI {name!r}; GET /v1/kpis lists them")
    files = rt.lake.files("ads", "kpi_daily")
    if not files:
        raise ApiError(503, "no_data", "the lake has no KPIs yet: the first build has not finished")
    con = duckdb.connect()
    try:
        con.register("kpi_daily", con.read_parquet(files, hive_partitioning=True))
        last = con.execute("SELECT max(CAST(dt AS DATE)) FROM kpi_daily").fetchone()
        start, end = default_period(since, until, default_until=last[0] if last and last[0] else date.today(),
                                    default_days=29)
        if start > end:
            raise ApiError(400, "bad_period", "'since' is after 'until'")
        if (end - start).days > 3660:
            raise ApiError(400, "bad_period", "a period is at most ten years")
        agg, _d, _u = KPIS[name]
        rows = con.execute(
            f"SELECT CAST({_GRAIN[grain]} AS DATE) AS period, CAST({agg} AS DOUBLE) AS value FROM "
            "(SELECT CAST(dt AS DATE) AS dt, * EXCLUDE (dt) FROM kpi_daily) AS k "
            "WHERE dt BETWEEN $s AND $e GROUP BY 1 ORDER BY 1", {"s": start, "e": end}).fetchall()
    finally:
        con.close()
    return KpiOut(name=name, grain=grain, since=start.isoformat(), until=end.isoformat(),
                  points=[KpiPoint(period=p.isoformat(), value=v) for p, v in rows])
