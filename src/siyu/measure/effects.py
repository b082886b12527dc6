"""Strategy-effect log (策略效果追踪表): every operational action, what it was meant to move, and whether it did.

It closes the loop monitor → analyse → optimise → verify (监测 → 分析 → 优化 → 验证): an alert or a report
prompts an action (a journey, a campaign, a price change …); the log records when it ran, whom it covered
and which KPI it targets; :func:`evaluate_effect` fills the KPI before and after from the catalogue
(:func:`~siyu.measure.kpi.compute_kpi`) and the verdict — from a linked experiment's p-value when there is
one, because a before/after change alone cannot separate the action from seasonality or anything else that
happened meanwhile. :func:`search_effects` makes the log a knowledge base (by tag, kind, metric, text, dates).

Every create, update and evaluation is written to the audit log (``config_change``) in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from siyu.core.config import get_settings
from siyu.core.errors import SiyuError
from siyu.measure.kpi import Grain, KpiQuery, MetricDefinition, compute_kpi
from siyu.measure.kpi.model import METRIC_NAME
from siyu.privacy.audit import AuditAction, AuditLog
from siyu.store.db import Store
from siyu.store.errors import NotFound, StoreInputError, check_text
from siyu.store.models import StrategyEffectRecord, utcnow
from siyu.warehouse.engine import Engine

EFFECT_KINDS = ("journey", "campaign", "content", "price", "benefit", "community", "other")
VERIFICATIONS = ("pending", "verified", "not_verified", "inconclusive")
MAX_PAGE = 1000
_TAG = r"^[^,%\s][^,]{0,31}$"




class EffectFields(BaseModel):
    """What a person writes about an action; checked on create and on every update (cross-field rules too)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    description: str = Field("", max_length=20000)
    kind: Literal["journey", "campaign", "content", "price", "benefit", "community", "other"]
    metric: str = Field(pattern=METRIC_NAME, description="The target KPI, a metric of the catalogue.")
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    users_covered: int | None = Field(None, ge=0)
    segment: str | None = Field(None, min_length=1, max_length=63)
    baseline_start: date | None = None
    baseline_end: date | None = None
    tags: tuple[str, ...] = Field((), max_length=50)
    verification: Literal["pending", "verified", "not_verified", "inconclusive"] = "pending"
    test: str | None = Field(None, max_length=64)
    p_value: float | None = Field(None, ge=0, le=1)
    experiment: str | None = Field(None, max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        for key, value in (data.items() if isinstance(data, dict) else ()):
            for text in value if isinstance(value, list | tuple) else [value]:
                if isinstance(text, str) and "\x00" in text:
                    raise ValueError(f"{key} contains a NUL character")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> EffectFields:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError(f"ended_at ({self.ended_at}) is before started_at ({self.started_at})")
        if (self.baseline_start is None) != (self.baseline_end is None):
            raise ValueError("give both baseline_start and baseline_end, or neither")
        if self.baseline_start is not None and self.baseline_end is not None:
            if self.baseline_start > self.baseline_end:
                raise ValueError("baseline_start is after baseline_end")
            if self.baseline_end >= business_day(self.started_at):
                raise ValueError("the baseline window must end before the action starts")
        bad = [t for t in self.tags if not re.fullmatch(_TAG, t)]
        if bad:
            raise ValueError(f"bad tag {bad[0]!r}: 1–32 characters, no comma, not starting with a space or %")
        self.tags = tuple(sorted(set(self.tags)))
        return self


@dataclass(frozen=True)
class StrategyEffect:
    """One entry of the log as read back (``tags`` as a tuple; windows and KPI values once evaluated)."""

    id: int
    name: str
    description: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    users_covered: int | None
    segment: str | None
    metric: str
    baseline_start: date | None
    baseline_end: date | None
    after_start: date | None
    after_end: date | None
    scope: str | None
    kpi_before: float | None
    kpi_after: float | None
    kpi_change: float | None
    verification: str
    test: str | None
    p_value: float | None
    experiment: str | None
    author: str
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    evaluated_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (dates and times in ISO 8601)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, date | datetime):
                out[key] = value.isoformat()
        out["tags"] = list(self.tags)
        return out


