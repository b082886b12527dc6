"""The churn benchmark: training the churn early-warning model on a built lake of 1,000,000 users, with the
model a user would otherwise reach for measured on the same matrix in the same run.

``python -m benchmarks.models_run --lake BUILT_LAKE [--out bench-out] [--parts end_to_end,fit]``

- **end_to_end**: :func:`siyu.models.churn.bench.time_training` — features and labels on DuckDB for every
  weekly snapshot, LightGBM with early stopping, calibration, evaluation against the recency baseline,
  lead time on 300 sampled churners, then scoring everyone at the data end. Seconds, rows, AUCs.
- **fit**: the training matrix built once, then LightGBM (siyu's settings) and scikit-learn's
  ``HistGradientBoostingClassifier`` with its defaults fitted on the same training rows;
  seconds and test AUC of each, the ratio, and the recency baseline's AUC on the same test rows.
- Peak RSS of the process tree per part. Writes ``OUT/models-results.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.frames import dump_json
from benchmarks.privacy_run import peak_rss
from benchmarks.run import console, machine

PARTS = ("end_to_end", "fit")


def _engine(lake: Path) -> Any:
    from siyu.models.runner import lake_engine
    from siyu.warehouse.lake import Lake

    return lake_engine(Lake(lake))


def end_to_end(lake: Path, results: dict[str, Any]) -> None:
    from siyu.models.churn.bench import time_training

    with peak_rss(results, "end_to_end_peak_rss_gib"):
        t0 = time.perf_counter()
        got = time_training(_engine(lake))
        results["end_to_end_seconds"] = round(time.perf_counter() - t0, 1)
    results["end_to_end"] = {k: round(v, 4) for k, v in got.items()}
    console.print(f"end to end: {results['end_to_end']}")


def fit_comparison(lake: Path, results: dict[str, Any]) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from siyu.models.churn.baseline import baseline_score
    from siyu.models.churn.dataset import build_dataset, calibration_half, feature_matrix, plan_splits
    from siyu.models.churn.features import FEATURE_NAMES
    from siyu.models.churn.gbm import fit_booster, raw_score
    from siyu.models.churn.labels import data_range
    from siyu.models.churn.metrics import roc_auc
    from siyu.models.churn.spec import churn_outcome

    eng = _engine(lake)
    outcome = churn_outcome(30)
    with peak_rss(results, "fit_peak_rss_gib"):
        t0 = time.perf_counter()
        start, end = data_range(eng)
        data = build_dataset(eng, outcome, plan_splits(start, end, outcome.horizon_days))
        results["dataset_seconds"] = round(time.perf_counter() - t0, 1)
        train, valid, test = (data[data["split"] == s] for s in ("train", "validation", "test"))
        stop = valid[~calibration_half(valid["one_id"])]
        x_train, y_train = feature_matrix(train), train["label"].to_numpy()
        x_stop, y_stop = feature_matrix(stop), stop["label"].to_numpy()
        x_test, y_test = feature_matrix(test), test["label"].to_numpy()
        results["rows"] = {"train": len(train), "stop": len(stop), "test": len(test), "features": len(FEATURE_NAMES)}

        t0 = time.perf_counter()
        booster, _ = fit_booster(x_train, y_train, x_stop, y_stop, list(FEATURE_NAMES), None)
        results["lightgbm_seconds"] = round(time.perf_counter() - t0, 2)
        results["lightgbm_trees"] = int(booster.num_trees())
        results["lightgbm_auc"] = round(roc_auc(y_test, raw_score(booster, x_test)), 4)

        t0 = time.perf_counter()
        # scikit-learn's defaults (100 iterations at 0.1, its own early stopping above 10,000 rows): what a
        # data engineer reaches for first
        hgb = HistGradientBoostingClassifier(random_state=7)
        hgb.fit(x_train, y_train)
        results["sklearn_hgb_seconds"] = round(time.perf_counter() - t0, 2)
        results["sklearn_hgb_iterations"] = int(hgb.n_iter_)
        results["sklearn_hgb_auc"] = round(roc_auc(y_test, hgb.predict_proba(x_test)[:, 1]), 4)
        results["recency_baseline_auc"] = round(roc_auc(y_test, baseline_score(test, outcome)), 4)
    results["fit_ratio_sklearn_over_lightgbm"] = round(results["sklearn_hgb_seconds"] / results["lightgbm_seconds"], 2)
    console.print({k: results[k] for k in ("dataset_seconds", "lightgbm_seconds", "sklearn_hgb_seconds",
                                           "lightgbm_auc", "sklearn_hgb_auc", "recency_baseline_auc")})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--parts", default=",".join(PARTS))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    parts = [p for p in args.parts.split(",") if p]
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               "lake": str(args.lake)}
    if "end_to_end" in parts:
        end_to_end(args.lake, results)
    if "fit" in parts:
        fit_comparison(args.lake, results)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    dump_json(args.out / "models-results.json", results)
    (args.out / "models-results.md").write_text(_markdown(results), encoding="utf-8")
    console.print(_markdown(results))


def _markdown(r: dict[str, Any]) -> str:
    lines = [f"# Churn benchmark — {r['lake']}", ""]
    if "end_to_end" in r:
        e = r["end_to_end"]
        lines.append(
            "- end to end (features, labels, LightGBM, calibration, evaluation, lead time, scoring): "
            f"{r['end_to_end_seconds']} s (train {e['train_seconds']:.1f} s, predict {e['predict_seconds']:.1f} s "
            f"for {int(e['predicted_people']):,} people); {int(e['rows_train']):,} training rows; "
            f"AUC {e['auc']:.3f} vs recency baseline {e['baseline_auc']:.3f}; "
            f"peak {r['end_to_end_peak_rss_gib']} GiB")
    if "lightgbm_seconds" in r:
        rows = r["rows"]
        lines += [
            f"- training matrix: {rows['train']:,} rows × {rows['features']} features in {r['dataset_seconds']} s",
            f"- LightGBM: {r['lightgbm_seconds']} s ({r['lightgbm_trees']} trees), test AUC {r['lightgbm_auc']}",
            f"- scikit-learn HistGradientBoosting: {r['sklearn_hgb_seconds']} s "
            f"({r['sklearn_hgb_iterations']} iterations), test AUC {r['sklearn_hgb_auc']} — "
            f"{r['fit_ratio_sklearn_over_lightgbm']}× LightGBM's time",
            f"- recency baseline on the same test rows: AUC {r['recency_baseline_auc']}; "
            f"peak {r['fit_peak_rss_gib']} GiB"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
