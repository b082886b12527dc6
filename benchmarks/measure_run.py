"""The measurement benchmark: funnel and retention on DuckDB vs Spark vs pandas, and Markov attribution
over the lake's journeys, on a built lake — every figure against a baseline measured in the same run.

``python -m benchmarks.measure_run --lake BUILT_LAKE [--out bench-out] [--parts funnel,retention,markov]
[--spark-timeout 1800]``

- **funnel**: ``mp_page_viewed → product_viewed → cart_added → order_paid`` within 7 days over the whole
  lake with ``siyu.measure.funnels`` on DuckDB and on Spark (``local[*]``), and a hand-written vectorised
  pandas pipeline (read the four events' columns from dwd Parquet, follow OneID redirects, then one
  ``merge`` + window filter + ``groupby.min`` per step — the first step-1 event is the entry, where siyu
  takes the entry that goes furthest, so pandas' counts can only be lower; both are printed).
- **retention**: monthly acquisition cohorts × months since, active people (``siyu.measure.cohorts``
  ``retention_matrix``) on DuckDB and Spark; pandas from dws user_daily (first active month, then
  ``nunique`` per cohort and month). The cells must be equal; the run says whether they are.
- **markov**: the touches table of every order in the lake (30-day lookback, by channel) on DuckDB, then
  Markov order 1 (exact removal effects) over those journeys; baseline in the same run: linear attribution
  over the same journeys (the cheapest model), so the ratio is what Markov's chain costs on top.
- Peak RSS of this process tree per step (Spark's JVM included); ``OUT/measure-results.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from benchmarks.frames import dump_json
from benchmarks.privacy_run import peak_rss
from benchmarks.run import console, machine
from siyu.warehouse.lake import Lake

PARTS = ("funnel", "retention", "markov")
STEPS = ("mp_page_viewed", "product_viewed", "cart_added", "order_paid")
WINDOW = pd.Timedelta(days=7)


def _timed(results: dict[str, Any], key: str, f: Callable[[], Any], timeout: float | None = None) -> Any:
    """Run ``f`` and record seconds and peak RSS; with ``timeout``, give up waiting (the run says so)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = f()
        except Exception as exc:  # a benchmark reports a failed engine and goes on with the rest
            box["error"] = f"{type(exc).__name__}: {exc}"[:500]

    with peak_rss(results, f"{key}_peak_rss_gib"):
        t0 = time.perf_counter()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout)
        seconds = time.perf_counter() - t0
    if thread.is_alive():
        results[f"{key}_seconds"] = None
        results[f"{key}_error"] = f"did not finish within {timeout:.0f} s"
        console.print(f"{key}: did not finish within {timeout:.0f} s")
        return None
    results[f"{key}_seconds"] = round(seconds, 2)
    if "error" in box:
        results[f"{key}_error"] = box["error"]
    console.print(f"{key}: {seconds:.1f} s" + (f" — {box['error']}" if "error" in box else ""))
    return box.get("value")


def _redirects(lake: Lake) -> pd.DataFrame:
    files = lake.files("identity", "redirects")
    if not files:
        return pd.DataFrame({"from_one_id": pd.Series(dtype=str), "to_one_id": pd.Series(dtype=str)})
    return ds.dataset(files, format="parquet").to_table(columns=["from_one_id", "to_one_id"]).to_pandas()


def _current(frame: pd.DataFrame, redirects: pd.DataFrame) -> pd.DataFrame:
    m = frame.merge(redirects, how="left", left_on="one_id", right_on="from_one_id")
    m["one_id"] = m["to_one_id"].fillna(m["one_id"])
    return m.drop(columns=["from_one_id", "to_one_id"])


def pandas_funnel(lake: Lake) -> list[int]:
    """People reaching each step (loose order, 7-day window from the first step-1 event)."""
    dataset = ds.dataset(lake.files("dwd", "events"), format="parquet", partitioning="hive")
    events = dataset.to_table(columns=["one_id", "event", "event_time"],
                              filter=ds.field("event").isin(list(STEPS)) & ds.field("one_id").is_valid()).to_pandas()
    events = _current(events, _redirects(lake))
    first = events[events["event"] == STEPS[0]].groupby("one_id", as_index=False)["event_time"].min()
    first = first.rename(columns={"event_time": "start"})
    reached = [len(first)]
    current = first.assign(at=first["start"])
    for step in STEPS[1:]:
        cand = events[events["event"] == step].merge(current, on="one_id")
        cand = cand[(cand["event_time"] >= cand["at"]) & (cand["event_time"] <= cand["start"] + WINDOW)]
        current = cand.groupby("one_id", as_index=False).agg(start=("start", "first"), at=("event_time", "min"))
        reached.append(len(current))
    return reached


def pandas_retention(lake: Lake) -> dict[tuple[date, int], int]:
    """(cohort month, months since) → active people, from dws user_daily."""
    dataset = ds.dataset(lake.files("dws", "user_daily"), format="parquet", partitioning="hive")
    daily = dataset.to_table(columns=["one_id", "dt", "active"], filter=ds.field("active")).to_pandas()
    daily = _current(daily, _redirects(lake))
    daily["month"] = pd.to_datetime(daily["dt"]).dt.to_period("M")
    cohort = daily.groupby("one_id")["month"].min().rename("cohort")
    daily = daily.join(cohort, on="one_id")
    daily["period"] = (daily["month"] - daily["cohort"]).apply(lambda d: d.n)
    cells = daily.groupby(["cohort", "period"])["one_id"].nunique()
    return {(c.start_time.date(), int(p)): int(n) for (c, p), n in cells.items()}


