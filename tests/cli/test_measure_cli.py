"""``siyu measure`` analysis, attribution, experiment, alert and effect commands, through the real CLI on the demo
lake: every ``--json`` answer equals the domain API called with the same arguments, and bad input is a one-line
error with exit code 2, never a stack trace."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from siyu.cli.alert_cmds import alerts_app, effects_app
from siyu.cli.analysis_cmds import cohorts, funnel, heatmap, paths
from siyu.cli.attribution_cmds import attribution
from siyu.cli.experiment_cmds import experiment_app
from siyu.core.config import get_settings
from siyu.measure.event_sql import last_day
from siyu.profile.views import register_profile_sources
from siyu.warehouse.engine import Engine, open_engine
from siyu.warehouse.lake import Lake

# The lead registers these into ``siyu measure``; until then the tests build the same tree.
app = typer.Typer(pretty_exceptions_enable=False)
app.command("funnel")(funnel)
app.command("cohorts")(cohorts)
app.command("paths")(paths)
app.command("heatmap")(heatmap)
app.command("attribution")(attribution)
app.add_typer(experiment_app, name="experiment")
app.add_typer(alerts_app, name="alerts")
app.add_typer(effects_app, name="effects")

runner = CliRunner()


def run_json(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def same(api: Any) -> Any:
    """What the CLI's JSON makes of an API value: dates and decimals as text, NaN as null."""
    return json.loads(json.dumps(api, default=str).replace("NaN", "null"))


def close(api: Any) -> Any:
    """:func:`same`, with floats compared to 1e-12 relative: a parallel SQL sum may add in another order."""
    value = same(api)
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12, abs=1e-15)
    if isinstance(value, dict):
        return {k: close(v) for k, v in value.items()}
    if isinstance(value, list):
        return [close(v) for v in value]
    return value


@pytest.fixture(scope="module")
def lake(demo: dict[str, Any]) -> str:
    return str(demo["lake"].root)


@pytest.fixture(scope="module")
def eng(demo: dict[str, Any]) -> Engine:
    e = open_engine("duckdb")
    register_profile_sources(e, demo["lake"])
    return e


# --- funnel, cohorts, paths, heatmap ------------------------------------------------------------------------------


def test_funnel_equals_the_api(lake: str, eng: Engine, tmp_path: Path) -> None:
    from siyu.measure.funnels import FunnelSpec, funnel_dropouts, funnel_time_histogram
    from siyu.measure.funnels import funnel as api_funnel

    got = run_json("funnel", "--lake", lake, "--steps", "mp_page_viewed,product_viewed[category=防晒],order_paid",
                   "--window", "3", "--order", "strict", "--exclude", "order_refunded@2", "--from", "2026-05-01",
                   "--to", "2026-05-31", "--histogram", "--dropouts-at", "1", "--out", str(tmp_path / "d.parquet"))
    spec = FunnelSpec(steps=["mp_page_viewed", {"event": "product_viewed", "filters": {"category": "防晒"}},
                             "order_paid"], start=date(2026, 5, 1), end=date(2026, 5, 31), window=timedelta(days=3),
                      order="strict", exclusions=[{"event": "order_refunded", "after_step": 2}])
    assert got["steps"] == same(api_funnel(eng, spec).to_pylist())
    assert got["steps"][1]["people"] > 0
    assert got["histogram"] == same(funnel_time_histogram(eng, spec).to_pylist())
    dropped = funnel_dropouts(eng, spec, 1)
    assert got["dropouts"]["people"] == dropped.num_rows > 0
    assert pq.read_table(tmp_path / "d.parquet").column("one_id").to_pylist() == dropped.column("one_id").to_pylist()


def test_funnel_defaults_leave_every_entry_its_whole_window(lake: str, eng: Engine) -> None:
    from siyu.measure.funnels import FunnelSpec
    from siyu.measure.funnels import funnel as api_funnel

    got = run_json("funnel", "--lake", lake, "--steps", "product_viewed,cart_added", "--by", "category")
    end = last_day(eng, "events") - timedelta(days=7)  # type: ignore[operator]
    assert (got["spec"]["start"], got["spec"]["end"]) == (str(end - timedelta(days=29)), str(end))
    spec = FunnelSpec(steps=["product_viewed", "cart_added"], start=end - timedelta(days=29), end=end,
                      breakdown="category")
    assert got["steps"] == same(api_funnel(eng, spec).to_pylist())
    assert len({r["breakdown"] for r in got["steps"]}) > 1


