"""KPI catalogue (指标目录): metrics defined as code and computed per period, breakdown and comparison."""

from siyu.measure.kpi.compute import KpiQuery, compute_kpi, drill_kpi, period_starts
from siyu.measure.kpi.model import Grain, MetricDefinition, load_catalogue, metric_json_schema
from siyu.measure.kpi.sources import DIMENSIONS, SOURCES, register_kpi_sources

__all__ = ["DIMENSIONS", "SOURCES", "Grain", "KpiQuery", "MetricDefinition", "compute_kpi", "drill_kpi",
           "load_catalogue", "metric_json_schema", "period_starts", "register_kpi_sources"]
