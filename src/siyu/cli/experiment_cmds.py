"""``siyu measure experiment``: read out an A/B test (实验结果), list the imported ones, size one, assign units.

Thin commands over :mod:`siyu.measure.experiments`: ``readout`` is one call to
:func:`~siyu.measure.experiments.readout.read_experiment`, ``size`` to the power functions, ``assign`` to
:func:`~siyu.measure.experiments.assign` (its output is an ``experiment_assignments`` entity file that
``siyu import`` lands).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import EngineOpt, JsonOpt, LakeOpt, fail
from siyu.cli.measure_common import built_lake, plain, write_table
from siyu.cli.output import console, kv_table, out, print_json
from siyu.core.errors import SiyuError

if TYPE_CHECKING:
    from siyu.warehouse.engine import Engine

experiment_app = typer.Typer(help="A/B tests (AB测试): read out, list, size (样本量), assign (分流).",
                             no_args_is_help=True)

def _engine(engine: str, lake: Path) -> Engine:
    from siyu.measure.experiments.readout import register_experiment_sources
    from siyu.warehouse.engine import open_engine

    built = built_lake(lake)
    eng = open_engine(engine)
    register_experiment_sources(eng, built)
    return eng


@experiment_app.command("readout")
def readout(
    experiment_id: Annotated[str, typer.Argument(help="The experiment id of the assignment export.")],
    lake: LakeOpt,
    window: Annotated[int, typer.Option("--window", help="Outcome days after assignment (1–366).")] = 14,
    control: Annotated[str, typer.Option("--control", help="The control variant (对照组).")] = "control",
    treatment: Annotated[str, typer.Option("--treatment", help="The treatment variant (实验组).")] = "treatment",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level (two-sided).")] = 0.05,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Read out an A/B test: SRM check, conversion (z-test, Bayesian), revenue (Welch, Mann–Whitney, CUPED)."""
    from siyu.measure.experiments.readout import read_experiment

    try:
        r = read_experiment(_engine(engine, lake), experiment_id, window_days=window, control=control,
                            treatment=treatment, alpha=alpha)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(r.to_dict())
        return
    c, b, v, mw = r.conversion, r.conversion_bayes, r.revenue, r.revenue_rank
    level = f"{1 - alpha:.0%}"
    out.print(kv_table(f"{experiment_id} · {window}-day window", {
        f"units · {control}": c.n_a, f"units · {treatment}": c.n_b, "unresolved units": r.unresolved,
        "sample ratio 样本比例 (SRM)": f"χ² {r.srm.chi2:.2f}, p {r.srm.p_value:.3g}"
                                     + (" — MISMATCH: fix assignment before reading effects" if r.srm.mismatch
                                        else " — ok")}))
    table = Table(title="conversion 转化率", title_justify="left")
    for col in (control, treatment, "difference", f"{level} CI", "p", "P(B > A)", "loss if shipped"):
        table.add_column(escape(col), justify="right")
    table.add_row(_p(c.rate_a), _p(c.rate_b), _p(c.difference, "+"), f"{_p(c.ci_low, '+')} … {_p(c.ci_high, '+')}",
                  _g(c.p_value), _p(b.prob_b_beats_a), _p(b.expected_loss_b))
    out.print(table)
    table = Table(title="revenue per unit 人均收入", title_justify="left")
    for col in ("test", control, treatment, "difference", f"{level} CI", "p"):
        table.add_column(escape(col), justify="right")
    table.add_row("Welch", _m(v.mean_a), _m(v.mean_b), _m(v.difference, "+"),
                  f"{_m(v.ci_low, '+')} … {_m(v.ci_high, '+')}", _g(v.p_value))
    if r.revenue_cuped is not None:
        a = r.revenue_cuped.adjusted
        table.add_row(f"CUPED (−{r.revenue_cuped.variance_reduction:.0%} var)", _m(a.mean_a), _m(a.mean_b),
                      _m(a.difference, "+"), f"{_m(a.ci_low, '+')} … {_m(a.ci_high, '+')}", _g(a.p_value))
    table.add_row("Mann–Whitney", f"median {_m(mw.median_a)}", f"median {_m(mw.median_b)}",
                  f"P(B>A) {mw.common_language_effect:.3f}", "", _g(mw.p_value))
    out.print(table)


def _p(x: float, sign: str = "") -> str:
    return "–" if x is None or x != x else f"{x:{sign}.2%}"


def _m(x: float, sign: str = "") -> str:
    return "–" if x is None or x != x else f"{x:{sign},.2f}"


def _g(x: float) -> str:
    return "–" if x is None or x != x else f"{x:.3g}"


@experiment_app.command("list")
def experiment_list(lake: LakeOpt, engine: EngineOpt = "duckdb", as_json: JsonOpt = False) -> None:
    """The experiments in the imported assignment export, with units per variant."""
    try:
        from siyu.measure.experiments.readout import list_experiments

        got = list_experiments(_engine(engine, lake)).to_pylist()
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(got)
        return
    table = Table(title=f"{len({r['experiment_id'] for r in got})} experiments", title_justify="left")
    for col in ("experiment", "variant", "units", "first assigned", "last assigned"):
        table.add_column(col, justify="right" if col == "units" else "left")
    for r in got:
        table.add_row(escape(r["experiment_id"]), escape(str(r["variant"])), f"{r['units']:,}",
                      str(r["first_assigned"]), str(r["last_assigned"]))
    out.print(table)