def test_cohorts_equal_the_api(lake: str, eng: Engine) -> None:
    from siyu.measure.cohorts import CohortSpec, retention_days, retention_matrix

    got = run_json("cohorts", "--lake", lake, "--period", "month", "--acquisition", "first_order", "--activity",
                   "order", "--by-channel", "--days", "1,7,30", "--max-periods", "4")
    spec = CohortSpec(period="month", acquisition="first_order", activity="order", by_channel=True, days=(1, 7, 30),
                      max_periods=4)
    assert got["matrix"] == same(retention_matrix(eng, spec).to_pylist())
    assert got["days"] == same(retention_days(eng, spec).to_pylist())
    assert {r["period"] for r in got["matrix"]} == {0, 1, 2, 3, 4}


def test_paths_equal_the_api(lake: str, eng: Engine, tmp_path: Path) -> None:
    from siyu.measure.paths import (
        ChurnPathSpec,
        ConversionPathSpec,
        ForwardPathSpec,
        churn_paths,
        conversion_paths,
        forward_paths,
        key_dropoff_node,
    )

    got = run_json("paths", "--lake", lake, "--before", "order_paid", "--steps", "3", "--top", "7", "--lookback", "14",
                   "--sankey", str(tmp_path / "s.json"))
    report = conversion_paths(eng, ConversionPathSpec(target="order_paid", steps=3, lookback=timedelta(days=14)))
    assert got["paths"] == same(report.paths.slice(0, 7).to_pylist()) and len(got["paths"]) == 7
    assert got["people"] == report.people and got["key_dropoff_node"] is None
    sankey = json.loads((tmp_path / "s.json").read_text())
    assert sankey == same({"nodes": report.nodes.to_pylist(), "links": report.links.to_pylist()})

    got = run_json("paths", "--lake", lake, "--churn", "--silent-days", "45")
    report = churn_paths(eng, ChurnPathSpec(silent_days=45))
    assert got["paths"] == same(report.paths.slice(0, 20).to_pylist()) and got["people"] == report.people

    got = run_json("paths", "--lake", lake, "--from-event", "product_viewed", "--steps", "4", "--max-gap", "60")
    spec = ForwardPathSpec(entry="product_viewed", steps=4, max_gap=timedelta(minutes=60))
    report = forward_paths(eng, spec)
    assert got["paths"] == same(report.paths.slice(0, 20).to_pylist())
    assert got["dropoffs"] == same(report.dropoffs.to_pylist())  # type: ignore[union-attr]
    assert got["key_dropoff_node"] == same(key_dropoff_node(eng, spec)) is not None


def test_heatmap_equals_the_api(lake: str, eng: Engine) -> None:
    from dataclasses import asdict

    from siyu.measure.heatmap import HeatmapSpec, activity_heatmap, best_time_hint

    got = run_json("heatmap", "--lake", lake, "--from", "2026-03-01", "--to", "2026-05-31", "--min-deliveries", "50")
    spec = HeatmapSpec(start=date(2026, 3, 1), end=date(2026, 5, 31))
    assert got["cells"] == same(activity_heatmap(eng, spec).to_pylist()) and len(got["cells"]) == 168
    best = best_time_hint(eng, spec, min_deliveries=50)
    assert best is not None and got["best_time"] == same(asdict(best))
    result = runner.invoke(app, ["heatmap", "--lake", lake])
    assert result.exit_code == 0 and best_time_hint(eng).hint_zh in result.stdout  # type: ignore[union-attr]


