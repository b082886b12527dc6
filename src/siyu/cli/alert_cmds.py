"""``siyu measure alerts | effects``: anomaly alerts (异常预警) and the strategy-effect log (策略效果追踪表).

Thin commands over :mod:`siyu.measure.alerts` and :mod:`siyu.measure.effects`: rules are loaded and checked
against the KPI catalogue, one call runs them (storing new alerts in the operational store and, when
``SIYU_ALERT_WEBHOOK_URL`` is set, delivering them), and the log is written, evaluated and searched there.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from siyu.cli.common import EngineOpt, JsonOpt, LakeOpt, cli_actor, day_option, fail
from siyu.cli.measure_common import SegmentsOpt, built_lake, plain, segment_members
from siyu.cli.output import console, kv_table, out, print_json
from siyu.cli.store_cmds import StoreOpt
from siyu.core.errors import SiyuError

alerts_app = typer.Typer(help="Anomaly alerts (异常预警): run the rules, list, acknowledge.", no_args_is_help=True)
effects_app = typer.Typer(help="Strategy-effect log (策略效果追踪表): record, evaluate, search.", no_args_is_help=True)

KpiDefsOpt = Annotated[list[Path] | None, typer.Option(
    "--definitions", help="Extra KPI YAML files or folders (add or override built-in metrics).")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who does this (default: cli:<your user>).")]


def _open(url: str | None) -> Any:
    from siyu.store import open_store

    try:
        return open_store(url)
    except SiyuError:
        raise
    except Exception as exc:  # a bad URL or an unreachable server: a clean message, not a trace
        raise SiyuError(f"cannot open the store: {exc}", code="store_unavailable", input_name="--store") from None


def _catalogue(defs: list[Path] | None) -> dict[str, Any]:
    from siyu.measure.kpi import load_catalogue

    return load_catalogue(*(defs or []))


def _kpi_engine(engine: str, lake: Path, names: list[str] | None = None, segments: Path | None = None
                ) -> tuple[Any, Any]:
    """An engine with the KPI views, and the (one_id, label) table of the named segments when asked."""
    from siyu.measure.kpi import register_kpi_sources
    from siyu.warehouse.engine import open_engine

    built = built_lake(lake)
    eng = open_engine(engine)
    labels = segment_members(eng, lake, names, segments) if names else None
    register_kpi_sources(eng, built)
    return eng, labels


def _webhook(enabled: bool) -> Any:
    from siyu.core.config import get_settings
    from siyu.measure.alerts import WebhookConfig

    settings = get_settings()
    if not enabled or not settings.alert_webhook_url:
        return None
    return WebhookConfig(settings.alert_webhook_url, secret=settings.alert_webhook_secret or None)


def _alert_table(title: str, alerts: list[Any]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("id", "day", "rule", "group", "observed", "expected", "change", "severity", "message", "ack"):
        table.add_column(col, justify="right" if col in ("observed", "expected", "change") else "left",
                         overflow="fold")  # the whole id: `alerts ack` needs it
    for a in alerts:
        table.add_row(a.id, str(a.day), escape(a.rule), escape(a.grp), _num(a.observed), _num(a.expected),
                      "–" if a.deviation is None else f"{a.deviation:+.1%}", a.severity, escape(a.message_zh),
                      "✓" if getattr(a, "acknowledged_at", None) else "")
    return table


@alerts_app.command("run")
def alerts_run(
    lake: LakeOpt,
    rules: Annotated[list[Path], typer.Option("--rules", help="Rule YAML files or folders (repeat).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Day to judge (default: the lake's last day).")]
    = None,
    days: Annotated[int, typer.Option("--days", help="Judge the N days ending on --as-of (to catch up).")] = 1,
    segment: Annotated[list[str] | None, typer.Option("--segment", help="For rules with `by: segment`: "
                                                      "segments to watch (repeat).")] = None,
    segments: SegmentsOpt = None,
    webhook: Annotated[bool, typer.Option("--webhook/--no-webhook", help="Deliver to SIYU_ALERT_WEBHOOK_URL when "
                                          "it is set.")] = True,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Detect and print only: store and send nothing.")]
    = False,
    definitions: KpiDefsOpt = None,
    store: StoreOpt = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Run the alert rules for a day: store the new alerts and send them to the webhook (预警巡检)."""
    from siyu.measure.alerts import detect_alerts, load_rules, pending_count, run_alerts
    from siyu.measure.kpi.compute import data_end

    try:
        cat = _catalogue(definitions)
        for path in rules:
            if not path.exists():
                raise SiyuError(f"{path} does not exist", code="not_found", input_name="--rules")
        checked = load_rules(*rules, catalogue=cat)
        if any(r.by == "segment" for r in checked) and not segment:
            raise SiyuError("rules broken down by segment need --segment NAME (repeat)", code="bad_breakdown",
                            input_name="--segment")
        eng, labels = _kpi_engine(engine, lake, segment, segments)
        day = day_option(as_of, "--as-of") or data_end(eng)
        hook = _webhook(webhook)
        pending = None
        if dry_run:
            new: list[Any] = detect_alerts(eng, cat, checked, day, days=days, labels=labels)
        else:
            with _open(store) as st:
                new = run_alerts(eng, cat, checked, day, st, days=days, labels=labels, webhook=hook)
                pending = pending_count(st) if hook is not None else None
    except SiyuError as exc:
        fail(exc)
    delivery = {"configured": hook is not None, "sent": sum(1 for a in new if getattr(a, "sent_at", None)),
                "pending": pending}
    if as_json:
        print_json({"as_of": day, "days": days, "dry_run": dry_run, "new": [plain(a.to_dict()) for a in new],
                    "webhook": delivery})
        return
    verb = "detected" if dry_run else "new"
    out.print(_alert_table(f"{len(new)} {verb} alert(s) up to {day}", new))
    if hook is not None and not dry_run:
        if pending:
            console.print(f"[yellow]warning[/yellow] webhook delivery failed: {pending} alert(s) stay pending for "
                          "the next run", soft_wrap=True)
        else:
            console.print(f"sent {delivery['sent']} alert(s) to the webhook")


