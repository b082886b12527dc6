"""Data service: one person by any identifier — profile, tags, segments, consent — and their timeline."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from siyu.api.auth import Caller, Permission
from siyu.api.deps import require, runtime
from siyu.api.errors import ApiError
from siyu.api.models import ErrorOut, PersonOut, TimelineOut
from siyu.api.periods import default_period
from siyu.api.runtime import ServiceRuntime
from siyu.privacy.audit import AuditAction
from siyu.privacy.classification import field_class
from siyu.privacy.landing import landing_vault
from siyu.privacy.vault import VaultError
from siyu.profile.segments import mask_identifier
from siyu.serving.lookup import LOOKUP_TYPES, PII_FIELDS
from siyu.serving.timeline import person_events

router = APIRouter(tags=["profiles"])

#: Trait keys that do not identify a person; every other trait value is masked for roles without PII.
PLAIN_TRAITS = frozenset({"source", "gender", "city", "province", "country", "language", "age_band", "tier"})

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Unknown identifier type, or a malformed identifier value."},
    401: {"model": ErrorOut}, 403: {"model": ErrorOut},
    404: {"model": ErrorOut, "description": "No person with this identifier."},
    422: {"model": ErrorOut}, 429: {"model": ErrorOut},
    503: {"model": ErrorOut, "description": "No serving snapshot yet (the first build is running)."},
}

# The enum is documentation: another type is answered 400 ``bad_identifier_type`` with the list.
IdType = Annotated[str, Path(description="What kind of identifier `value` is.", pattern=r"^[a-z_]{1,32}$",
                             json_schema_extra={"enum": list(LOOKUP_TYPES)})]
IdValue = Annotated[str, Path(min_length=1, max_length=256)]


def _mask(value: Any) -> Any:
    return mask_identifier(value) if isinstance(value, str) else (None if value is None else "***")


def resolve(rt: ServiceRuntime, identifier_type: str, value: str, *, fresh: bool = False) -> str:
    """The person's current one_id from the snapshot; with ``fresh``, also people the snapshot lacks."""
    if identifier_type not in LOOKUP_TYPES:
        raise ApiError(400, "bad_identifier_type", f"unknown identifier type {identifier_type!r}; "
                       f"one of {', '.join(LOOKUP_TYPES)}")
    one_id = rt.lookup.find(identifier_type, value) if rt.lookup.snapshot is not None else None
    if one_id is None and fresh:
        one_id = rt.lookup.find_in_lake(identifier_type, value)
    if one_id is None:
        raise ApiError(404, "unknown_person", f"no person with {identifier_type} = this value")
    return one_id


def _opened(field: str, value: Any) -> Any:
    """A trait value decrypted when it is a vault token and a vault key is configured; else as stored."""
    vault = landing_vault()
    kind = field_class(field).kind
    if vault is None or kind is None or not isinstance(value, str) or not value.startswith("enc:v"):
        return value
    try:
        return vault.decrypt(value, field=str(kind))  # encrypted under its kind (``mobile`` → phone)
    except VaultError:
        return value  # a token for another field or a retired key: show it as stored, never fail the look-up


def shape_person(data: dict[str, Any], identifier_type: str, pii: bool) -> PersonOut:
    """Split the snapshot's rows into the response sections, masking identifiers unless ``pii``."""
    profile = dict(data["profile"])
    if not pii:
        for name in PII_FIELDS:
            profile[name] = _mask(profile.get(name))
    traits = dict(data["traits"])
    if not pii:
        traits = {k: v if k in PLAIN_TRAITS else _mask(v) for k, v in traits.items()}
    else:  # the lake keeps personal trait values encrypted (or as keyed tokens): open them for this reader
        traits = {k: _opened(k, v) for k, v in traits.items()}
    tags = {t["tag"]: {"value": t["value"], "score": t["score"], "kind": t["kind"]}
            for t in data["tags"] if t["kind"] != "predictive"}
    predictions = {t["tag"]: {"value": t["value"], "score": t["score"]} for t in data["tags"]
                   if t["kind"] == "predictive"}
    return PersonOut(
        one_id=profile["one_id"], identifier_type=identifier_type, profile=profile, traits=traits,
        lifecycle={k: profile.get(k) for k in ("lifecycle", "lifecycle_since", "activity_class", "idle_days")},
        rfm={"r": profile.get("rfm_r"), "f": profile.get("rfm_f"), "m": profile.get("rfm_m"),
             "class": profile.get("rfm_class"), "class_en": profile.get("rfm_class_en")},
        tier={k: profile.get(k) for k in ("tier", "tier_zh", "spend_to_next_tier", "orders_to_next_tier")},
        tags=tags, predictions=predictions, segments=data["segments"],
        consent={c["purpose"]: {"granted": c["granted"], "changed_at": c["changed_at"]} for c in data["consent"]},
        owner_staff_id=profile.get("owner_staff_id"), merged_one_ids=data["merged_one_ids"],
        as_of=data["as_of"], snapshot_built_at=data["snapshot_built_at"])


@router.get("/v1/profiles/{identifier_type}/{value}", response_model=PersonOut, responses=_ERRORS,
            summary="One person by any identifier")
def get_profile(identifier_type: IdType, value: IdValue, rt: ServiceRuntime = Depends(runtime),
                caller: Caller = Depends(require(Permission.READ_PROFILES))) -> PersonOut:
    one_id = resolve(rt, identifier_type, value)
    data = rt.lookup.person(one_id)
    if data is None:
        raise ApiError(404, "unknown_person", "the person's profile is not in the serving snapshot yet")
    pii = caller.may(Permission.READ_PII)
    if pii:  # unmasked identifiers leave the system: on the record (who, whom, which identifier was asked)
        rt.audit.record(caller.key_id, caller.role, AuditAction.PII_READ, "person", one_id,
                        {"via": identifier_type, "endpoint": "profile"})
    return shape_person(data, identifier_type, pii)


@router.get("/v1/profiles/{identifier_type}/{value}/events", response_model=TimelineOut, responses=_ERRORS,
            summary="A person's events, newest first (paginated by cursor)")
async def get_timeline(
    identifier_type: IdType, value: IdValue,
    since: Annotated[date | None, Query(description="First business day (default: 90 days before until).")] = None,
    until: Annotated[date | None, Query(description="Last business day (default: today).")] = None,
    event: Annotated[str | None, Query(max_length=128, description="Only this event name.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    rt: ServiceRuntime = Depends(runtime), _caller: Caller = Depends(require(Permission.READ_EVENTS)),
) -> TimelineOut:
    one_id = await run_in_threadpool(resolve, rt, identifier_type, value, fresh=True)
    start, end = default_period(since, until, default_until=date.today() + timedelta(days=1), default_days=90)
    page = await run_in_threadpool(person_events, rt.lake, rt.lookup.merged_ids(one_id), since=start, until=end,
                                   limit=limit, cursor=cursor, event=event)
    return TimelineOut(one_id=one_id, events=page.events, next_cursor=page.next_cursor)