def test_heatmap_of_a_segment(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    from siyu.measure.heatmap import HeatmapSpec, activity_heatmap
    from siyu.profile.build import build_profile
    from siyu.profile.segments import open_profile

    root = tmp_path_factory.mktemp("profiled") / "lake"
    shutil.copytree(demo["lake"].root, root)  # the profile build writes ads/: keep the shared lake as it is
    build_profile(Lake(root), "duckdb")
    defs = root.parent / "segments.yaml"
    defs.write_text("segments:\n  - {name: silent, name_zh: 沉默用户, owner: crm, rule: 'lifecycle = \"silent\"'}\n",
                    encoding="utf-8")
    got = run_json("heatmap", "--lake", str(root), "--segment", "silent", "--segments", str(defs))
    ctx = open_profile(Lake(root))
    sql, params = ctx.members_sql(ctx.rule('lifecycle = "silent"'))
    ctx.engine.register_arrow("silent_people", ctx.engine.query(f"SELECT DISTINCT one_id FROM ({sql}) AS s", params))
    expected = activity_heatmap(ctx.engine, HeatmapSpec(segment="silent_people")).to_pylist()
    assert got["cells"] == same(expected)
    everyone = run_json("heatmap", "--lake", str(root))
    assert 0 < sum(c["people"] for c in got["cells"]) < sum(c["people"] for c in everyone["cells"])
    bad = runner.invoke(app, ["heatmap", "--lake", str(root), "--segment", "lifecycle ="])
    assert bad.exit_code == 2 and bad.output.startswith("error rule_syntax") and "Traceback" not in bad.output


# --- attribution ---------------------------------------------------------------------------------------------------


def test_attribution_equals_the_api(lake: str, eng: Engine, tmp_path: Path) -> None:
    from siyu.measure.attribution import FirstTouch, Linear, Markov, Shapley, compare_models, holdout_validation
    from siyu.measure.touchpoints import touches_table

    got = run_json("attribution", "--lake", lake, "--by", "touch_type", "--lookback", "15", "--models",
                   "linear,markov,shapley", "--markov-order", "2", "--validate")
    touches = touches_table(eng, {"grouping": "touch_type", "lookback_days": 15})
    models = {"linear": Linear(), "markov": Markov({"order": 2}), "shapley": Shapley()}
    assert got["rows"] == same(compare_models(touches, models).to_pylist())
    assert got["validation"] == same(holdout_validation(touches, models).to_pylist())
    assert got["models"]["markov"] == {"model": "markov", "config": Markov({"order": 2}).to_dict()["config"]}

    # The same credit from a touches file, and CSV reads back to the same numbers as Parquet.
    pq.write_table(touches, tmp_path / "t.parquet")
    from_file = run_json("attribution", "--touches", str(tmp_path / "t.parquet"), "--models", "linear,markov,shapley",
                         "--markov-order", "2")
    assert from_file["rows"] == got["rows"] and from_file["validation"] is None
    pacsv.write_csv(touches, tmp_path / "t.csv")
    from_csv = run_json("attribution", "--touches", str(tmp_path / "t.csv"), "--models", "first_touch,linear")
    expected = compare_models(pacsv.read_csv(tmp_path / "t.csv"), {"first_touch": FirstTouch(), "linear": Linear()})
    assert from_csv["rows"] == same(expected.to_pylist())
    assert [r["linear_conversions"] for r in from_csv["rows"]] == [r["linear_conversions"] for r in got["rows"]]


# --- experiments ---------------------------------------------------------------------------------------------------


def test_experiment_commands_equal_the_api(demo: dict[str, Any], lake: str, tmp_path: Path) -> None:
    from siyu.measure.experiments import assign, mde_proportions, sample_size_means, sample_size_proportions
    from siyu.measure.experiments.readout import read_experiment, register_experiment_sources

    listed = run_json("experiment", "list", "--lake", lake)
    truth = json.loads((Path(demo["root"]) / "world" / "truth" / "params.json").read_text())["ab_test"]
    assert {r["variant"]: r["units"] for r in listed} == {"control": truth["control"],
                                                         "treatment": truth["treatment"]}
    exp = truth["campaign_id"]
    got = run_json("experiment", "readout", exp, "--lake", lake, "--window", "7")
    e = open_engine("duckdb")
    register_experiment_sources(e, demo["lake"])
    assert got == close(read_experiment(e, exp, window_days=7).to_dict())
    assert got["revenue_cuped"] is not None and got["conversion"]["n_a"] == truth["control"]

    assert run_json("experiment", "size", "--baseline", "0.1", "--mde", "0.02", "--power", "0.9", "--ratio", "2") \
        == same(sample_size_proportions(0.1, 0.1 + 0.02, power=0.9, ratio=2.0).to_dict())
    assert run_json("experiment", "size", "--baseline", "0.05", "--n", "10000", "--method", "arcsine") \
        == same(mde_proportions(0.05, 10_000, method="arcsine").to_dict())
    assert run_json("experiment", "size", "--sd", "80", "--mde", "5", "--alpha", "0.01") \
        == same(sample_size_means(5.0, 80.0, alpha=0.01).to_dict())

    ids = [f"u{i}" for i in range(2000)]
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    done = run_json("experiment", "assign", "--experiment", "spring", "--salt", "s1", "--variants",
                    "control=50,treatment=50", "--holdout", "0.1", "--ids", str(tmp_path / "ids.txt"), "--out",
                    str(tmp_path / "a.csv"))
    expected = assign(ids, "spring", "s1", {"control": 50, "treatment": 50}, holdout=0.1).tolist()
    written = pacsv.read_csv(tmp_path / "a.csv").to_pydict()
    assert written["unit_value"] == ids and written["variant"] == expected
    assert done["counts"] == {v: expected.count(v) for v in ("control", "holdout", "treatment")}
    assert set(written["experiment_id"]) == {"spring"}


# --- alerts and the strategy-effect log -----------------------------------------------------------------------------

RULES = """rules:
  - {name: gmv_wow_drop, metric: gmv, kind: threshold, baseline: last_week, drop: 0.2, severity: critical}
  - {name: dau_seasonal, metric: dau, kind: seasonal, weeks: 4, sensitivity: high, direction: both}
"""


class _Hook(BaseHTTPRequestHandler):
    bodies: list[tuple[bytes, str | None]] = []  # noqa: RUF012 - the test server's record

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.bodies.append((body, self.headers.get("X-Siyu-Signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[bytes, str | None]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.bodies = []
    monkeypatch.setenv("SIYU_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    monkeypatch.setenv("SIYU_ALERT_WEBHOOK_SECRET", "s3cret")
    get_settings.cache_clear()
    try:
        yield _Hook.bodies
    finally:
        server.shutdown()
        server.server_close()
        monkeypatch.delenv("SIYU_ALERT_WEBHOOK_URL")
        monkeypatch.delenv("SIYU_ALERT_WEBHOOK_SECRET")
        get_settings.cache_clear()


def test_alerts_run_store_send_list_and_ack(demo: dict[str, Any], lake: str, tmp_path: Path,
                                             hook: list[tuple[bytes, str | None]]) -> None:
    from siyu.measure.alerts import detect_alerts, load_rules, verify_signature
    from siyu.measure.kpi import load_catalogue, register_kpi_sources
    from siyu.measure.kpi.compute import data_end

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    got = run_json("alerts", "run", "--lake", lake, "--rules", str(rules), "--days", "60", "--store", store)
    e = open_engine("duckdb")
    register_kpi_sources(e, demo["lake"])
    cat = load_catalogue()
    expected = detect_alerts(e, cat, load_rules(rules, catalogue=cat), data_end(e), days=60)
    assert [a["id"] for a in got["new"]] == [a.id for a in expected] and len(expected) > 0
    assert [a["observed"] for a in got["new"]] == close([a.observed for a in expected])
    assert got["webhook"] == {"configured": True, "sent": len(expected), "pending": 0}
    sent = [a["id"] for body, _ in hook for a in json.loads(body)["alerts"]]
    assert sorted(sent) == sorted(a.id for a in expected)
    assert all(verify_signature(body, signature, "s3cret") for body, signature in hook)

    again = run_json("alerts", "run", "--lake", lake, "--rules", str(rules), "--days", "60", "--store", store)
    assert again["new"] == []  # idempotent: nothing new to store or send
    listed = run_json("alerts", "list", "--store", store, "--since", "2026-01-01")
    assert sorted(a["id"] for a in listed) == sorted(a.id for a in expected)
    first = listed[0]["id"]
    acked = run_json("alerts", "ack", first, "--store", store, "--by", "ops_li")
    assert acked["acknowledged_by"] == "ops_li"
    assert first not in {a["id"] for a in run_json("alerts", "list", "--store", store, "--unacked")}


def test_effects_record_evaluate_search(demo: dict[str, Any], lake: str, tmp_path: Path) -> None:
    from siyu.measure.effects import window_mean
    from siyu.measure.kpi import load_catalogue, register_kpi_sources

    store = f"sqlite:///{tmp_path / 'store.db'}"
    entry = run_json("effects", "record", "--name", "沉默用户唤醒 SOP", "--kind", "journey", "--metric", "dau",
                     "--start", "2026-05-10", "--end", "2026-05-20T18:00", "--users", "1200", "--tag", "唤醒",
                     "--tag", "sop", "--by", "ops_li", "--store", store)
    assert entry["verification"] == "pending" and entry["tags"] == ["sop", "唤醒"]
    assert datetime.fromisoformat(entry["started_at"]) == datetime.fromisoformat("2026-05-10T00:00:00+08:00")
    done = run_json("effects", "evaluate", str(entry["id"]), "--lake", lake, "--p-value", "0.01", "--test",
                    "two_proportion_ztest", "--store", store)
    assert (done["baseline_start"], done["baseline_end"]) == ("2026-04-29", "2026-05-09")
    assert (done["after_start"], done["after_end"]) == ("2026-05-10", "2026-05-20")
    e = open_engine("duckdb")
    register_kpi_sources(e, demo["lake"])
    cat = load_catalogue()
    before = window_mean(e, cat, "dau", date(2026, 4, 29), date(2026, 5, 9))
    after = window_mean(e, cat, "dau", date(2026, 5, 10), date(2026, 5, 20))
    assert (done["kpi_before"], done["kpi_after"]) == (before, after)
    assert done["kpi_change"] == pytest.approx((after - before) / before)  # type: ignore[operator]
    assert done["verification"] == ("verified" if after > before else "not_verified")  # type: ignore[operator]
    found = run_json("effects", "search", "--tag", "sop", "--store", store)
    assert [x["id"] for x in found] == [entry["id"]]
    assert run_json("effects", "search", "--text", "nothing like it", "--store", store) == []


# --- bad input: one line, exit 2, no trace --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    (root / "bad.yaml").write_text("rules: [\n")
    (root / "extreme.yaml").write_text("rules:\n  - {name: x, metric: gmv, kind: seasonal, sensitivity: extreme}\n")
    (root / "touches.csv").write_text("journey_id,channel\nj1,a\n")
    return root


ERRORS = [
    (["funnel", "--steps", "mp_page_viewed,product viewed"], "bad event 'product viewed'"),
    (["funnel", "--steps", "a[category=x,b"], "write NAME or NAME[column=value"),
    (["funnel", "--steps", "a[nope=1],b"], "unknown event column 'nope'"),
    (["funnel", "--steps", "a"], "a funnel needs 2 to 20 steps"),
    (["funnel", "--steps", "a,b", "--from", "2026-02-30"], "not a date (YYYY-MM-DD): '2026-02-30'"),
    (["funnel", "--steps", "a,b", "--order", "sideways"], "'loose' or 'strict'"),
    (["funnel", "--steps", "a,b", "--dropouts-at", "1"], "--dropouts-at K and --out FILE go together"),
    (["funnel", "--steps", "a,b", "--dropouts-at", "1", "--out", "x.xlsx"], "must end in .csv or .parquet"),
    (["cohorts", "--period", "year"], "'week' or 'month'"),
    (["cohorts", "--days", "1,seven"], "--days takes whole numbers"),
    (["paths"], "choose one of --before EVENT, --churn or --from-event EVENT"),
    (["paths", "--churn", "--before", "order_paid"], "choose one of"),
    (["paths", "--from-event", "a[channel=x]"], "takes an event name without [filters]"),
    (["paths", "--churn", "--steps", "50"], "steps must be between 1 and 20"),
    (["heatmap", "--segments", "defs.yaml"], "--segments needs --segment"),
    (["attribution", "--models", "linear,lstm"], "unknown attribution model 'lstm'"),
    (["attribution", "--lookback", "60"], "--any-window"),
    (["attribution", "--markov-order", "7", "--models", "markov"], "order"),
    (["experiment", "readout", "no_such_test"], "no assignments for experiment 'no_such_test'"),
    (["experiment", "list", "--engine", "oracle"], "oracle"),
]


@pytest.mark.parametrize(("args", "says"), ERRORS, ids=[" ".join(a)[:50] for a, _ in ERRORS])
def test_lake_errors_are_one_clean_line(lake: str, args: list[str], says: str) -> None:
    result = runner.invoke(app, [*args, "--lake", lake])
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert result.output.startswith("error ")


STANDALONE_ERRORS = [
    (["funnel", "--lake", "{tmp}/nowhere", "--steps", "a,b"], "is not a built lake"),
    (["attribution"], "give one of --lake"),
    (["attribution", "--touches", "{tmp}/missing.parquet"], "does not exist"),
    (["attribution", "--touches", "{bad}/touches.csv"], "missing"),
    (["attribution", "--touches", "{bad}/bad.yaml"], "must be a .parquet or .csv file"),
    (["experiment", "size", "--baseline", "0.1"], "give --mde"),
    (["experiment", "size", "--baseline", "1.2", "--mde", "0.1"], "p_control must be a rate"),
    (["experiment", "size", "--mde", "0.1"], "rates need --baseline"),
    (["experiment", "size", "--baseline", "0.1", "--mde", "0.02", "--method", "t"], "--method must be pooled or"),
    (["experiment", "assign", "--experiment", "e", "--salt", "s", "--variants", "a=1,b", "--ids", "{bad}/bad.yaml",
      "--out", "{tmp}/a.csv"], "--variants must be NAME=WEIGHT"),
    (["experiment", "assign", "--experiment", "e:1", "--salt", "s", "--variants", "a=1", "--ids", "{bad}/bad.yaml",
      "--out", "{tmp}/a.csv"], "must not contain ':'"),
    (["experiment", "assign", "--experiment", "e", "--salt", "s", "--variants", "a=1", "--ids", "{tmp}/none.txt",
      "--out", "{tmp}/a.csv"], "does not exist"),
    (["alerts", "run", "--lake", "{lake}", "--rules", "{bad}/bad.yaml", "--store", "{store}"], "YAML syntax"),
    (["alerts", "run", "--lake", "{lake}", "--rules", "{bad}/extreme.yaml", "--store", "{store}"], "sensitivity"),
    (["alerts", "run", "--lake", "{lake}", "--rules", "{tmp}/none.yaml", "--store", "{store}"], "does not exist"),
    (["alerts", "list", "--since", "yesterday", "--store", "{store}"], "not a date"),
    (["alerts", "list", "--severity", "panic", "--store", "{store}"], "unknown severity 'panic'"),
    (["alerts", "ack", "0123", "--store", "{store}"], "no alert '0123'"),
    (["alerts", "list", "--store", "nosuchdb://x"], "cannot open the store"),
    (["effects", "record", "--name", "n", "--kind", "journey", "--metric", "no_such_kpi", "--start", "2026-01-01",
      "--store", "{store}"], "unknown metric 'no_such_kpi'"),
    (["effects", "record", "--name", "n", "--kind", "party", "--metric", "dau", "--start", "2026-01-01",
      "--store", "{store}"], "kind"),
    (["effects", "record", "--name", "n", "--kind", "journey", "--metric", "dau", "--start", "soon",
      "--store", "{store}"], "not a date or time"),
    (["effects", "record", "--name", "n", "--kind", "journey", "--metric", "dau", "--start", "2026-03-02",
      "--end", "2026-03-01", "--store", "{store}"], "is before started_at"),
    (["effects", "evaluate", "42", "--lake", "{lake}", "--store", "{store}"], "no strategy-effect entry 42"),
    (["effects", "search", "--kind", "party", "--store", "{store}"], "unknown kind 'party'"),
]


@pytest.mark.parametrize(("args", "says"), STANDALONE_ERRORS, ids=[" ".join(a)[:50] for a, _ in STANDALONE_ERRORS])
def test_other_errors_are_one_clean_line(lake: str, bad_files: Path, tmp_path: Path, args: list[str],
                                         says: str) -> None:
    subst = {"{tmp}": str(tmp_path), "{bad}": str(bad_files), "{lake}": lake,
             "{store}": f"sqlite:///{tmp_path / 'store.db'}"}
    filled = []
    for arg in args:
        for key, value in subst.items():
            arg = arg.replace(key, value)
        filled.append(arg)
    result = runner.invoke(app, filled)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert result.output.startswith("error ")
