"""Small fixed report data with every section filled, shared by the report tests.

Names a user could type carry markup on purpose (a campaign called ``<script>alert(1)</script>``)
so every test that renders this data also exercises the escaping.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from siyu.measure.report import (
    ActivityHeatmap,
    Alert,
    AttributionCredit,
    AttributionSection,
    CohortRow,
    CohortSection,
    DropOff,
    ExperimentResult,
    ExperimentSection,
    FunnelBreakdown,
    FunnelSection,
    FunnelStep,
    KpiCard,
    KpiSection,
    KpiTrend,
    ModelValidation,
    PathLink,
    PathSection,
    ReportData,
    TrendPoint,
    VariantResult,
)

EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'
START = date(2024, 11, 1)


def _trend(name_zh: str, name_en: str, unit: str, base: float, step: float) -> KpiTrend:
    points = [TrendPoint(day=START + timedelta(days=i), value=base + step * i + (i % 3) * step)
              for i in range(14)]
    return KpiTrend(name_zh=name_zh, name_en=name_en, unit=unit, points=points)


def full_report() -> ReportData:
    """Every section filled, 14 days of trends, three cohorts, four attribution channels."""
    heat = [[float((d + 1) * (h % 12) + (100 if (d, h) == (1, 20) else 0)) for h in range(24)] for d in range(7)]
    return ReportData(
        title="双十一效果复盘 " + EVIL,
        window_start=START,
        window_end=START + timedelta(days=13),
        generated_at=datetime(2024, 11, 15, 9, 30, tzinfo=UTC),
        kpis=KpiSection(
            cards=[
                KpiCard(name_zh="成交额", name_en="GMV", value=1234567.5, unit="元", change=0.125),
                KpiCard(name_zh="复购率", name_en="Repurchase rate", value=23.4, unit="%", change=-0.031),
                KpiCard(name_zh="退款率", name_en="Refund rate", value=2.1, unit="%", change=-0.2,
                        higher_is_better=False),
                KpiCard(name_zh=EVIL, name_en=EVIL, value=7, unit=""),
            ],
            trends=[_trend("成交额", "GMV", "元", 80000, 900), _trend("转化率", "Conversion rate", "%", 8, 0.1),
                    _trend("复购率", "Repurchase rate", "%", 20, 0.3)],
        ),
        funnel=FunnelSection(
            name="活码拉新 → 首单",
            steps=[FunnelStep(name="扫码", count=10000), FunnelStep(name="添加企微", count=6200),
                   FunnelStep(name="进入小程序", count=3100), FunnelStep(name="下单", count=820)],
            breakdown_by="渠道",
            breakdown=[FunnelBreakdown(segment="门店", counts=[6000, 4100, 2000, 600]),
                       FunnelBreakdown(segment=EVIL, counts=[4000, 2100, 1100, 220])],
        ),
        cohorts=CohortSection(
            period="week",
            rows=[CohortRow(label="2024-W40", size=1200, retention=[1.0, 0.42, 0.31, 0.27],
                            revenue=[36000, 12000, 9000, 8000]),
                  CohortRow(label="2024-W41", size=980, retention=[1.0, 0.45, 0.33, None],
                            revenue=[30000, 11000, 8000, None]),
                  CohortRow(label="2024-W42", size=1500, retention=[1.0, 0.40, None, None])],
        ),
        paths=PathSection(
            links=[PathLink(source="1·扫码", target="2·欢迎语", value=900),
                   PathLink(source="1·扫码", target="2·离开", value=100),
                   PathLink(source="2·欢迎语", target="3·领券", value=600),
                   PathLink(source="2·欢迎语", target="3·离开", value=300),
                   PathLink(source="3·领券", target="4·下单", value=250),
                   PathLink(source="3·领券", target="4·" + EVIL, value=350)],
            key_drop_off=DropOff(step="2·欢迎语", lost=300, rate=1 / 3, note="欢迎语后三分之一用户流失"),
        ),
        attribution=AttributionSection(
            credits=[AttributionCredit(model=m, channel=ch, conversions=c, value=c * 150)
                     for m, row in (("last_touch", (120, 80, 40, 10)), ("linear", (90, 85, 55, 20)),
                                    ("markov", (95, 88, 50, 17)))
                     for ch, c in zip(("企微", "公众号", "小程序", EVIL), row, strict=True)],
            validation=[ModelValidation(model="markov", scores={"auc": 0.71, "log_loss": 0.52}),
                        ModelValidation(model="linear", scores={"auc": 0.66, "log_loss": 0.58}, note=EVIL)],
        ),
        experiments=ExperimentSection(results=[
            ExperimentResult(experiment="欢迎语 A/B", metric="首单转化率",
                             variants=[VariantResult(name="A", users=5000, value=0.081),
                                       VariantResult(name="B", users=5000, value=0.089)],
                             estimate=0.099, ci_low=0.02, ci_high=0.18, p_value=0.014, prob_better=0.993,
                             decision="ship"),
            ExperimentResult(experiment=EVIL, metric="客单价", estimate=-0.01, ci_low=-0.05, ci_high=0.03,
                             p_value=0.61, prob_better=0.31, decision="no_difference"),
            ExperimentResult(experiment="券面额", metric="毛利（元/人）", relative=False, estimate=-1.8,
                             ci_low=-3.1, ci_high=-0.5, p_value=0.007, decision="rollback"),
        ]),
        heatmap=ActivityHeatmap(metric="消息打开数", counts=heat),
        alerts=[Alert(severity="critical", metric="退款率", message="退款率高于预期 " + EVIL,
                      day=START + timedelta(days=9), value=4.2, expected=2.0),
                Alert(severity="info", metric="GMV", message=EVIL_ATTR)],
    )


#: Chart containers the full report draws, in page order.
FULL_CHARTS = (
    "chart-kpi-trend-1", "chart-kpi-trend-2", "chart-funnel", "chart-funnel-breakdown",
    "chart-cohort-retention", "chart-cohort-revenue", "chart-paths", "chart-attribution-conversions",
    "chart-attribution-value", "chart-experiments-relative", "chart-experiments-absolute", "chart-activity",
)
