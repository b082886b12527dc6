"""Anomaly alerts (异常预警) of effect tracking (效果追踪): rules as YAML, pure detection over daily KPI series,
stored alerts without duplicates, acknowledgement, and webhook delivery with retries and signatures.

- ``rules``: threshold and seasonal rules, their JSON Schema, :func:`load_rules`
- ``detect``: :func:`detect` / :func:`detect_table` over a series, :func:`robust_baseline`, :func:`alert_id`
- ``store``: the ``alerts`` table — :func:`save_alerts`, :func:`list_alerts`, :func:`acknowledge_alert`
- ``webhook``: :func:`deliver_pending`, :func:`post_json`, :func:`sign`, :func:`verify_signature`
- ``run``: :func:`run_alerts` — compute, detect, store, deliver

See docs/alerts.md.
"""

from __future__ import annotations

from siyu.measure.alerts.detect import (
    MAD_SCALE,
    MIN_ERRORS,
    Alert,
    RobustBaseline,
    alert_id,
    detect,
    detect_table,
    error_scale,
    robust_baseline,
)
from siyu.measure.alerts.rules import (
    SENSITIVITY_Z,
    AlertRule,
    Baseline,
    Direction,
    SeasonalRule,
    Sensitivity,
    Severity,
    ThresholdRule,
    alert_rules_json_schema,
    load_rules,
    lookback_days,
    parse_rules,
)
from siyu.measure.alerts.run import detect_alerts, run_alerts
from siyu.measure.alerts.store import (
    AlertRecord,
    StoredAlert,
    acknowledge_alert,
    get_alert,
    list_alerts,
    mark_sent,
    pending_alerts,
    pending_count,
    save_alerts,
)
from siyu.measure.alerts.webhook import (
    SIGNATURE_HEADER,
    DeliveryReport,
    PostResult,
    WebhookConfig,
    alerts_body,
    deliver_pending,
    post_json,
    sign,
    verify_signature,
)

__all__ = [
    "MAD_SCALE",
    "MIN_ERRORS",
    "SENSITIVITY_Z",
    "SIGNATURE_HEADER",
    "Alert",
    "AlertRecord",
    "AlertRule",
    "Baseline",
    "DeliveryReport",
    "Direction",
    "PostResult",
    "RobustBaseline",
    "SeasonalRule",
    "Sensitivity",
    "Severity",
    "StoredAlert",
    "ThresholdRule",
    "WebhookConfig",
    "acknowledge_alert",
    "alert_id",
    "alert_rules_json_schema",
    "alerts_body",
    "deliver_pending",
    "detect",
    "detect_alerts",
    "detect_table",
    "error_scale",
    "get_alert",
    "list_alerts",
    "load_rules",
    "lookback_days",
    "mark_sent",
    "parse_rules",
    "pending_alerts",
    "pending_count",
    "post_json",
    "robust_baseline",
    "run_alerts",
    "save_alerts",
    "sign",
    "verify_signature",
]
