"""Request and response bodies of the HTTP API (they are what the OpenAPI document shows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """Every error: a stable machine code and a message for people."""

    code: str
    message: str
    details: Any = None


class RejectedItem(BaseModel):
    index: int = Field(description="Position of the item in the request (0 for single-event endpoints).")
    message_id: str | None = Field(default=None, alias="messageId")
    reason: str
    detail: str

    model_config = ConfigDict(populate_by_name=True)


class CollectOut(BaseModel):
    """Segment's answer (``success``) plus what happened to each item."""

    success: bool = True
    accepted: int = 0
    duplicates: int = Field(default=0, description="Items whose messageId was already received (not stored twice).")
    rejected: list[RejectedItem] = Field(default_factory=list, description="Quarantined items with the reason.")


class Page(BaseModel):
    total: int
    offset: int
    limit: int


class PersonOut(BaseModel):
    one_id: str
    identifier_type: str
    profile: dict[str, Any] = Field(description="Profile facts: identifiers (masked unless the role may see PII), "
                                                "orders, activity, RFM, lifecycle and member tier.")
    traits: dict[str, Any] = Field(description="The latest identify traits (masked unless the role may see PII).")
    lifecycle: dict[str, Any]
    rfm: dict[str, Any]
    tier: dict[str, Any]
    tags: dict[str, Any] = Field(description="Tag → {value, score, kind} for rule, statistical and composite tags.")
    predictions: dict[str, Any] = Field(description="Predictive tags (model outputs) → {value, score}.")
    segments: list[str] = Field(description="Segments the person was in at the last membership snapshot.")
    consent: dict[str, Any] = Field(description="Purpose → {granted, changed_at}; purposes never decided are absent.")
    owner_staff_id: str | None
    merged_one_ids: list[str]
    as_of: str | None = Field(description="The day the profile facts were computed for.")
    snapshot_built_at: str | None


class TimelineOut(BaseModel):
    one_id: str
    events: list[dict[str, Any]]
    next_cursor: str | None = Field(description="Pass as ``cursor`` for the next (older) page; null at the end.")


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "silent_buyers", "name_zh": "沉默老客", "description": "Bought before, silent now",
         "rule": 'lifecycle = "silent" and count(order_paid, last 365d) >= 2'},
        {"name": "gold_members", "name_zh": "金卡会员", "rule": {"field": "tier", "op": "=", "value": "gold"}},
    ]})

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    name_zh: str = Field(min_length=1, max_length=64)
    owner: str | None = Field(default=None, min_length=1, max_length=128,
                              description="Defaults to the calling key's name.")
    description: str = Field(default="", max_length=2000)
    rule: str | dict[str, Any] = Field(description="The rule in its text form or its JSON form.")


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"rule": 'lifecycle in ("silent", "churned") and did(order_paid, last 365d)'},
        {"name_zh": "沉默老客（新）", "description": "Renamed"},
    ]})

    name_zh: str | None = Field(default=None, min_length=1, max_length=64)
    owner: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    rule: str | dict[str, Any] | None = None


class SegmentOut(BaseModel):
    name: str
    name_zh: str
    owner: str
    description: str
    rule_text: str
    rule_json: dict[str, Any]
    version: int
    created_at: str
    updated_at: str
    updated_by: str | None


class SegmentPage(Page):
    items: list[SegmentOut]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"rule": 'lifecycle = "silent" and rfm_class in ("重要挽留", "重要保持") and not has_tag("complained")'},
        {"rule": {"field": "orders", "op": ">=", "value": 2}},
    ]})

    rule: str | dict[str, Any]


class RuleProblem(BaseModel):
    message: str
    position: int | None = Field(default=None, description="Character offset in the text form, where known.")


class RuleCheckOut(BaseModel):
    valid: bool
    text: str | None = None
    json_form: dict[str, Any] | None = Field(default=None, alias="json")
    problems: list[RuleProblem] = Field(default_factory=list)
    incremental: bool | None = Field(default=None,
                                     description="Whether real-time evaluation can follow this rule per event.")

    model_config = ConfigDict(populate_by_name=True)


class SizeOut(BaseModel):
    size: int
    population: int
    as_of: str


class PreviewOut(BaseModel):
    as_of: str
    members: list[dict[str, Any]]


