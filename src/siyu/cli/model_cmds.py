"""``siyu models``: train, evaluate, predict, list, compare, roll back, check drift and retrain.

Thin commands over :mod:`siyu.models.runner` and :class:`siyu.models.registry.ModelRegistry`; every
error is a :class:`SiyuError` printed in one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import AsOfOpt, EngineOpt, JsonOpt, LakeOpt, fail, parse_day
from siyu.cli.measure_common import plain
from siyu.cli.output import console, kv_table, out, print_json
from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

models_app = typer.Typer(help="Predictive models (预测模型): CLV, churn, purchase intent, clusters, baskets.",
                         no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Model name, e.g. clv.")]
VersionOpt = Annotated[int | None, typer.Option("--version", help="A registered version (default: the active one).")]


def _config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SiyuError(f"cannot read {path}: {exc.strerror or exc}", code="bad_config",
                        input_name="--config") from None
    except yaml.YAMLError as exc:
        raise SiyuError(f"{path} is not valid YAML: {exc}", code="bad_config", input_name="--config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SiyuError(f"{path} must hold a mapping of settings", code="bad_config", input_name="--config")
    return data


def _metrics_table(title: str, metrics: dict[str, float]) -> Table:
    return kv_table(title, {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in sorted(metrics.items())})


@models_app.command("train")
def train(
    name: NameArg,
    lake: LakeOpt,
    as_of: AsOfOpt = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML settings for this model.")] = None,
    predict: Annotated[bool, typer.Option("--predict/--no-predict", help="Write predictions after training.")] = True,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Train a model on the lake, register it (active) and write its predictions for the predictive tags."""
    from siyu.models.runner import train_model

    try:
        done = train_model(Lake(lake), name, engine=engine, as_of=parse_day(as_of), config=_config(config),
                           predict=predict)
    except SiyuError as exc:
        fail(exc)
    v = done.version
    if as_json:
        print_json(plain({"name": v.name, "version": v.version, "as_of": v.as_of, "params": v.params,
                          "metrics": v.metrics, "predictions": done.predictions}))
        return
    out.print(_metrics_table(f"{v.label} (as of {v.as_of})", v.metrics))
    console.print(f"registered {escape(v.label)}; predictions written for {done.predictions:,} people", soft_wrap=True)


@models_app.command("evaluate")
def evaluate(
    name: NameArg,
    lake: LakeOpt,
    version: VersionOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the evaluation charts to this HTML file.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Chart labels: zh (default) or en.")] = "zh",
    as_json: JsonOpt = False,
) -> None:
    """Show a registered version's evidence: metrics and, for CLV, the holdout table by frequency group."""
    from siyu.models.plots import evaluation_page, holdout_option
    from siyu.models.runner import load_model

    try:
        entry, model = load_model(Lake(lake), name, version)
        holdout = getattr(model, "holdout", [])
        if plot is not None:
            options = [holdout_option(holdout, lang)] if holdout else []
            if not options:
                raise SiyuError(f"{entry.label} has no chart to draw", code="nothing_to_plot", input_name="--plot")
            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_text(evaluation_page(entry.label, options, lang), encoding="utf-8")
    except SiyuError as exc:
        fail(exc)
    except OSError as exc:
        fail(SiyuError(f"cannot write {plot}: {exc.strerror or exc}", code="bad_output", input_name="--plot"))
    if as_json:
        print_json(plain({"name": entry.name, "version": entry.version, "metrics": entry.metrics, "holdout": holdout}))
        return
    out.print(_metrics_table(f"{entry.label} (as of {entry.as_of})", entry.metrics))
    if holdout:
        table = Table(title="holdout by calibration frequency (校准期复购次数)")
        for col in ("frequency", "customers", "actual_mean", "predicted_mean", "actual_total", "predicted_total"):
            table.add_column(col, justify="right")
        for row in holdout:
            table.add_row(row["frequency"], f"{row['customers']:,}", *(f"{row[c]:.3f}" for c in (
                "actual_mean", "predicted_mean")), *(f"{row[c]:,.1f}" for c in ("actual_total", "predicted_total")))
        out.print(table)
    if plot is not None:
        console.print(f"wrote {escape(str(plot))}", soft_wrap=True)