_FIELDS = tuple(f.name for f in fields(StrategyEffect))
_EDITABLE = tuple(EffectFields.model_fields)


def _effect(row: StrategyEffectRecord) -> StrategyEffect:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["tags"] = tuple(t for t in row.tags.split(",") if t)
    return StrategyEffect(**values)


def business_day(at: datetime) -> date:
    """The business day (``SIYU_BUSINESS_TIMEZONE``, Asia/Shanghai by default) a moment falls on."""
    return at.astimezone(ZoneInfo(get_settings().business_timezone)).date()


def _checked(values: dict[str, Any]) -> EffectFields:
    try:
        return EffectFields.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        raise StoreInputError(f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}",
                              input_name=where) from None


def _audit(audit: AuditLog | None, store: Store, session: Session, actor: str, change: str, effect_id: int,
           details: dict[str, Any]) -> None:
    (audit or AuditLog(store)).record(actor, None, AuditAction.CONFIG_CHANGE, "strategy_effect", str(effect_id),
                                      {"change": change, **details}, session=session)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def record_effect(store: Store, *, author: str, name: str, kind: str, metric: str, started_at: datetime,
                  ended_at: datetime | None = None, description: str = "", users_covered: int | None = None,
                  segment: str | None = None, baseline_start: date | None = None, baseline_end: date | None = None,
                  tags: Sequence[str] = (), experiment: str | None = None,
                  audit: AuditLog | None = None) -> StrategyEffect:
    """Add an action to the log (checked as :class:`EffectFields`); returns it with its id. ``author`` is who
    records it (and the audit entry's actor).

    >>> record_effect(store, author="ops_li", name="沉默用户唤醒 SOP", kind="journey", metric="reactivation_rate",
    ...               started_at=datetime(2026, 3, 2, tzinfo=UTC), users_covered=1200, segment="silent",
    ...               tags=["唤醒", "sop"])  # doctest: +SKIP
    """
    if not author.strip():
        raise StoreInputError("say who records the action", input_name="author")
    checked = _checked({"name": name, "kind": kind, "metric": metric, "started_at": started_at, "ended_at": ended_at,
                        "description": description, "users_covered": users_covered, "segment": segment,
                        "baseline_start": baseline_start, "baseline_end": baseline_end, "tags": tuple(tags),
                        "experiment": experiment})
    now = utcnow()
    row = StrategyEffectRecord(**checked.model_dump(exclude={"tags"}), tags=_tags_text(checked.tags),
                               author=check_text(author, "author", 128), after_start=None, after_end=None,
                               scope=None, kpi_before=None, kpi_after=None, kpi_change=None, created_at=now,
                               updated_at=now, evaluated_at=None)
    with store.writing() as s:
        s.add(row)
        s.flush()
        _audit(audit, store, s, author, "create", row.id, {"name": checked.name, "kind": checked.kind,
                                                            "metric": checked.metric})
        return _effect(row)


def update_effect(store: Store, effect_id: int, *, actor: str, audit: AuditLog | None = None,
                  **changes: Any) -> StrategyEffect:
    """Change fields of an entry (e.g. ``ended_at``, ``users_covered``, ``tags``, a manual ``verification``)."""
    unknown = sorted(set(changes) - set(_EDITABLE))
    if unknown:
        raise StoreInputError(f"cannot change {', '.join(unknown)}; editable: {', '.join(_EDITABLE)}",
                              input_name=unknown[0])
    with store.writing() as s:
        row = _row(s, effect_id)
        current = {k: getattr(row, k) for k in _EDITABLE if k != "tags"}
        checked = _checked({**current, "tags": tuple(t for t in row.tags.split(",") if t), **changes})
        for key in changes:
            setattr(row, key, _tags_text(checked.tags) if key == "tags" else getattr(checked, key))
        row.updated_at = utcnow()
        changed = _plain(checked.model_dump(include=set(changes)))
        _audit(audit, store, s, actor, "update", effect_id, {"fields": changed})
        return _effect(row)