def _engine_funnel(engine: Any, lake: Lake) -> list[int]:
    from siyu.measure.funnels import FunnelSpec, funnel
    from siyu.profile.views import register_profile_sources

    register_profile_sources(engine, lake)
    span = engine.query("SELECT min(dt) AS a, max(dt) AS b FROM events").to_pylist()[0]
    table = funnel(engine, FunnelSpec.model_validate({"steps": list(STEPS), "start": span["a"], "end": span["b"]}))
    return [int(r["people"]) for r in table.to_pylist() if r["breakdown"] == "all"]


def _engine_retention(engine: Any, lake: Lake) -> dict[tuple[date, int], int]:
    from siyu.measure.cohorts import CohortSpec, retention_matrix
    from siyu.profile.views import register_profile_sources

    register_profile_sources(engine, lake)
    rows = retention_matrix(engine, CohortSpec(period="month")).to_pylist()
    return {(r["cohort"], int(r["period"])): int(r["retained"]) for r in rows if r["retained"] is not None}


def _spark() -> Any:
    from siyu.warehouse.engine import open_engine

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return open_engine("spark", memory="8g")


def run_funnel(lake: Lake, results: dict[str, Any], spark: Any, spark_timeout: float) -> None:
    from siyu.warehouse.engine import open_engine

    r: dict[str, Any] = {}
    r["duckdb_counts"] = _timed(r, "duckdb", lambda: _engine_funnel(open_engine("duckdb"), lake))
    if spark is not None:
        r["spark_counts"] = _timed(r, "spark", lambda: _engine_funnel(spark, lake), spark_timeout)
    r["pandas_counts"] = _timed(r, "pandas", lambda: pandas_funnel(lake))
    results["funnel"] = r


def run_retention(lake: Lake, results: dict[str, Any], spark: Any, spark_timeout: float) -> None:
    from siyu.warehouse.engine import open_engine

    r: dict[str, Any] = {}
    duck = _timed(r, "duckdb", lambda: _engine_retention(open_engine("duckdb"), lake))
    spark_cells = _timed(r, "spark", lambda: _engine_retention(spark, lake), spark_timeout) if spark else None
    pandas_cells = _timed(r, "pandas", lambda: pandas_retention(lake))
    r["cells"] = len(duck or {})
    r["pandas_equal"] = duck == pandas_cells if duck is not None and pandas_cells is not None else None
    r["spark_equal"] = duck == spark_cells if duck is not None and spark_cells is not None else None
    results["retention"] = r


def run_markov(lake: Lake, results: dict[str, Any]) -> None:
    from siyu.measure.attribution import build_model
    from siyu.measure.attribution.paths import as_journeys
    from siyu.measure.touchpoints import touches_table
    from siyu.profile.views import register_profile_sources
    from siyu.warehouse.engine import open_engine

    r: dict[str, Any] = {}
    eng = open_engine("duckdb")
    register_profile_sources(eng, lake)
    table = _timed(r, "touches", lambda: touches_table(eng, {"lookback_days": 30, "grouping": "channel"}))
    r["touches"] = table.num_rows
    journeys = _timed(r, "journeys", lambda: as_journeys(table))
    table = None  # let the touches go before the models run
    r["journeys"] = journeys.n_journeys
    r["converting_journeys"] = int(journeys.converted.sum())
    r["distinct_paths"] = len(journeys.paths.conversions)
    markov = _timed(r, "markov", lambda: build_model("markov", {"order": 1}).fit(journeys))
    _timed(r, "linear", lambda: build_model("linear").fit(journeys))
    if markov is not None:
        r["markov_credit"] = dict(zip(markov.channels, [round(float(c), 1) for c in markov.conversions],
                                      strict=True))
    results["markov"] = r


def _ratios(results: dict[str, Any]) -> None:
    for part in ("funnel", "retention"):
        r = results.get(part) or {}
        base = r.get("pandas_seconds")
        for engine in ("duckdb", "spark"):
            if base and r.get(f"{engine}_seconds"):
                r[f"{engine}_vs_pandas"] = round(base / r[f"{engine}_seconds"], 2)
    m = results.get("markov") or {}
    if m.get("markov_seconds") and m.get("linear_seconds"):
        m["markov_vs_linear"] = round(m["markov_seconds"] / m["linear_seconds"], 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--spark-timeout", type=float, default=1800.0)
    ap.add_argument("--no-spark", action="store_true")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    lake = Lake(args.lake)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"lake": str(args.lake), "started": datetime.now(UTC).isoformat(), "machine": machine()}
    spark = None if args.no_spark or not ({"funnel", "retention"} & set(parts)) else _spark()
    if "funnel" in parts:
        run_funnel(lake, results, spark, args.spark_timeout)
        dump_json(args.out / "measure-results.partial.json", results)
    if "retention" in parts:
        run_retention(lake, results, spark, args.spark_timeout)
        dump_json(args.out / "measure-results.partial.json", results)
    if "markov" in parts:
        run_markov(lake, results)
    _ratios(results)
    results["finished"] = datetime.now(UTC).isoformat()
    dump_json(args.out / "measure-results.json", results)
    md = ["# Measurement benchmark", "", f"lake: `{args.lake}`", "", "```",
          (args.out / "measure-results.json").read_text(), "```"]
    (args.out / "measure-results.md").write_text("\n".join(md))
    console.print(f"results: {args.out / 'measure-results.json'}")


if __name__ == "__main__":
    main()
