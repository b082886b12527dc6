"""Segments (人群圈选) over HTTP: saved definitions, validation, size, preview, export jobs, membership."""

from __future__ import annotations

import os
from os import PathLike
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from siyu.api.auth import Caller, Permission
from siyu.api.deps import require, runtime
from siyu.api.errors import ApiError
from siyu.api.models import (
    ErrorOut,
    ExportIn,
    ExportJobOut,
    MembershipOut,
    PreviewOut,
    RuleCheckOut,
    RuleIn,
    RuleProblem,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentUpdate,
    SizeOut,
)
from siyu.api.routes_profiles import IdType, IdValue, resolve
from siyu.api.runtime import ServiceRuntime
from siyu.privacy.audit import AuditAction
from siyu.profile.rules import check_rule, parse_rule, to_json, to_text
from siyu.profile.rules.analysis import incremental_support
from siyu.profile.rules.ast import Rule
from siyu.profile.rules.errors import RuleError
from siyu.profile.segments import SegmentDefinition
from siyu.serving.exports import ExportJob
from siyu.serving.segments import explanation_dict
from siyu.store.segments import (
    SegmentRecordInfo,
    delete_segment,
    get_segment,
    list_segments,
    load_definitions,
    save_segment,
)

router = APIRouter(tags=["segments"])

SegmentName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid rule (the message gives line and column)."},
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
    409: {"model": ErrorOut, "description": "Exists already, changed meanwhile, or used by another segment."},
    422: {"model": ErrorOut}, 429: {"model": ErrorOut},
    503: {"model": ErrorOut, "description": "The lake has no profile facts yet."},
}


def _out(rec: SegmentRecordInfo) -> SegmentOut:
    return SegmentOut(name=rec.name, name_zh=rec.name_zh, owner=rec.owner, description=rec.description,
                      rule_text=rec.rule_text, rule_json=rec.rule_json, version=rec.version,
                      created_at=rec.created_at.isoformat(), updated_at=rec.updated_at.isoformat(),
                      updated_by=rec.updated_by)


def _job_out(job: ExportJob) -> ExportJobOut:
    return ExportJobOut(job_id=job.job_id, segment=job.segment, format=job.format, status=job.status, rows=job.rows,
                        error=job.error, created_at=job.created_at.isoformat(),
                        finished_at=job.finished_at.isoformat() if job.finished_at else None)


def _saved(rt: ServiceRuntime, name: str) -> SegmentRecordInfo:
    rec = get_segment(rt.store, name)
    if rec is None:
        raise ApiError(404, "unknown_segment", f"no saved segment {name!r}")
    return rec


@router.get("/v1/segments", response_model=SegmentPage, responses=_ERRORS, summary="Saved segments, by name")
def list_saved(offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50,
               owner: Annotated[str | None, Query(max_length=128)] = None, rt: ServiceRuntime = Depends(runtime),
               _c: Caller = Depends(require(Permission.READ_SEGMENTS))) -> SegmentPage:
    items, total = list_segments(rt.store, offset=offset, limit=limit, owner=owner)
    return SegmentPage(total=total, offset=offset, limit=limit, items=[_out(r) for r in items])


@router.post("/v1/segments", response_model=SegmentOut, status_code=201, responses=_ERRORS,
             summary="Save a new segment from a rule (text or JSON)")
def create(body: SegmentIn, rt: ServiceRuntime = Depends(runtime),
           caller: Caller = Depends(require(Permission.WRITE_SEGMENTS))) -> SegmentOut:
    definition = SegmentDefinition(name=body.name, name_zh=body.name_zh, owner=body.owner or caller.name,
                                   description=body.description, rule=body.rule)
    return _out(save_segment(rt.store, definition, by=caller.name, expected_version=0))


@router.get("/v1/segments/{name}", response_model=SegmentOut, responses=_ERRORS, summary="One saved segment")
def get_saved(name: SegmentName, rt: ServiceRuntime = Depends(runtime),
              _c: Caller = Depends(require(Permission.READ_SEGMENTS))) -> SegmentOut:
    return _out(_saved(rt, name))


