"""``siyu demo``: synth → import → build (DuckDB) → a summary checked against the planted truth."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from siyu.cli.output import console, kv_table, out, progress_bar


def _progress_import(world: Path, lake_dir: Path) -> Any:
    from siyu.warehouse.loader import import_source

    with progress_bar("importing events", None) as advance:
        return import_source(world, lake_dir, progress=advance)


def _train_models(lake: Any, engine: str, days: int) -> dict[str, Any]:
    """Train each model the demo shows; a model the small world cannot support is reported, not fatal."""
    from siyu.core.errors import SiyuError
    from siyu.models.runner import train_model

    settings: dict[str, dict[str, Any]] = {
        "clv": {"holdout_days": 60 if days >= 150 else 0},
        "churn": {"lead_time_people": 100},
        "purchase_intent": {},
        "cluster": {},
        "baskets": {"min_support": 0.001},
    }
    done: dict[str, Any] = {}
    for name, config in settings.items():
        try:
            done[name] = train_model(lake, name, engine=engine, config=config)
        except SiyuError as exc:
            done[name] = str(exc)
    return done


def _print_models(models: dict[str, Any], truth: dict[str, Any]) -> None:
    clv = models.get("clv")
    if isinstance(clv, str):
        out.print(f"CLV model not trained: {clv}")
        return
    if clv is None:
        return
    v = clv.version
    planted = {**truth["bg_nbd"], **truth["gamma_gamma"]}
    rows = {k: f"{v.params[k]:.3f} (planted {planted[k]})" for k in ("r", "alpha", "a", "b", "p", "q", "gamma")}
    if "holdout_total_error" in v.metrics:
        rows["holdout purchases, predicted vs actual"] = f"{v.metrics['holdout_total_error']:+.1%}"
    rows["customers scored"] = f"{clv.predictions:,}"
    out.print(kv_table(f"CLV model (客户终身价值) {v.label}: BG/NBD + Gamma-Gamma", rows))
    others: dict[str, str] = {}
    warnings = (("churn", "流失预警 churn (30 days)"), ("purchase_intent", "购买意向 purchase intent (7 days)"))
    for name, label in warnings:
        got = models.get(name)
        if isinstance(got, str) or got is None:
            others[label] = f"not trained: {got}"
            continue
        m = got.version.metrics
        nan = float("nan")
        others[label] = (f"AUC {m.get('auc', nan):.3f} vs recency rule {m.get('baseline_auc', nan):.3f}"
                         f" · Brier {m.get('brier', nan):.3f} · {got.predictions:,} people scored")
    cluster = models.get("cluster")
    if cluster is not None and not isinstance(cluster, str):
        m = cluster.version.metrics
        others["客户分群 clusters (k-means)"] = (f"k = {int(m.get('k', 0))}, silhouette {m.get('silhouette', 0):.2f} · "
                                              f"{cluster.predictions:,} people")
    baskets = models.get("baskets")
    if baskets is not None and not isinstance(baskets, str):
        m = baskets.version.metrics
        others["购物篮 basket rules (FP-growth)"] = (f"{int(m.get('rules', 0)):,} rule(s) from "
                                                 f"{int(m.get('baskets', 0)):,} orders")
    out.print(kv_table("predictive models (预测模型) · siyu models list --lake …", others))


def run_demo(out_dir: Path, *, users: int, days: int, seed: int, engine: str = "duckdb") -> dict[str, Any]:
    """Run the whole foundation once and print what it found; returns the summary as a dict."""
    from siyu.cli.profile_cmds import default_tag_defs
    from siyu.measure.report import write_report
    from siyu.measure.report_build import build_report_data
    from siyu.profile.lifecycle import STAGES
    from siyu.profile.tags.build import build_tags
    from siyu.synth import generate_world
    from siyu.warehouse.build import build
    from siyu.warehouse.identity.evaluate import pairwise_score
    from siyu.warehouse.lake import Lake

    world, lake_dir = out_dir / "world", out_dir / "lake"
    for d in (world, lake_dir):
        shutil.rmtree(d, ignore_errors=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with progress_bar(f"synthesising {users:,} people × {days} days", users) as advance:
        done = 0

        def on_progress(n: int) -> None:
            nonlocal done
            advance(n - done)
            done = n

        generate_world(world, users=users, days=days, seed=seed, progress=on_progress)
    timings["synth"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    imp = _progress_import(world, lake_dir)
    timings["import"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lake = Lake(lake_dir)
    with console.status(f"building the lake on {engine}") as status:
        rep = build(lake, engine, step=lambda m: status.update(m))
    timings["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with console.status("predictive models: CLV, churn, purchase intent, clusters, basket rules"):
        models = _train_models(lake, engine, days)
    timings["models"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with console.status("profiles: RFM, lifecycle, tiers and the example tags"):
        tags = build_tags(lake, default_tag_defs(), engine)
    timings["tags"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with console.status("the measurement report: KPIs, funnel, cohorts, paths, attribution, A/B test"):
        report_path = write_report(build_report_data(lake, engine, title="siyu demo · 效果追踪报告"),
                                   out_dir / "report.html")
    timings["report"] = time.perf_counter() - t0

    truth = pq.read_table(world / "truth" / "identities.parquet")
    id_map = pq.read_table(lake.files("ads", "id_map"))
    score = pairwise_score(id_map, truth)
    planted = json.loads((world / "truth" / "defects.json").read_text())
    persons = len(pc.unique(pc.drop_null(truth["person_id"])))
    kpi = pq.read_table(lake.files("ads", "kpi_daily")).sort_by("dt")
    profiles = pq.read_table(lake.files("ads", "profiles"), columns=["one_id", "orders", "monetary"])
    buyers = pc.sum(pc.greater(profiles["orders"], 0)).as_py()
    repeaters = pc.sum(pc.greater(profiles["orders"], 1)).as_py()
    last30 = kpi.slice(max(0, kpi.num_rows - 30))

    summary = {
        "people (truth)": persons,
        "one_ids (ads.profiles)": profiles.num_rows,
        "OneID pairwise precision": f"{score.precision:.4f}",
        "OneID pairwise recall": f"{score.recall:.4f}",
        "shared identifiers held apart": len(rep.identity.shared_identifiers) if rep.identity else 0,
        **{f"rows · {k}": v for k, v in rep.rows.items()},
        "events accepted": imp.accepted,
        "events quarantined": imp.quarantined,
        "GMV (CNY)": f"{pc.sum(kpi['gmv']).as_py():,.2f}",
        "orders": int(pc.sum(kpi["orders"]).as_py()),
        "buyers": buyers,
        "repeat-buyer share": f"{repeaters / buyers:.1%}" if buyers else "n/a",
        "average DAU, last 30 days": round(pc.mean(last30["dau"]).as_py() or 0, 1),
    }
    out.print(kv_table("siyu demo", summary))
    quarantine = {reason: (n, planted.get(reason)) for reason, n in sorted(imp.quarantine_by_reason.items())}
    out.print(kv_table("quarantine by reason",
                       {k: f"{n:,} found / {p if p is not None else '—'} planted" for k, (n, p) in quarantine.items()}))
    lifecycle = pq.read_table(lake.files("ads", "lifecycle"), columns=["lifecycle"])["lifecycle"].value_counts()
    counts = {v["values"]: v["counts"] for v in lifecycle.to_pylist()}
    out.print(kv_table(f"lifecycle (生命周期) as of {tags.as_of}",
                       {f"{zh} {stage}": counts.get(stage, 0) for stage, zh in STAGES}))
    _print_models(models, json.loads((world / "truth" / "params.json").read_text()))
    catalogue = pq.read_table(lake.files("ads", "tag_catalogue")).to_pylist()
    out.print(kv_table(f"tags: {len(tags.built)} built, {len(tags.pending)} waiting for models", {
        f"{r['name_zh']} {r['tag']}": f"{r['holders']:,} ({r['coverage']:.1%})" for r in catalogue
        if r["status"] == "built"}))
    out.print(kv_table("seconds", {k: f"{v:.1f}" for k, v in timings.items()}))
    out.print(f"lake: {lake_dir}  ·  next: siyu quality --lake {lake_dir}  ·  siyu tags list --lake {lake_dir}")
    out.print(f"        siyu segment size 'lifecycle = \"silent\" and has_tag(\"high_value\")' --lake {lake_dir}")
    out.print(f"report: {report_path}  (open it in a browser; it works offline)  ·  "
              f"siyu measure kpi list  ·  siyu report --lake {lake_dir} --out report.html --lang en")
    return {"summary": summary, "score": score, "timings": timings, "report": report_path}
