"""Who may call what: missing, wrong, revoked and wrong-kind keys are refused; roles are enforced."""

from __future__ import annotations

import httpx
import pytest

from siyu.store.db import open_store
from siyu.store.keys import list_keys, revoke_key
from tests.api.service import RunningService

READS = ["/v1/profiles/member_no/M000", "/v1/segments", "/v1/tags", "/v1/kpis", "/v1/keys", "/v1/status"]


@pytest.mark.parametrize("path", READS)
def test_no_key_is_refused_with_json(service: RunningService, path: str) -> None:
    r = httpx.get(service.base_url + path)
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized" and r.json()["message"]


@pytest.mark.parametrize("path", READS)
def test_write_key_reads_nothing(service: RunningService, path: str) -> None:
    for headers in ({"Authorization": f"Bearer {service.write_key}"}, {"X-API-Key": service.write_key}):
        r = httpx.get(service.base_url + path, headers=headers)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["code"] == "forbidden"
    r = httpx.get(service.base_url + path, auth=(service.write_key, ""))
    assert r.status_code == 401


def test_garbage_and_forged_tokens(service: RunningService) -> None:
    forged = service.keys["admin"][:-4] + "AAAA"
    for token in ("nonsense", "sy_u_", forged, "Bearer", "x" * 5000, "sy_u_zz_" + "a" * 43):
        r = httpx.get(service.base_url + "/v1/segments", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token


def test_user_keys_cannot_send_events(service: RunningService) -> None:
    r = httpx.post(service.base_url + "/v1/track", auth=(service.keys["admin"], ""),
                   json={"userId": "u1", "event": "x", "messageId": "m1"})
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    r = httpx.post(service.base_url + "/v1/track", json={"userId": "u1", "event": "x"})
    assert r.status_code == 401


@pytest.mark.parametrize(("role", "method", "path", "body", "allowed"), [
    ("analyst", "post", "/v1/segments", {"name": "s1", "name_zh": "人群", "rule": 'lifecycle = "silent"'}, False),
    ("operator", "post", "/v1/segments", {"name": "s1", "name_zh": "人群", "rule": 'lifecycle = "silent"'}, True),
    ("auditor", "get", "/v1/profiles/one_id/o_x", None, False),
    ("auditor", "get", "/v1/keys", None, True),
    ("analyst", "get", "/v1/keys", None, False),
    ("operator", "post", "/v1/keys", {"kind": "user", "name": "x", "role": "admin"}, False),
    ("admin", "post", "/v1/keys", {"kind": "user", "name": "x", "role": "analyst"}, True),
    ("auditor", "get", "/v1/segments", None, False),
])
def test_roles(service: RunningService, role: str, method: str, path: str, body: dict | None,
               allowed: bool) -> None:
    with service.client(role) as c:
        r = c.request(method.upper(), path, json=body)
    if allowed:
        assert r.status_code in (200, 201), r.text
    else:
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "forbidden"


def test_revoked_key_is_refused(service: RunningService) -> None:
    with service.client("analyst") as c:
        assert c.get("/v1/tags").status_code == 200
        with open_store(service.store_url) as store:
            key_id = next(k.key_id for k in list_keys(store) if k.name == "analyst key")
        with service.client("admin") as admin:
            assert admin.delete(f"/v1/keys/{key_id}").status_code == 200
        r = c.get("/v1/tags")
    assert r.status_code == 401


def test_revoke_through_the_store_of_another_process_takes_effect(service: RunningService) -> None:
    with open_store(service.store_url) as store:
        key_id = next(k.key_id for k in list_keys(store) if k.name == "operator key")
        revoke_key(store, key_id)
    import time

    from siyu.store.keys import CACHE_TTL_SECONDS

    time.sleep(CACHE_TTL_SECONDS + 0.5)
    with service.client("operator") as c:
        assert c.get("/v1/segments").status_code == 401


def test_created_key_works_and_token_is_shown_once(service: RunningService) -> None:
    with service.client("admin") as admin:
        r = admin.post("/v1/keys", json={"kind": "user", "name": "bi tool", "role": "analyst"})
        assert r.status_code == 201
        token = r.json()["token"]
        listed = admin.get("/v1/keys").json()
    assert all("token" not in k and "secret_hash" not in k for k in listed)
    assert any(k["name"] == "bi tool" for k in listed)
    r = httpx.get(service.base_url + "/v1/tags", headers={"X-API-Key": token})
    assert r.status_code == 200


def test_rate_limit_answers_429_with_retry_after(service: RunningService) -> None:
    with service.client("admin") as admin:
        token = admin.post("/v1/keys", json={"kind": "user", "name": "slow", "role": "analyst",
                                             "rate_limit_per_minute": 3}).json()["token"]
    codes = [httpx.get(service.base_url + "/v1/kpis", headers={"X-API-Key": token}).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = httpx.get(service.base_url + "/v1/kpis", headers={"X-API-Key": token})
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["code"] == "rate_limited"


def test_unknown_path_and_method_are_json(service: RunningService) -> None:
    r = httpx.get(service.base_url + "/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = httpx.delete(service.base_url + "/v1/track")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


@pytest.mark.postgres
def test_the_service_runs_on_postgresql(pg_database: str, api_lake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The same keys, roles and saved segments with the operational store on a real PostgreSQL server."""
    from tests.api.service import run_service

    with run_service(api_lake.root, tmp_path / "pg", store_url=pg_database) as svc:
        with svc.client("operator") as c:
            r = c.post("/v1/segments", json={"name": "pg_silent", "name_zh": "沉默", "rule": 'lifecycle = "silent"'})
            assert r.status_code == 201, r.text
            assert c.get("/v1/segments/pg_silent").json()["version"] == 1
        with svc.client("admin") as admin:
            keys = admin.get("/v1/keys").json()
            operator = next(k for k in keys if k["name"] == "operator key")
            assert operator["last_used_at"] is not None
            assert admin.delete(f"/v1/keys/{operator['key_id']}").status_code == 200
        with svc.client("operator") as c:
            assert c.get("/v1/segments").status_code == 401
        assert httpx.post(svc.base_url + "/v1/track", auth=(svc.write_key, ""),
                          json={"userId": "u", "event": "pg_checked"}).json()["accepted"] == 1
