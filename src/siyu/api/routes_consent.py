"""Consent (授权) over HTTP: "may I use this person for purpose P now?" and the person's decision history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from siyu.api.auth import Caller, Permission
from siyu.api.deps import require, runtime
from siyu.api.errors import ApiError
from siyu.api.models import ConsentAnswerOut, ConsentDecisionOut, ConsentHistoryOut
from siyu.api.routes_profiles import _ERRORS, IdType, IdValue
from siyu.api.runtime import ServiceRuntime
from siyu.core.errors import SiyuError
from siyu.profile.segments import mask_identifier
from siyu.serving.consent_check import person_subjects
from siyu.serving.lookup import LOOKUP_TYPES

router = APIRouter(tags=["consent"])

PurposeQ = Annotated[Literal["marketing", "analytics", "personalisation", "third_party_sharing", "sensitive_data"],
                     Query(description="What the person's data would be used for.")]


def _check_type(identifier_type: str) -> None:
    if identifier_type not in LOOKUP_TYPES:
        raise ApiError(400, "bad_identifier_type", f"unknown identifier type {identifier_type!r}; "
                       f"one of {', '.join(LOOKUP_TYPES)}")


@router.get("/v1/consent/{identifier_type}/{value}", response_model=ConsentAnswerOut, responses=_ERRORS,
            summary="May this person be used for the purpose now? (latest decision that counts; none = no)")
def check_consent(identifier_type: IdType, value: IdValue, purpose: PurposeQ = "marketing",
                  rt: ServiceRuntime = Depends(runtime),
                  _caller: Caller = Depends(require(Permission.READ_CONSENT))) -> ConsentAnswerOut:
    _check_type(identifier_type)
    try:
        answer = rt.consent.check(identifier_type, value, purpose)
    except SiyuError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    return ConsentAnswerOut(**answer.as_dict())


@router.get("/v1/consent/{identifier_type}/{value}/history", response_model=ConsentHistoryOut, responses=_ERRORS,
            summary="Every consent decision recorded for this person, oldest first")
def consent_history(identifier_type: IdType, value: IdValue,
                    purpose: Annotated[Literal["marketing", "analytics", "personalisation", "third_party_sharing",
                                               "sensitive_data"] | None, Query()] = None,
                    rt: ServiceRuntime = Depends(runtime),
                    caller: Caller = Depends(require(Permission.READ_CONSENT))) -> ConsentHistoryOut:
    _check_type(identifier_type)
    try:
        subjects, one_ids = person_subjects(rt.lookup, identifier_type, value)
    except SiyuError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    rows = rt.consent_ledger.history(subjects, one_ids, purpose)
    pii = caller.may(Permission.READ_PII)
    return ConsentHistoryOut(decisions=[ConsentDecisionOut(**_shown(r, pii)) for r in rows])


def _shown(row: dict[str, Any], pii: bool) -> dict[str, Any]:
    kind, _, value = str(row["subject"]).partition(":")
    return {"message_id": row["message_id"], "subject": row["subject"] if pii else f"{kind}:{mask_identifier(value)}",
            "one_id": row["one_id"], "purpose": row["purpose"], "granted": row["granted"], "counts": row["counts"],
            "reason": row["reason"], "occurred_at": row["occurred_at"].isoformat(),
            "recorded_at": row["recorded_at"].isoformat(), "recorded_by": row["recorded_by"], "source": row["source"],
            "notice_version": row["notice_version"], "double_confirmed": row["double_confirmed"]}
