"""The CLV benchmark: BG/NBD + Gamma-Gamma fit and predict on 1,000,000 customers, siyu vs ``lifetimes``
(what users would otherwise pick) on the same data in the same run.

``python -m benchmarks.clv_run [--customers 1000000] [--out bench-out] [--lake BUILT_LAKE] [--seed 7]``

- **data**: customers drawn from the planted BG/NBD (r 0.7, α 40, a 1, b 4 per day) and Gamma-Gamma
  (p 6, q 4, γ 100) processes, observed 1–730 days, summaries in whole days as the lake gives them.
- **siyu** and **lifetimes**: fit BG/NBD, fit Gamma-Gamma on the repeat customers, then predict for every
  customer P(alive), expected purchases in 90 days and the 12-month CLV (12% a year). Seconds and peak RSS
  per step; the speed ratio; the largest relative difference in parameters and predictions between the two;
  each one's relative error against the planted parameters.
- **summary** (with ``--lake``): the customer summary of a built lake's orders on DuckDB (the query the
  models read), timed.

Writes ``OUT/clv-results.json`` and ``OUT/clv-results.md``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.frames import dump_json
from benchmarks.privacy_run import peak_rss
from benchmarks.run import console, machine

PLANTED_BG = {"r": 0.7, "alpha": 40.0, "a": 1.0, "b": 4.0}
PLANTED_GG = {"p": 6.0, "q": 4.0, "gamma": 100.0}


def simulate(n: int, seed: int) -> dict[str, np.ndarray]:
    """Exact BG/NBD draws (see tests/models/clv/support.py), rounded to whole days, with Gamma-Gamma spend."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(PLANTED_BG["r"], 1 / PLANTED_BG["alpha"], n)
    p = rng.beta(PLANTED_BG["a"], PLANTED_BG["b"], n)
    T = rng.uniform(1.0, 730.0, n)
    points = rng.poisson(lam * T)
    x = np.minimum(points, rng.geometric(p))
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(points - x + 1, 1)), 0.0)
    T_days, t_days = np.floor(T), np.floor(t_x)
    nu = rng.gamma(PLANTED_GG["q"], 1 / PLANTED_GG["gamma"], n)
    # the mean of x Gamma(p, ν) order values is Gamma(p·x, x·ν)
    monetary = np.where(x > 0, rng.gamma(PLANTED_GG["p"] * np.maximum(x, 1)) / (np.maximum(x, 1) * nu), np.nan)
    return {"x": x.astype(float), "t_x": t_days, "T": T_days, "m": np.round(monetary, 2)}


def _step(results: dict[str, Any], key: str, f: Callable[[], Any]) -> Any:
    with peak_rss(results, f"{key}_peak_rss_gib"):
        t0 = time.perf_counter()
        value = f()
        results[f"{key}_seconds"] = round(time.perf_counter() - t0, 3)
    console.print(f"{key}: {results[f'{key}_seconds']} s, peak {results[f'{key}_peak_rss_gib']} GiB")
    return value


def run_siyu(d: dict[str, np.ndarray], results: dict[str, Any]) -> dict[str, Any]:
    from siyu.models.clv.bgnbd import BetaGeo
    from siyu.models.clv.gamma_gamma import GammaGamma
    from siyu.models.clv.value import customer_lifetime_value

    bg = _step(results, "siyu_fit_bgnbd", lambda: BetaGeo().fit(d["x"], d["t_x"], d["T"]))
    gg = _step(results, "siyu_fit_gamma_gamma", lambda: GammaGamma().fit(d["x"], d["m"]))

    def predict() -> dict[str, np.ndarray]:
        return {"p_alive": bg.probability_alive(d["x"], d["t_x"], d["T"]),
                "purchases_90d": bg.expected_purchases(90.0, d["x"], d["t_x"], d["T"]),
                "clv_12m": customer_lifetime_value(bg, gg, d["x"], d["t_x"], d["T"], d["m"])}

    preds = _step(results, "siyu_predict", predict)
    return {"bg": bg.params, "gg": gg.params, "preds": preds, "rows_pooled": len(np.unique(
        np.column_stack([d["x"], d["t_x"], d["T"]]), axis=0))}