@alerts_app.command("list")
def alerts_list(
    unacked: Annotated[bool, typer.Option("--unacked", help="Only alerts nobody acknowledged yet.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="First day YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day YYYY-MM-DD.")] = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    metric: Annotated[str | None, typer.Option("--metric")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="info, warning or critical.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1–1000).")] = 100,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stored alerts, newest day first."""
    from siyu.measure.alerts import list_alerts

    try:
        first, last = day_option(since, "--since"), day_option(until, "--until")
        with _open(store) as st:
            got = list_alerts(st, since=first, until=last, rule=rule, metric=metric, severity=severity,
                              acknowledged=False if unacked else None, limit=limit)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json([plain(a.to_dict()) for a in got])
        return
    out.print(_alert_table(f"{len(got)} alert(s)", got))


@alerts_app.command("ack")
def alerts_ack(alert_id: Annotated[str, typer.Argument(help="The alert's id (see `alerts list --json`).")],
               by: ByOpt = None, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge an alert (已确认): seen and handled. Acknowledging again keeps the first."""
    from siyu.measure.alerts import acknowledge_alert

    try:
        with _open(store) as st:
            got = acknowledge_alert(st, alert_id, by or cli_actor())
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json(plain(got.to_dict()))
        return
    out.print(f"acknowledged {got.id} ({escape(got.rule)}, {got.day}) by {escape(str(got.acknowledged_by))} "
              f"at {got.acknowledged_at}")


# --- the strategy-effect log -------------------------------------------------------------------------------------


def _moment(value: str | None, option: str) -> datetime | None:
    """YYYY-MM-DD (the start of that business day) or an ISO time; without a zone, the business time zone."""
    from siyu.core.config import get_settings

    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise SiyuError(f"not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[+08:00]): {value!r}",
                        code="bad_date", input_name=option) from None
    if len(value) == 10:
        at = datetime.combine(at.date(), time())
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(get_settings().business_timezone))


def _print_effect(effect: Any, as_json: bool) -> None:
    data = plain(effect.to_dict())
    if as_json:
        print_json(data)
        return
    shown = {k: ("–" if v is None else ", ".join(v) if isinstance(v, list) else v) for k, v in data.items()}
    for key in ("kpi_before", "kpi_after"):
        shown[key] = _num(data[key])
    shown["kpi_change"] = "–" if data["kpi_change"] is None else f"{data['kpi_change']:+.1%}"
    out.print(kv_table(f"strategy effect #{effect.id}", shown))


@effects_app.command("record")
def effects_record(
    name: Annotated[str, typer.Option("--name", help="What was done, e.g. 沉默用户唤醒 SOP.")],
    kind: Annotated[str, typer.Option("--kind", help="journey, campaign, content, price, benefit, community "
                                      "or other.")],
    metric: Annotated[str, typer.Option("--metric", help="The KPI it targets (see `siyu measure kpi list`).")],
    start: Annotated[str, typer.Option("--start", help="When it started: YYYY-MM-DD or an ISO time.")],
    end: Annotated[str | None, typer.Option("--end", help="When it ended (leave out while it runs).")] = None,
    users: Annotated[int | None, typer.Option("--users", help="People it covered.")] = None,
    segment: Annotated[str | None, typer.Option("--segment", help="The segment it covered (a name).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag for the knowledge base (repeat).")] = None,
    description: Annotated[str, typer.Option("--description", help="Free text.")] = "",
    baseline_from: Annotated[str | None, typer.Option("--baseline-from", help="Baseline window's first day.")]
    = None,
    baseline_to: Annotated[str | None, typer.Option("--baseline-to", help="Baseline window's last day.")] = None,
    experiment: Annotated[str | None, typer.Option("--experiment", help="A linked experiment id.")] = None,
    by: ByOpt = None,
    definitions: KpiDefsOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an action in the strategy-effect log (策略效果追踪表)."""
    from siyu.measure.effects import record_effect

    try:
        if metric not in _catalogue(definitions):
            raise SiyuError(f"unknown metric {metric!r}; see `siyu measure kpi list`", code="unknown_metric",
                            input_name="--metric")
        started = _moment(start, "--start")
        assert started is not None
        with _open(store) as st:
            effect = record_effect(st, author=by or cli_actor(), name=name, kind=kind, metric=metric,
                                   started_at=started, ended_at=_moment(end, "--end"), description=description,
                                   users_covered=users, segment=segment,
                                   baseline_start=day_option(baseline_from, "--baseline-from"),
                                   baseline_end=day_option(baseline_to, "--baseline-to"), tags=tag or (),
                                   experiment=experiment)
    except SiyuError as exc:
        fail(exc)
    _print_effect(effect, as_json)


@effects_app.command("evaluate")
def effects_evaluate(
    effect_id: Annotated[int, typer.Argument(help="The entry's id.")],
    lake: LakeOpt,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Last day to measure (needed while it runs).")]
    = None,
    p_value: Annotated[float | None, typer.Option("--p-value", help="p-value of a linked experiment.")] = None,
    test: Annotated[str | None, typer.Option("--test", help="Which test gave --p-value.")] = None,
    lift: Annotated[float | None, typer.Option("--lift", help="The experiment's effect (treatment − control).")]
    = None,
    experiment: Annotated[str | None, typer.Option("--experiment", help="The linked experiment id.")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level for the verdict.")] = 0.05,
    segments: Annotated[Path | None, typer.Option("--segments", help="Segment definitions: measure on the "
                                                  "entry's segment instead of everyone.")] = None,
    by: ByOpt = None,
    definitions: KpiDefsOpt = None,
    store: StoreOpt = None,
    engine: EngineOpt = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """Measure the target KPI before and after the action and give the verdict (验证)."""
    from siyu.measure.effects import evaluate_effect, get_effect

    try:
        cat = _catalogue(definitions)
        with _open(store) as st:
            names = None
            if segments is not None:
                entry = get_effect(st, effect_id)
                if entry.segment is None:
                    raise SiyuError(f"entry {effect_id} names no segment to measure on", code="bad_breakdown",
                                    input_name="--segments")
                names = [entry.segment]
            eng, labels = _kpi_engine(engine, lake, names, segments)
            effect = evaluate_effect(eng, cat, st, effect_id, actor=by or cli_actor(),
                                     as_of=day_option(as_of, "--as-of"), labels=labels, p_value=p_value, test=test,
                                     experiment=experiment, lift=lift, alpha=alpha)
    except SiyuError as exc:
        fail(exc)
    _print_effect(effect, as_json)


@effects_app.command("search")
def effects_search(
    tag: Annotated[str | None, typer.Option("--tag", help="An exact tag.")] = None,
    kind: Annotated[str | None, typer.Option("--kind")] = None,
    metric: Annotated[str | None, typer.Option("--metric")] = None,
    text: Annotated[str | None, typer.Option("--text", help="Found in the name or description.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Running on or after this day.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Running on or before this day.")] = None,
    verification: Annotated[str | None, typer.Option("--verification", help="pending, verified, not_verified "
                                                     "or inconclusive.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1–1000).")] = 100,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the log (知识库): what was tried, on which KPI, and whether it worked."""
    from siyu.measure.effects import business_day, search_effects

    try:
        first, last = day_option(since, "--since"), day_option(until, "--until")
        with _open(store) as st:
            got = search_effects(st, tag=tag, kind=kind, metric=metric, text=text, since=first, until=last,
                                 verification=verification, limit=limit)
    except SiyuError as exc:
        fail(exc)
    if as_json:
        print_json([plain(e.to_dict()) for e in got])
        return
    table = Table(title=f"{len(got)} entries", title_justify="left")
    for col in ("id", "name", "kind", "metric", "started", "before", "after", "change", "verdict", "tags"):
        table.add_column(col, justify="right" if col in ("id", "before", "after", "change") else "left")
    for e in got:
        table.add_row(str(e.id), escape(e.name), e.kind, escape(e.metric), str(business_day(e.started_at)),
                      _num(e.kpi_before), _num(e.kpi_after), "–" if e.kpi_change is None else f"{e.kpi_change:+.1%}",
                      e.verification, escape(", ".join(e.tags)))
    out.print(table)


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
