"""The visual report (效果追踪报告): one self-contained HTML file with Apache ECharts charts, opens offline.

>>> from siyu.measure.report import ReportData, FunnelSection, FunnelStep, write_report
>>> data = ReportData(funnel=FunnelSection(steps=[FunnelStep(name="进店", count=1000),
...                                               FunnelStep(name="下单", count=120)]))
>>> write_report(data, "report.html")            # Chinese labels; lang="en" for English  # doctest: +SKIP
"""

from siyu.measure.report.labels import LANGUAGES, Labels
from siyu.measure.report.model import (
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
    parse_report_data,
)
from siyu.measure.report.page import ECHARTS_VERSION, render_report, write_report

__all__ = [
    "ECHARTS_VERSION",
    "LANGUAGES",
    "ActivityHeatmap",
    "Alert",
    "AttributionCredit",
    "AttributionSection",
    "CohortRow",
    "CohortSection",
    "DropOff",
    "ExperimentResult",
    "ExperimentSection",
    "FunnelBreakdown",
    "FunnelSection",
    "FunnelStep",
    "KpiCard",
    "KpiSection",
    "KpiTrend",
    "Labels",
    "ModelValidation",
    "PathLink",
    "PathSection",
    "ReportData",
    "TrendPoint",
    "VariantResult",
    "parse_report_data",
    "render_report",
    "write_report",
]