@router.put("/v1/segments/{name}", response_model=SegmentOut, responses=_ERRORS,
            summary="Change a saved segment (the version goes up when something changed)")
def update(name: SegmentName, body: SegmentUpdate, rt: ServiceRuntime = Depends(runtime),
           caller: Caller = Depends(require(Permission.WRITE_SEGMENTS))) -> SegmentOut:
    rec = _saved(rt, name)
    definition = SegmentDefinition(
        name=name, name_zh=body.name_zh or rec.name_zh, owner=body.owner or rec.owner,
        description=rec.description if body.description is None else body.description,
        rule=rec.rule_text if body.rule is None else body.rule)
    return _out(save_segment(rt.store, definition, by=caller.name, expected_version=rec.version))


@router.delete("/v1/segments/{name}", status_code=204, response_class=Response, responses=_ERRORS,
               summary="Delete a saved segment (its history is kept)")
def delete(name: SegmentName, rt: ServiceRuntime = Depends(runtime),
           caller: Caller = Depends(require(Permission.WRITE_SEGMENTS))) -> Response:
    if not delete_segment(rt.store, name, by=caller.name):
        raise ApiError(404, "unknown_segment", f"no saved segment {name!r}")
    return Response(status_code=204)


@router.post("/v1/segments/validate", response_model=RuleCheckOut, responses=_ERRORS,
             summary="Check a rule; answers its canonical text and JSON forms, or the problem and where")
def validate(body: RuleIn, rt: ServiceRuntime = Depends(runtime),
             _c: Caller = Depends(require(Permission.READ_SEGMENTS))) -> RuleCheckOut:
    try:
        rule = check_rule(parse_rule(body.rule))
    except RuleError as exc:
        pos = exc.position.offset if exc.position is not None else None
        return RuleCheckOut(valid=False, problems=[RuleProblem(message=exc.message, position=pos)])
    definitions = load_definitions(rt.store)

    def saved_rule(name: str) -> Rule | None:
        return parse_rule(definitions[name].rule) if name in definitions else None

    ok, _why = incremental_support(rule, segment_rule=saved_rule)
    return RuleCheckOut(valid=True, text=to_text(rule), json=to_json(rule), incremental=ok)


def _rule_of(rt: ServiceRuntime, body_rule: str | dict[str, Any] | None,
             name: str | None) -> tuple[Rule, dict[str, SegmentDefinition]]:
    """The checked rule (ad hoc, or a saved segment's) and every saved definition it may refer to."""
    definitions = load_definitions(rt.store)
    if name is not None and name not in definitions:
        raise ApiError(404, "unknown_segment", f"no saved segment {name!r}")
    text = definitions[name].rule if name is not None else body_rule
    assert text is not None
    return rt.segments.check(definitions, text), definitions


@router.post("/v1/segments/size", response_model=SizeOut, responses=_ERRORS, summary="Size of an ad-hoc rule")
async def size_of_rule(body: RuleIn, rt: ServiceRuntime = Depends(runtime),
                       _c: Caller = Depends(require(Permission.READ_SEGMENTS))) -> SizeOut:
    return await run_in_threadpool(_size, rt, body.rule, None)


@router.get("/v1/segments/{name}/size", response_model=SizeOut, responses=_ERRORS, summary="Size of a saved segment")
async def size_of_saved(name: SegmentName, rt: ServiceRuntime = Depends(runtime),
                        _c: Caller = Depends(require(Permission.READ_SEGMENTS))) -> SizeOut:
    _saved(rt, name)
    return await run_in_threadpool(_size, rt, None, name)


def _size(rt: ServiceRuntime, body_rule: str | dict[str, Any] | None, name: str | None) -> SizeOut:
    rule, definitions = _rule_of(rt, body_rule, name)
    n, population, as_of = rt.segments.size(definitions, rule)
    return SizeOut(size=n, population=population, as_of=as_of.isoformat())


