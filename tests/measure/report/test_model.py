"""The report's data contract: what it accepts, what it refuses, and the few numbers it derives."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import ValidationError

from siyu.core.errors import SiyuError
from siyu.measure.report import (
    ActivityHeatmap,
    AttributionCredit,
    AttributionSection,
    CohortRow,
    CohortSection,
    DropOff,
    ExperimentResult,
    FunnelBreakdown,
    FunnelSection,
    FunnelStep,
    KpiCard,
    KpiTrend,
    PathLink,
    PathSection,
    ReportData,
    TrendPoint,
    parse_report_data,
)
from tests.measure.report.sample import full_report


def test_every_section_is_optional() -> None:
    data = ReportData()
    assert all(getattr(data, s) is None for s in ("kpis", "funnel", "cohorts", "paths", "attribution",
                                                    "experiments", "heatmap", "alerts"))


def test_full_sample_round_trips_through_json() -> None:
    data = full_report()
    assert parse_report_data(data.model_dump_json()) == data
    assert parse_report_data(json.loads(data.model_dump_json())) == data


def test_funnel_rates_from_counts_hand_worked() -> None:
    f = FunnelSection(steps=[FunnelStep(name="a", count=200), FunnelStep(name="b", count=50),
                             FunnelStep(name="c", count=10)])
    assert f.rates() == [(1.0, 1.0), (0.25, 0.25), (0.2, 0.05)]


def test_funnel_given_rates_win_and_zero_counts_give_none() -> None:
    f = FunnelSection(steps=[FunnelStep(name="a", count=0), FunnelStep(name="b", count=0, rate_from_previous=0.3)])
    assert f.rates() == [(None, None), (0.3, None)]


def test_funnel_breakdown_must_match_steps() -> None:
    with pytest.raises(ValidationError, match="2 counts for 3 steps"):
        FunnelSection(steps=[FunnelStep(name=n, count=1) for n in "abc"],
                      breakdown=[FunnelBreakdown(segment="x", counts=[1, 1])])


@pytest.mark.parametrize("bad", [1.2, -0.1, float("nan")])
def test_rates_outside_0_1_or_nan_are_refused(bad: float) -> None:
    with pytest.raises(ValidationError):
        CohortRow(label="w1", size=10, retention=[1.0, bad])


def test_kpi_names_fall_back_across_languages() -> None:
    card = KpiCard(name_zh="成交额", value=1)
    assert card.name("en") == "成交额" and card.name("zh") == "成交额"
    with pytest.raises(ValidationError, match="name_zh or name_en"):
        KpiCard(value=1)


def test_trend_days_must_increase() -> None:
    with pytest.raises(ValidationError, match="strictly increasing"):
        KpiTrend(name_en="GMV", points=[TrendPoint(day=date(2024, 1, 2), value=1),
                                        TrendPoint(day=date(2024, 1, 1), value=2)])


def test_path_cycle_is_refused() -> None:
    links = [PathLink(source="首页", target="商品", value=5), PathLink(source="商品", target="购物车", value=3),
             PathLink(source="购物车", target="首页", value=1)]
    with pytest.raises(ValidationError, match="cycle"):
        PathSection(links=links)
    PathSection(links=links[:2])  # the same graph without the back edge is fine


def test_path_self_loop_is_a_cycle() -> None:
    with pytest.raises(ValidationError, match="cycle"):
        PathSection(links=[PathLink(source="a", target="a", value=1)])


def test_path_nodes_and_drop_off_must_be_known() -> None:
    with pytest.raises(ValidationError, match="not in nodes"):
        PathSection(nodes=["a"], links=[PathLink(source="a", target="b", value=1)])
    with pytest.raises(ValidationError, match="key_drop_off"):
        PathSection(links=[PathLink(source="a", target="b", value=1)], key_drop_off=DropOff(step="z", lost=1))
    p = PathSection(links=[PathLink(source="a", target="b", value=1), PathLink(source="b", target="c", value=1)])
    assert p.node_names() == ["a", "b", "c"]


def test_experiment_ci_must_hold_the_estimate() -> None:
    with pytest.raises(ValidationError, match="ci_low <= estimate <= ci_high"):
        ExperimentResult(experiment="e", metric="m", estimate=0.2, ci_low=0.0, ci_high=0.1)


def test_attribution_cells_are_unique() -> None:
    cell = AttributionCredit(model="linear", channel="企微", conversions=3)
    with pytest.raises(ValidationError, match="duplicate"):
        AttributionSection(credits=[cell, cell])


def test_heatmap_shape_and_best_time() -> None:
    counts = [[0.0] * 24 for _ in range(7)]
    with pytest.raises(ValidationError, match="7 rows"):
        ActivityHeatmap(counts=counts[:6])
    assert ActivityHeatmap(counts=counts).best_time() is None
    counts[4][21] = 9.0
    counts[2][8] = 9.0  # a tie: the earlier cell (Wednesday 08:00) wins
    assert ActivityHeatmap(counts=counts).best_time() == (2, 8)
    assert ActivityHeatmap(counts=counts, best=(6, 10)).best_time() == (6, 10)


def test_cohort_labels_unique_and_periods() -> None:
    rows = [CohortRow(label="w1", size=1, retention=[1.0, 0.5, 0.2]), CohortRow(label="w2", size=1, retention=[1.0])]
    assert CohortSection(rows=rows).periods == 3
    with pytest.raises(ValidationError, match="duplicate cohort label"):
        CohortSection(rows=[rows[0], rows[0]])


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        ReportData.model_validate({"funel": {}})


def test_parse_report_data_names_the_bad_field() -> None:
    with pytest.raises(SiyuError) as err:
        parse_report_data({"funnel": {"steps": [{"name": "扫码", "count": -3}]}})
    assert err.value.code == "bad_report_data"
    assert err.value.input_name == "funnel.steps.0.count"
    with pytest.raises(SiyuError, match="window_start"):
        parse_report_data('{"window_start": "2024-02-01", "window_end": "2024-01-01"}')