def get_effect(store: Store, effect_id: int) -> StrategyEffect:
    """One entry by id; :class:`NotFound` when there is none."""
    with store.session() as s:
        return _effect(_row(s, effect_id))


def _row(session: Session, effect_id: int) -> StrategyEffectRecord:
    row = session.get(StrategyEffectRecord, int(effect_id))
    if row is None:
        raise NotFound(f"no strategy-effect entry {effect_id}", input_name="effect_id")
    return row


def _tags_text(tags: tuple[str, ...]) -> str:
    return "," + ",".join(tags) + "," if tags else ""


def search_effects(store: Store, *, tag: str | None = None, kind: str | None = None, metric: str | None = None,
                   text: str | None = None, since: date | None = None, until: date | None = None,
                   verification: str | None = None, offset: int = 0, limit: int = 100) -> list[StrategyEffect]:
    """The knowledge base (知识库): entries newest first, filtered by an exact tag, kind, target metric,
    verification, a text found in the name or description (case-insensitive), and actions running at some
    time during the business days ``since`` … ``until``."""
    if offset < 0:
        raise StoreInputError("offset must be 0 or more", input_name="offset")
    if not 1 <= limit <= MAX_PAGE:
        raise StoreInputError(f"limit must be between 1 and {MAX_PAGE}", input_name="limit")
    if kind is not None and kind not in EFFECT_KINDS:
        raise StoreInputError(f"unknown kind {kind!r}; one of {', '.join(EFFECT_KINDS)}", input_name="kind")
    if verification is not None and verification not in VERIFICATIONS:
        raise StoreInputError(f"unknown verification {verification!r}; one of {', '.join(VERIFICATIONS)}",
                              input_name="verification")
    t = StrategyEffectRecord
    where: list[ColumnElement[bool]] = []
    if tag is not None:
        where.append(t.tags.contains(f",{check_text(tag, 'tag', 32)},", autoescape=True))
    if kind is not None:
        where.append(t.kind == kind)
    if metric is not None:
        where.append(t.metric == check_text(metric, "metric", 63))
    if verification is not None:
        where.append(t.verification == verification)
    if text:
        needle = check_text(text, "text", 200)
        where.append(or_(t.name.icontains(needle, autoescape=True), t.description.icontains(needle, autoescape=True)))
    zone = ZoneInfo(get_settings().business_timezone)
    if until is not None:
        where.append(t.started_at < datetime.combine(until + timedelta(days=1), time(), zone))
    if since is not None:
        where.append(or_(t.ended_at.is_(None), t.ended_at >= datetime.combine(since, time(), zone)))
    stmt = select(t).where(*where).order_by(t.started_at.desc(), t.id.desc()).offset(offset).limit(limit)
    with store.session() as s:
        return [_effect(r) for r in s.scalars(stmt)]


def effect_windows(effect: StrategyEffect, as_of: date | None = None) -> tuple[tuple[date, date], tuple[date, date]]:
    """(baseline, after) windows as inclusive business days. After: from the start to the end (or ``as_of``
    for an action still running, or ``as_of`` if earlier). Baseline: as recorded, else as many days as the
    after window, ending the day before the start."""
    start = business_day(effect.started_at)
    end = business_day(effect.ended_at) if effect.ended_at is not None else as_of
    if end is None:
        raise SiyuError(f"action {effect.id} is still running: pass as_of, the last day to measure",
                        code="effect_running", input_name="as_of")
    if as_of is not None:
        end = min(end, as_of)
    if end < start:
        raise SiyuError(f"as_of ({as_of}) is before action {effect.id} started ({start})", code="bad_period",
                        input_name="as_of")
    if effect.baseline_start is not None and effect.baseline_end is not None:
        return (effect.baseline_start, effect.baseline_end), (start, end)
    length = (end - start).days
    return (start - timedelta(days=length + 1), start - timedelta(days=1)), (start, end)