def run_lifetimes(d: dict[str, np.ndarray], results: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    from siyu.models.clv.value import monthly_rate

    bg = _step(results, "lifetimes_fit_bgnbd", lambda: BetaGeoFitter().fit(d["x"], d["t_x"], d["T"]))
    rep = d["x"] > 0
    gg = _step(results, "lifetimes_fit_gamma_gamma",
               lambda: GammaGammaFitter().fit(d["x"][rep], d["m"][rep]))

    def predict() -> dict[str, np.ndarray]:
        s = [pd.Series(v) for v in (d["x"], d["t_x"], d["T"], np.nan_to_num(d["m"]))]
        clv = np.asarray(gg.customer_lifetime_value(bg, *s, time=12, discount_rate=monthly_rate(0.12), freq="D"))
        # lifetimes gives customers without repeat purchases their own monetary (0): siyu the population mean
        return {"p_alive": np.asarray(bg.conditional_probability_alive(d["x"], d["t_x"], d["T"])),
                "purchases_90d": np.asarray(bg.conditional_expected_number_of_purchases_up_to_time(
                    90.0, d["x"], d["t_x"], d["T"])), "clv_12m": clv}

    preds = _step(results, "lifetimes_predict", predict)
    return {"bg": dict(bg.params_), "gg": {"p": gg.params_["p"], "q": gg.params_["q"], "gamma": gg.params_["v"]},
            "preds": preds}


def _max_rel(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[k] / b[k] - 1) for k in b)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--lake", type=Path, default=None, help="a built lake: also time its customer summary")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               "customers": args.customers, "seed": args.seed}
    d = _step(results, "simulate", lambda: simulate(args.customers, args.seed))
    results["repeat_customers"] = int((d["x"] > 0).sum())
    ours = run_siyu(d, results)
    results["rows_after_pooling"] = ours["rows_pooled"]
    ref = run_lifetimes(d, results)
    fit_ours = results["siyu_fit_bgnbd_seconds"] + results["siyu_fit_gamma_gamma_seconds"]
    fit_ref = results["lifetimes_fit_bgnbd_seconds"] + results["lifetimes_fit_gamma_gamma_seconds"]
    results["speed_ratio_fit"] = round(fit_ref / fit_ours, 1)
    results["speed_ratio_predict"] = round(results["lifetimes_predict_seconds"] / results["siyu_predict_seconds"], 1)
    results["params"] = {"siyu": {**ours["bg"], **ours["gg"]}, "lifetimes": {**ref["bg"], **ref["gg"]},
                         "planted": {**PLANTED_BG, **PLANTED_GG}}
    results["max_param_difference_vs_lifetimes"] = max(_max_rel(ours["bg"], ref["bg"]), _max_rel(ours["gg"], ref["gg"]))
    results["relative_error_vs_planted"] = {
        "siyu": {k: ours["bg"][k] / v - 1 for k, v in PLANTED_BG.items()} | {
            k: ours["gg"][k] / v - 1 for k, v in PLANTED_GG.items()},
        "lifetimes": {k: ref["bg"][k] / v - 1 for k, v in PLANTED_BG.items()} | {
            k: ref["gg"][k] / v - 1 for k, v in PLANTED_GG.items()}}
    rep = d["x"] > 0
    results["max_prediction_difference_vs_lifetimes"] = {
        k: float(np.max(np.abs(ours["preds"][k][rep] / ref["preds"][k][rep] - 1))) for k in ("p_alive",
                                                                                            "purchases_90d", "clv_12m")}
    if args.lake is not None:
        from siyu.models.clv.summary import customer_summary
        from siyu.models.runner import data_end, lake_engine
        from siyu.warehouse.lake import Lake

        eng = lake_engine(Lake(args.lake))
        summary = _step(results, "lake_summary", lambda: customer_summary(eng, data_end(eng)))
        results["lake_customers"] = len(summary)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    dump_json(args.out / "clv-results.json", results)
    (args.out / "clv-results.md").write_text(_markdown(results), encoding="utf-8")
    console.print(_markdown(results))


def _markdown(r: dict[str, Any]) -> str:
    lines = [f"# CLV benchmark — {r['customers']:,} customers ({r['repeat_customers']:,} repeat), "
             f"{r['rows_after_pooling']:,} distinct summaries", "",
             "| step | siyu s | lifetimes s | ratio | siyu peak GiB | lifetimes peak GiB |",
             "|---|---|---|---|---|---|"]
    for step in ("fit_bgnbd", "fit_gamma_gamma", "predict"):
        a, b = r[f"siyu_{step}_seconds"], r[f"lifetimes_{step}_seconds"]
        lines.append(f"| {step} | {a} | {b} | {b / a:.1f}× | {r[f'siyu_{step}_peak_rss_gib']} | "
                     f"{r[f'lifetimes_{step}_peak_rss_gib']} |")
    lines += ["", f"- largest relative parameter difference siyu vs lifetimes: "
              f"{r['max_param_difference_vs_lifetimes']:.2e}",
              "- largest relative prediction difference (repeat customers): "
              + ", ".join(f"{k} {v:.2e}" for k, v in r["max_prediction_difference_vs_lifetimes"].items()),
              "- relative error against the planted parameters (siyu): "
              + ", ".join(f"{k} {v:+.2%}" for k, v in r["relative_error_vs_planted"]["siyu"].items())]
    if "lake_summary_seconds" in r:
        lines.append(f"- customer summary of the lake on DuckDB: {r['lake_customers']:,} customers in "
                     f"{r['lake_summary_seconds']} s")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
