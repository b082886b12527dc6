"""FastAPI dependencies: the runtime, and callers authenticated by key kind and permission."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBearer

from siyu.api.auth import Caller, Permission, bearer_token, forbidden, unauthorized
from siyu.api.runtime import ServiceRuntime
from siyu.store.keys import KeyInfo, verify_key

# Declared for the OpenAPI document (so clients and schemathesis know how to authenticate); the
# headers are read by the functions below, which give our own JSON errors.
bearer_scheme = HTTPBearer(auto_error=False, description="A user key: `Authorization: Bearer sy_u_…`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="A user key, as a header")
basic_scheme = HTTPBasic(auto_error=False, description="A write key as the user name (Segment's convention)")


def runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def caller_from(info: KeyInfo) -> Caller:
    return Caller(key_id=info.key_id, name=info.name, kind=info.kind.value,
                  role=info.role.value if info.role else None, source=info.source,
                  rate_limit_per_minute=info.rate_limit_per_minute)


def _authenticate(rt: ServiceRuntime, token: str | None, kind: str, missing: str, wrong_kind: str) -> Caller:
    """The caller behind ``token`` if it is a live key of ``kind``; rate limit counted. 401/403 otherwise."""
    if not token:
        raise unauthorized(missing)
    info = verify_key(rt.store, token)
    if info is None:
        raise unauthorized("unknown or revoked key")
    caller = caller_from(info)
    if caller.kind != kind:
        raise forbidden(wrong_kind)
    rt.limiter.check(caller.key_id, caller.rate_limit_per_minute)
    return caller


def authenticate_write_key(rt: ServiceRuntime, token: str | None) -> Caller:
    """The source behind a write key; user keys are refused here (they cannot send events)."""
    return _authenticate(rt, token, "write", "send the source's write key as the HTTP Basic user name",
                         "only a source write key can send events; user keys call the data APIs")


def require(permission: Permission) -> Callable[..., Caller]:
    """A dependency that admits user keys whose role holds ``permission``."""

    def dependency(request: Request, rt: ServiceRuntime = Depends(runtime),
                   _b: object = Depends(bearer_scheme), _k: object = Depends(api_key_scheme)) -> Caller:
        caller = _authenticate(rt, bearer_token(request), "user",
                               "send a user key as `Authorization: Bearer …` or `X-API-Key`",
                               "a write key can only send events; it reads nothing")
        if not caller.may(permission):
            raise forbidden(f"role {caller.role!r} may not {permission.value.replace('_', ' ')}")
        return caller

    return dependency
