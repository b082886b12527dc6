"""Keys (admin) and the service's own state: health for load balancers, status for operators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from siyu.api.auth import Caller, Permission
from siyu.api.deps import require, runtime
from siyu.api.errors import ApiError
from siyu.api.models import (
    AuditEntryOut,
    AuditPage,
    AuditVerifyOut,
    ErrorOut,
    HealthOut,
    KeyCreatedOut,
    KeyIn,
    KeyOut,
    StatusOut,
)
from siyu.api.runtime import ServiceRuntime
from siyu.privacy.audit import AuditAction
from siyu.serving.snapshot import current_file
from siyu.store.errors import StoreInputError
from siyu.store.keys import KeyInfo, create_key, list_keys, revoke_key

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut},
    422: {"model": ErrorOut}, 429: {"model": ErrorOut},
}


def _key_out(info: KeyInfo) -> dict[str, Any]:
    return {"key_id": info.key_id, "name": info.name, "kind": info.kind.value,
            "role": info.role.value if info.role else None, "source": info.source,
            "created_at": info.created_at.isoformat(),
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
            "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
            "rate_limit_per_minute": info.rate_limit_per_minute, "description": info.description}


@router.get("/v1/keys", response_model=list[KeyOut], responses=_ERRORS, tags=["keys"],
            summary="API and write keys (never their secrets)")
def keys(include_revoked: Annotated[bool, Query()] = False, rt: ServiceRuntime = Depends(runtime),
         _c: Caller = Depends(require(Permission.READ_KEYS))) -> list[KeyOut]:
    return [KeyOut(**_key_out(k)) for k in list_keys(rt.store, include_revoked=include_revoked)]


@router.post("/v1/keys", response_model=KeyCreatedOut, status_code=201, responses=_ERRORS, tags=["keys"],
             summary="Create a key; the token is in this answer only")
def new_key(body: KeyIn, rt: ServiceRuntime = Depends(runtime),
            caller: Caller = Depends(require(Permission.MANAGE_KEYS))) -> KeyCreatedOut:
    try:
        info, token = create_key(rt.store, kind=body.kind, name=body.name, role=body.role, source=body.source,
                                 created_by=caller.name, rate_limit_per_minute=body.rate_limit_per_minute,
                                 description=body.description)
    except StoreInputError as exc:
        raise ApiError(400, "invalid_input", exc.message) from None
    rt.audit.record(caller.key_id, caller.role, AuditAction.KEY_CREATED, "key", info.key_id,
                    {"kind": str(info.kind), "role": str(info.role) if info.role else None, "name": info.name})
    return KeyCreatedOut(**_key_out(info), token=token)


@router.delete("/v1/keys/{key_id}", response_model=KeyOut, responses=_ERRORS, tags=["keys"],
               summary="Revoke a key (at once in this process)")
def revoke(key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$")], rt: ServiceRuntime = Depends(runtime),
           caller: Caller = Depends(require(Permission.MANAGE_KEYS))) -> KeyOut:
    info = revoke_key(rt.store, key_id)
    rt.audit.record(caller.key_id, caller.role, AuditAction.KEY_REVOKED, "key", info.key_id, {"name": info.name})
    return KeyOut(**_key_out(info))


@router.get("/healthz", response_model=HealthOut, tags=["service"], summary="Liveness (no authentication)")
def health(rt: ServiceRuntime = Depends(runtime)) -> HealthOut:
    return HealthOut(status="ok", snapshot_ready=rt.lookup.snapshot is not None)


@router.get("/v1/status", response_model=StatusOut, responses=_ERRORS, tags=["service"],
            summary="Spool backlog, last drain and build, serving snapshot")
def status(rt: ServiceRuntime = Depends(runtime), _c: Caller = Depends(require(Permission.READ_KEYS))) -> StatusOut:
    loop = rt.drain_loop
    return StatusOut(
        spool=rt.spool.stats().as_dict(),
        last_drain_at=loop.last_drain_at.isoformat() if loop and loop.last_drain_at else None,
        last_build_at=loop.last_build_at.isoformat() if loop and loop.last_build_at else None,
        snapshot=rt.lookup.snapshot.name if rt.lookup.snapshot else None,
        snapshot_built_at=rt.keeper.last_built_at.isoformat() if rt.keeper.last_built_at else None,
        segment_store=store.name if (store := current_file(rt.lake, "segments")) else None,
        segment_store_built_at=_built_at(rt, "segments"))


def _built_at(rt: ServiceRuntime, kind: str) -> str | None:
    when = next((f.last_built_at for f in rt.keeper.files if f.kind == kind), None)
    return when.isoformat() if when else None


@router.get("/v1/audit", response_model=AuditPage, responses=_ERRORS, tags=["audit"],
            summary="The audit log, newest first (admin, auditor)")
def audit_entries(
    action: Annotated[AuditAction | None, Query(description="Only this action.")] = None,
    actor: Annotated[str | None, Query(max_length=128, description="Only this key id.")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    rt: ServiceRuntime = Depends(runtime), _c: Caller = Depends(require(Permission.READ_AUDIT)),
) -> AuditPage:
    items = rt.audit.entries(action=action, actor=actor, offset=offset, limit=limit, newest_first=True)
    return AuditPage(total=rt.audit.count(action=action, actor=actor), offset=offset, limit=limit, items=[
        AuditEntryOut(seq=e.seq, at=e.at.isoformat(), actor=e.actor, actor_role=e.actor_role, action=str(e.action),
                      target_type=e.target_type, target=e.target, details=e.details, hash=e.hash) for e in items])


@router.get("/v1/audit/verify", response_model=AuditVerifyOut, responses=_ERRORS, tags=["audit"],
            summary="Walk the hash chain; the first edited, deleted or reordered entry (admin, auditor)")
def audit_verify(
    expected_head: Annotated[str | None, Query(max_length=100, pattern=r"^\d+:[0-9a-f]{64}$",
                                               description="A head recorded earlier (SEQ:HASH).")] = None,
    rt: ServiceRuntime = Depends(runtime), _c: Caller = Depends(require(Permission.READ_AUDIT)),
) -> AuditVerifyOut:
    r = rt.audit.verify(expected_head)
    return AuditVerifyOut(ok=r.ok, checked=r.checked, head=str(r.head) if r.head else None, broken_at=r.broken_at,
                          reason=r.reason.value if r.reason else None, message=r.message)