def window_mean(engine: Engine, catalogue: dict[str, MetricDefinition], metric: str, start: date, end: date, *,
                segment: str | None = None, labels: pa.Table | None = None) -> float | None:
    """The mean of the metric's daily values over [start, end] (days with no value are left out), for the
    people labelled ``segment`` when given — so windows of different lengths compare on one scale."""
    query = KpiQuery(metric, start, end, Grain.DAY, by="segment" if segment is not None else None)
    table = compute_kpi(engine, catalogue, query, labels=labels)
    grp = table.column("grp").to_pylist()
    values = [v for g, v in zip(grp, table.column("value").to_pylist(), strict=True)
              if v is not None and (segment is None or g == segment)]
    return sum(values) / len(values) if values else None


def verdict(change: float | None, p_value: float | None, *, alpha: float = 0.05, higher_is_better: bool = True
            ) -> str:
    """``verified`` when a test found the effect (p < alpha) in the good direction; ``not_verified`` when it did
    not (p ≥ alpha) or the effect went the wrong way; ``inconclusive`` without a test or a change to judge."""
    if not 0 < alpha < 1:
        raise SiyuError(f"alpha must be strictly between 0 and 1, got {alpha!r}", code="bad_alpha", input_name="alpha")
    if p_value is None or change is None:
        return "inconclusive"
    improved = change > 0 if higher_is_better else change < 0
    return "verified" if p_value < alpha and improved else "not_verified"


def evaluate_effect(engine: Engine, catalogue: dict[str, MetricDefinition], store: Store, effect_id: int, *,
                    actor: str, as_of: date | None = None, labels: pa.Table | None = None,
                    p_value: float | None = None, test: str | None = None, experiment: str | None = None,
                    lift: float | None = None, alpha: float = 0.05, audit: AuditLog | None = None) -> StrategyEffect:
    """Fill KPI before/after (:func:`window_mean` over :func:`effect_windows`), the relative change and the
    verdict (:func:`verdict`), and store them.

    With ``labels`` (one_id, label) and an entry that names a ``segment``, both windows are measured on that
    segment (``scope`` says which). ``p_value`` and ``test`` come from a linked experiment
    (:mod:`siyu.measure.experiments`); its direction is ``lift`` (treatment − control) when given, else the
    before/after change.
    """
    effect = get_effect(store, effect_id)
    definition = catalogue.get(effect.metric)
    if definition is None:
        raise SiyuError(f"entry {effect_id} targets unknown metric {effect.metric!r}", code="unknown_metric",
                        input_name="metric")
    if p_value is not None and not 0 <= p_value <= 1:
        raise SiyuError(f"p_value must be between 0 and 1, got {p_value!r}", code="bad_p_value", input_name="p_value")
    segment = effect.segment if labels is not None else None
    if segment is not None and "segment" not in definition.dimensions:
        raise SiyuError(f"{effect.metric} cannot be measured per segment", code="bad_breakdown", input_name="labels")
    (b0, b1), (a0, a1) = effect_windows(effect, as_of)
    before = window_mean(engine, catalogue, effect.metric, b0, b1, segment=segment, labels=labels)
    after = window_mean(engine, catalogue, effect.metric, a0, a1, segment=segment, labels=labels)
    change = (after - before) / abs(before) if before and after is not None else None
    result = verdict(change if lift is None else lift, p_value, alpha=alpha,
                     higher_is_better=definition.higher_is_better)
    values = {"baseline_start": b0, "baseline_end": b1, "after_start": a0, "after_end": a1,
              "scope": segment or "all", "kpi_before": before, "kpi_after": after, "kpi_change": change,
              "verification": result, "test": test if p_value is not None else "before_after",
              "p_value": p_value, "experiment": experiment if experiment is not None else effect.experiment}
    with store.writing() as s:
        row = _row(s, effect_id)
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = row.evaluated_at = utcnow()
        _audit(audit, store, s, actor, "evaluate", effect_id, values)
        return _effect(row)