@router.get("/v1/segments/{name}/preview", response_model=PreviewOut, responses=_ERRORS,
            summary="The first members of a saved segment, identifiers masked")
def preview(name: SegmentName, limit: Annotated[int, Query(ge=1, le=1000)] = 20, rt: ServiceRuntime = Depends(runtime),
            _c: Caller = Depends(require(Permission.READ_SEGMENTS))) -> PreviewOut:
    _saved(rt, name)
    rule, definitions = _rule_of(rt, None, name)
    rows, as_of = rt.segments.preview(definitions, rule, limit)
    return PreviewOut(as_of=as_of.isoformat(), members=[{k: _plain(v) for k, v in r.items()} for r in rows])


def _plain(v: Any) -> Any:
    from datetime import date
    from decimal import Decimal

    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, date):
        return v.isoformat()
    return v


@router.get("/v1/segments/{name}/members/{identifier_type}/{value}", response_model=MembershipOut,
            responses=_ERRORS, summary="Is this person in the segment now, and why")
def membership(name: SegmentName, identifier_type: IdType, value: IdValue, rt: ServiceRuntime = Depends(runtime),
               _c: Caller = Depends(require(Permission.READ_SEGMENTS))) -> MembershipOut:
    _saved(rt, name)
    one_id = resolve(rt, identifier_type, value)
    rule, definitions = _rule_of(rt, None, name)
    node, as_of = rt.segments.membership(definitions, rule, one_id)
    return MembershipOut(one_id=one_id, segment=name, member=node.value, as_of=as_of.isoformat(),
                         explanation=explanation_dict(node))


@router.post("/v1/segments/{name}/exports", response_model=ExportJobOut, status_code=202, responses=_ERRORS,
             summary="Start exporting a saved segment's members who consented to the purpose (CSV or Parquet)")
def start_export(name: SegmentName, body: ExportIn, rt: ServiceRuntime = Depends(runtime),
                 caller: Caller = Depends(require(Permission.EXPORT_SEGMENTS))) -> ExportJobOut:
    _saved(rt, name)
    rule, definitions = _rule_of(rt, None, name)
    job = rt.exports.submit(name, body.format, caller.name,
                            lambda out: _audited_export(rt, caller, name, out, body.purpose, rt.segments.export(
                                definitions, rule, out, body.format, purpose=body.purpose,
                                ledger=rt.consent_ledger)))
    return _job_out(job)


def _audited_export(rt: ServiceRuntime, caller: Caller, name: str, out: PathLike[str], purpose: str,
                    rows: int) -> int:
    """Record a finished export (who, which segment, for what, how many people) and pass its row count on."""
    rt.audit.record(caller.key_id, caller.role, AuditAction.EXPORT, "segment", name,
                    {"rows": rows, "file": os.path.basename(out), "purpose": purpose})
    return rows


@router.get("/v1/exports/{job_id}", response_model=ExportJobOut, responses=_ERRORS, summary="An export job's state")
def export_state(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], rt: ServiceRuntime = Depends(runtime),
                 _c: Caller = Depends(require(Permission.EXPORT_SEGMENTS))) -> ExportJobOut:
    job = rt.exports.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", "no such export job (jobs are forgotten on restart)")
    return _job_out(job)


@router.get("/v1/exports/{job_id}/file", responses={**_ERRORS, 200: {"content": {"text/csv": {},
                                                                                   "application/octet-stream": {}}}},
            response_class=FileResponse, summary="Download a finished export")
def export_file(job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], rt: ServiceRuntime = Depends(runtime),
                _c: Caller = Depends(require(Permission.EXPORT_SEGMENTS))) -> FileResponse:
    job = rt.exports.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", "no such export job (jobs are forgotten on restart)")
    if job.status != "done":
        raise ApiError(409, "not_finished", f"the export is {job.status}")
    media = "text/csv" if job.format == "csv" else "application/octet-stream"
    return FileResponse(rt.exports.path(job), media_type=media, filename=f"{job.segment}.{job.format}")