@experiment_app.command("size")
def size(
    baseline: Annotated[float | None, typer.Option("--baseline", help="Control conversion rate, e.g. 0.1.")] = None,
    mde: Annotated[float | None, typer.Option("--mde", help="Absolute effect to detect (最小可检测效应): 0.02 = "
                                              "10% → 12%; with --sd, a difference in means.")] = None,
    sd: Annotated[float | None, typer.Option("--sd", help="Per-unit standard deviation: size a test of means "
                                             "(ARPU, 客单价) instead of rates.")] = None,
    n: Annotated[float | None, typer.Option("--n", help="Instead of --mde: units in control; prints the "
                                            "minimum detectable effect.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level (two-sided).")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Target power (功效).")] = 0.8,
    ratio: Annotated[float, typer.Option("--ratio", help="Treatment units per control unit.")] = 1.0,
    method: Annotated[str | None, typer.Option("--method", help="Rates: pooled (default) or arcsine; means: t "
                                               "(default) or z.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample size per arm (样本量) for an effect, or the minimum detectable effect for a size (功效分析)."""
    from siyu.measure.experiments import mde_means, mde_proportions, sample_size_means, sample_size_proportions

    try:
        if (mde is None) == (n is None):
            raise SiyuError("give --mde (to get the sample size) or --n (to get the detectable effect)",
                            code="bad_option", input_name="--mde")
        if sd is None and baseline is None:
            raise SiyuError("rates need --baseline (the control's conversion rate); means need --sd",
                            code="bad_option", input_name="--baseline")
        allowed = ("t", "z") if sd is not None else ("pooled", "arcsine")
        how = method or allowed[0]
        if how not in allowed:
            raise SiyuError(f"--method must be {' or '.join(allowed)} here, not {how!r}", code="bad_option",
                            input_name="--method")
        how_: Any = how  # checked against the allowed names above
        if mde is not None:
            result: Any = (sample_size_means(mde, sd, alpha, power, ratio, how_) if sd is not None
                           else sample_size_proportions(float(baseline or 0), float(baseline or 0) + mde, alpha,
                                                        power, ratio, how_))
        else:
            units = float(n or 0)
            result = (mde_means(sd, units, alpha, power, ratio, how_) if sd is not None
                      else mde_proportions(float(baseline or 0), units, alpha, power, ratio, how_))
    except SiyuError as exc:
        fail(exc)
    data = result.to_dict()
    if as_json:
        print_json(data)
        return
    title = "sample size 样本量" if mde is not None else "minimum detectable effect 最小可检测效应"
    out.print(kv_table(title, {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in data.items()}))


def read_ids(path: Path, column: str | None) -> list[str]:
    """Unit ids from a text file (one a line), a CSV or a Parquet file (``column``, default the first)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise SiyuError(f"{path} does not exist", code="not_found", input_name="--ids")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".parquet"):
            table = pq.read_table(path) if suffix == ".parquet" else pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(strings_can_be_null=False,
                                                           column_types={column: pa.string()} if column else None))
            name = column or table.column_names[0]
            if name not in table.column_names:
                raise SiyuError(f"{path} has no column {name!r} (it has {', '.join(table.column_names)})",
                                code="missing_column", input_name="--id-column")
            ids = [str(x) for x in table.column(name).to_pylist() if x is not None and str(x) != ""]
        else:
            ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise SiyuError(f"cannot read {path}: {exc}", code="bad_input_file", input_name="--ids") from None
    if not ids:
        raise SiyuError(f"{path} holds no unit ids", code="bad_input_file", input_name="--ids")
    return ids


def _variants(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, eq, weight = part.partition("=")
        try:
            if not eq or not name.strip() or name.strip() in weights:
                raise ValueError
            weights[name.strip()] = float(weight)
        except ValueError:
            raise SiyuError(f"--variants must be NAME=WEIGHT,… with distinct names, e.g. control=50,treatment=50; "
                            f"not {text!r}", code="bad_variants", input_name="--variants") from None
    return weights


@experiment_app.command("assign")
def assign_units(
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment id (no ':').")],
    salt: Annotated[str, typer.Option("--salt", help="Salt: a new salt reshuffles everyone (no ':').")],
    variants: Annotated[str, typer.Option("--variants", help="NAME=WEIGHT,…, e.g. control=50,treatment=50.")],
    ids: Annotated[Path, typer.Option("--ids", help="Unit ids: a text file (one a line), .csv or .parquet.")],
    out_file: Annotated[Path, typer.Option("--out", help="Assignments as .csv or .parquet, ready for "
                                           "entities/experiment_assignments.")],
    holdout: Annotated[float, typer.Option("--holdout", help="Share kept out of every variant (对照留存组).")] = 0.0,
    id_column: Annotated[str | None, typer.Option("--id-column", help="Column of --ids (default: the first).")]
    = None,
    unit_type: Annotated[str, typer.Option("--unit-type", help="Identifier type of the ids, e.g. user_id, "
                                           "wecom_external_userid.")] = "user_id",
    as_json: JsonOpt = False,
) -> None:
    """Assign units to variants by salted hash (分流): the same unit always gets the same variant."""
    from siyu.measure.experiments import assign

    try:
        units = read_ids(ids, id_column)
        got = assign(units, experiment, salt, _variants(variants), holdout=holdout)
        now = datetime.now(UTC)
        table = pa.table({"experiment_id": [experiment] * len(units), "unit_type": [unit_type] * len(units),
                          "unit_value": units, "variant": got.tolist(),
                          "assigned_at": pa.array([now] * len(units), pa.timestamp("us", tz="UTC"))})
        write_table(table, out_file)
    except SiyuError as exc:
        fail(exc)
    counts = {str(k): int((got == k).sum()) for k in sorted(set(got.tolist()))}
    if as_json:
        print_json(plain({"experiment": experiment, "units": len(units), "counts": counts, "file": str(out_file)}))
        return
    out.print(kv_table("units per variant", counts))
    console.print(f"assigned {len(units):,} units of {escape(experiment)}; wrote {escape(str(out_file))}",
                  soft_wrap=True)
