"""``siyu measure attribution``: the attribution models side by side (模型对比) and their hold-out check.

The touches come from the lake (:func:`siyu.measure.touchpoints.touches_table`) or from a touches file
(Parquet/CSV with the columns of docs/attribution.md); one call to
:func:`~siyu.measure.attribution.compare_models` (and :func:`~siyu.measure.attribution.holdout_validation`
with ``--validate``) does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import EngineOpt, JsonOpt, day_option, fail
from siyu.cli.measure_common import rows
from siyu.cli.output import out, print_json
from siyu.core.errors import SiyuError

ALL_MODELS = "first_touch,last_touch,linear,time_decay,u_shape,w_shape,markov,shapley,composite"


def read_touches(path: Path) -> pa.Table:
    """A touches table from a Parquet file (or folder of them) or a CSV file; a clean error otherwise."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.exists():
        raise SiyuError(f"{path} does not exist", code="not_found", input_name="--touches")
    try:
        if path.is_dir() or path.suffix.lower() == ".parquet":
            return pq.read_table(path)
        if path.suffix.lower() == ".csv":
            return pacsv.read_csv(path)
    except (pa.ArrowException, OSError) as exc:
        raise SiyuError(f"cannot read {path}: {exc}", code="bad_input_file", input_name="--touches") from None
    raise SiyuError(f"{path} must be a .parquet or .csv file", code="bad_input_file", input_name="--touches")


def _models(names: str, markov_order: int) -> dict[str, Any]:
    from siyu.measure.attribution import build_model

    labels = [n.strip() for n in names.split(",") if n.strip()]
    if not labels:
        raise SiyuError("--models names no model", code="unknown_attribution_model", input_name="--models")
    if len(set(labels)) != len(labels):
        raise SiyuError("--models names a model twice", code="duplicate_model", input_name="--models")
    return {n: build_model(n, {"order": markov_order} if n == "markov" else None) for n in labels}


def _lake_touches(lake: Path, engine: str, by: str, lookback: int, any_window: bool, as_of: str | None) -> pa.Table:
    from siyu.cli.measure_common import lake_engine
    from siyu.measure.touchpoints import touches_table

    config = {"grouping": by, "lookback_days": lookback, "allow_any_window": any_window,
              "as_of": day_option(as_of, "--as-of")}
    return touches_table(lake_engine(engine, lake), config)


def attribution(
    lake: Annotated[Path | None, typer.Option("--lake", help="Lake directory: build the touches from it.")] = None,
    touches: Annotated[Path | None, typer.Option("--touches", help="Or a touches file (.parquet or .csv; "
                                                 "columns in docs/attribution.md).")] = None,
    by: Annotated[str, typer.Option("--by", help="Credit goes to: channel, campaign or touch_type.")] = "channel",
    lookback: Annotated[int, typer.Option("--lookback", help="Days of touches before a conversion (回溯窗口, "
                                          "15–30 advised).")] = 30,
    any_window: Annotated[bool, typer.Option("--any-window", help="Allow a lookback outside 15–30 days.")] = False,
    models: Annotated[str, typer.Option("--models", help="Models to compare, comma-separated.")] = ALL_MODELS,
    markov_order: Annotated[int, typer.Option("--markov-order", help="States of the Markov chain: the last 1, 2 "
                                              "or 3 channels.")] = 1,
    validate: Annotated[bool, typer.Option("--validate", help="Also score each model on held-out journeys "
                                           "(预测准确度验证).")] = False,
    holdout: Annotated[float, typer.Option("--holdout", help="--validate: share of journeys held out.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="--validate: seed of the split.")] = 0,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Data end (default: the last day of events).")]
    = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Attribution (归因): conversions and value credited to each channel by every model, side by side."""
    from siyu.measure.attribution import compare_models, holdout_validation

    try:
        if (lake is None) == (touches is None):
            raise SiyuError("give one of --lake (touches built from the lake) or --touches FILE",
                            code="bad_option", input_name="--lake")
        labelled = _models(models, markov_order)
        table = (read_touches(touches) if touches is not None
                 else _lake_touches(lake, engine, by, lookback, any_window, as_of))  # type: ignore[arg-type]
        compared = compare_models(table, labelled)
        checked = holdout_validation(table, labelled, holdout_fraction=holdout, seed=seed) if validate else None
    except SiyuError as exc:
        if exc.code == "bad_lookback_window":
            exc = SiyuError(f"{exc.message} (on the command line: --any-window)", code=exc.code,
                            input_name="--lookback")
        fail(exc)
    if as_json:
        print_json({"source": str(touches) if touches is not None else {"lake": str(lake), "by": by,
                                                                          "lookback_days": lookback},
                    "models": {k: m.to_dict() for k, m in labelled.items()}, "rows": rows(compared),
                    "validation": rows(checked) if checked is not None else None})
        return
    data = compared.to_pylist()
    for what, title in (("conversions", "conversions credited 归因转化数"), ("value", "value credited 归因金额")):
        grid = Table(title=title, title_justify="left")
        grid.add_column("channel")
        for label in labelled:
            grid.add_column(label, justify="right")
        for r in data:
            grid.add_row(escape(r["channel"]), *(f"{r[f'{label}_{what}']:,.1f}" for label in labelled))
        out.print(grid)
    if checked is not None:
        grid = Table(title=f"hold-out check 预测准确度验证 ({checked['n_holdout'][0].as_py():,} held-out journeys, "
                           f"{checked['holdout_conversions'][0].as_py():,} converted)", title_justify="left")
        for col in ("model", "AUC", "log loss", "AUC vs linear"):
            grid.add_column(col, justify="left" if col == "model" else "right")
        for r in rows(checked):
            grid.add_row(escape(r["model"]), _num(r["auc"]), _num(r["log_loss"]), _num(r["auc_vs_linear"], "+.4f"))
        out.print(grid)


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "–" if value is None else format(value, fmt)