class MembershipOut(BaseModel):
    one_id: str
    segment: str
    member: bool
    as_of: str
    explanation: dict[str, Any] = Field(description="Every condition with its value and what was measured.")


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"format": "csv",
                                                                              "purpose": "marketing"}]})

    format: Literal["csv", "parquet"] = "csv"
    purpose: Literal["marketing", "analytics", "personalisation", "third_party_sharing", "sensitive_data"] = Field(
        "marketing", description="What the export is for: only members whose latest consent for it is a grant "
                                 "are written (people who never decided are left out).")


class ExportJobOut(BaseModel):
    job_id: str
    segment: str
    format: str
    status: Literal["queued", "running", "done", "failed"]
    rows: int | None = None
    error: str | None = None
    created_at: str
    finished_at: str | None = None


class TagOut(BaseModel):
    tag: str
    name_zh: str | None
    kind: str
    category: str | None
    owner: str | None
    description: str | None
    refresh: str | None
    version: int | None
    status: str | None
    holders: int | None
    coverage: float | None
    distinct_values: int | None
    as_of: str | None
    built_at: str | None


class TagPage(Page):
    items: list[TagOut]


class KpiInfo(BaseModel):
    name: str
    description: str
    unit: str


class KpiPoint(BaseModel):
    period: str
    value: float | None


class KpiOut(BaseModel):
    name: str
    grain: Literal["day", "week", "month"]
    since: str
    until: str
    points: list[KpiPoint]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "user", "name": "CRM reporting", "role": "analyst"},
        {"kind": "write", "name": "mini program", "source": "miniprogram", "rate_limit_per_minute": 60000},
    ]})

    kind: Literal["write", "user"]
    name: str = Field(min_length=1, max_length=128)
    role: Literal["admin", "analyst", "operator", "auditor"] | None = None
    source: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    rate_limit_per_minute: int | None = Field(default=None, gt=0, le=1_000_000)
    description: str = Field(default="", max_length=2000)


class KeyOut(BaseModel):
    key_id: str
    name: str
    kind: str
    role: str | None
    source: str | None
    created_at: str
    revoked_at: str | None
    last_used_at: str | None
    rate_limit_per_minute: int | None
    description: str


class KeyCreatedOut(KeyOut):
    token: str = Field(description="The secret token: shown once, never again.")


class HealthOut(BaseModel):
    status: Literal["ok"]
    snapshot_ready: bool


class StatusOut(BaseModel):
    spool: dict[str, Any]
    last_drain_at: str | None
    last_build_at: str | None
    snapshot: str | None
    snapshot_built_at: str | None
    segment_store: str | None = Field(None, description="the segment store file segment requests read; "
                                                         "null: they read the lake until one is published")
    segment_store_built_at: str | None = None


class AuditEntryOut(BaseModel):
    seq: int
    at: str
    actor: str
    actor_role: str | None
    action: str
    target_type: str | None
    target: str | None
    details: dict[str, Any]
    hash: str


class AuditPage(Page):
    items: list[AuditEntryOut]


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int = Field(description="entries walked")
    head: str | None = Field(None, description="the last entry as SEQ:HASH: keep it elsewhere to detect a "
                                               "deleted tail later (pass it back as expected_head)")
    broken_at: int | None = Field(None, description="seq of the first entry that fails")
    reason: str | None = Field(None, description="edited, deleted, reordered, truncated, rewritten, hmac_mismatch")
    message: str


class ConsentAnswerOut(BaseModel):
    allowed: bool = Field(description="True only when the latest decision that counts is a grant.")
    purpose: str
    one_id: str | None = Field(description="The person, when the serving snapshot knows them.")
    reason: Literal["granted", "withdrawn", "no_decision"]
    decided_at: str | None = Field(description="When the deciding grant or withdrawal happened.")
    decided_by: Literal["snapshot", "ledger"] | None = Field(
        description="Where the deciding record was: the lake as of the last build, or the ledger since.")


class ConsentDecisionOut(BaseModel):
    message_id: str
    subject: str = Field(description="The identifier the decision arrived with (masked without PII access).")
    one_id: str | None
    purpose: str
    granted: bool
    counts: bool = Field(description="False for a grant that was pre-ticked, bundled or not confirmed twice.")
    reason: str | None
    occurred_at: str
    recorded_at: str
    recorded_by: str
    source: str | None
    notice_version: str | None
    double_confirmed: bool


class ConsentHistoryOut(BaseModel):
    decisions: list[ConsentDecisionOut]