@models_app.command("predict")
def predict(name: NameArg, lake: LakeOpt, version: VersionOpt = None, as_of: AsOfOpt = None,
            engine: EngineOpt = "duckdb") -> None:
    """Score everyone with the active (or given) version and replace models/<name>_predictions."""
    from siyu.models.runner import predict_model

    try:
        table = predict_model(Lake(lake), name, engine=engine, as_of=parse_day(as_of), version=version)
    except SiyuError as exc:
        fail(exc)
    console.print(f"wrote predictions for {table.num_rows:,} people", soft_wrap=True)


@models_app.command("list")
def list_(lake: LakeOpt, name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
          as_json: JsonOpt = False) -> None:
    """Registered models and versions: status, as-of day, data and headline metrics."""
    from dataclasses import asdict

    from siyu.models.registry import ModelRegistry

    try:
        versions = ModelRegistry(Lake(lake)).versions(name)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(plain([{k: v for k, v in asdict(e).items() if k != "reference"} for e in versions]))
        return
    table = Table(title="models (模型注册表)")
    for col in ("name", "version", "status", "as of", "created", "data digest", "max PSI"):
        table.add_column(col)
    for e in versions:
        psi = e.drift.get("max_psi")
        table.add_row(e.name, str(e.version), e.status, e.as_of, e.created_at, e.data.get("digest", ""),
                      "" if psi is None else f"{psi:.3f}")
    out.print(table)


@models_app.command("compare")
def compare(name: NameArg, a: Annotated[int, typer.Argument(help="A version.")],
            b: Annotated[int, typer.Argument(help="Another version.")], lake: LakeOpt,
            as_json: JsonOpt = False) -> None:
    """Metrics of two versions side by side."""
    from siyu.models.registry import ModelRegistry

    try:
        rows = ModelRegistry(Lake(lake)).compare(name, a, b)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(plain(rows))
        return
    table = Table(title=f"{name}: v{a} vs v{b}")
    for col in ("metric", f"v{a}", f"v{b}", "change"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)) for v in r.values()))
    out.print(table)


@models_app.command("rollback")
def rollback(name: NameArg, version: Annotated[int, typer.Argument(help="The version to make active.")],
             lake: LakeOpt) -> None:
    """Make an earlier version active again (then run `siyu models predict`)."""
    from siyu.models.registry import ModelRegistry

    try:
        entry = ModelRegistry(Lake(lake)).activate(name, version)
    except SiyuError as exc:
        fail(exc)
    console.print(f"{escape(entry.label)} is active", soft_wrap=True)


@models_app.command("drift")
def drift(
    lake: LakeOpt,
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="PSI above which a model is stale.")] = 0.25,
    as_of: AsOfOpt = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Population stability index of today's features and scores against each model's training data."""
    from siyu.models.runner import check_drift

    try:
        results = check_drift(Lake(lake), name, engine=engine, as_of=parse_day(as_of), threshold=threshold)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(plain([{"name": e.name, "version": e.version, "status": e.status, **r} for e, r in results]))
        return
    for entry, report in results:
        table = Table(title=f"{entry.label}: {'STALE (需重训)' if report['stale'] else 'stable (稳定)'}")
        table.add_column("column")
        table.add_column("PSI", justify="right")
        for col, value in report["psi"].items():
            table.add_row(col, f"{value:.4f}")
        out.print(table)


@models_app.command("retrain")
def retrain(
    lake: LakeOpt,
    names: Annotated[list[str] | None, typer.Argument(help="Models to retrain.")] = None,
    stale: Annotated[bool, typer.Option("--stale", help="Retrain every model marked stale by `drift`.")] = False,
    as_of: AsOfOpt = None,
    engine: EngineOpt = "duckdb",
) -> None:
    """Retrain models with the settings they were trained with, on today's data."""
    from siyu.models.runner import retrain_models

    if not names and not stale:
        fail(SiyuError("name the models to retrain, or pass --stale", code="nothing_to_retrain", input_name="names"))
    try:
        done = retrain_models(Lake(lake), names, stale=stale, engine=engine, as_of=parse_day(as_of))
    except SiyuError as exc:
        fail(exc)
    if not done:
        console.print("no model is stale", soft_wrap=True)
    for t in done:
        console.print(f"retrained {escape(t.version.label)}; predictions for {t.predictions:,} people", soft_wrap=True)
