"""API keys: tokens shown once and stored as SHA-256, verification, revocation, throttled last-use stamps."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from siyu.store import (
    KeyKind,
    NotFound,
    Role,
    Store,
    StoreInputError,
    create_key,
    get_key,
    list_keys,
    open_store,
    revoke_key,
    verify_key,
)
from siyu.store import keys as keys_module
from siyu.store.models import ApiKey

TOKEN = re.compile(r"sy_([wu])_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def test_write_key_token_format_and_verification(store: Store) -> None:
    info, token = create_key(store, kind="write", name="mini program", source="miniprogram", created_by="ops",
                             rate_limit_per_minute=600, description="小程序埋点")
    match = TOKEN.fullmatch(token)
    assert match and match[1] == "w" and match[2] == info.key_id
    assert (info.kind, info.role, info.source, info.rate_limit_per_minute) == (KeyKind.WRITE, None, "miniprogram", 600)
    assert info.created_by == "ops" and info.description == "小程序埋点" and info.last_used_at is None
    verified = verify_key(store, token)
    assert verified is not None and verified.key_id == info.key_id and verified.last_used_at is not None


@pytest.mark.parametrize("role", list(Role))
def test_user_keys_carry_their_role(store: Store, role: Role) -> None:
    info, token = create_key(store, kind=KeyKind.USER, name=f"{role} key", role=role)
    assert token.startswith("sy_u_") and info.role is role and info.source is None
    verified = verify_key(store, token)
    assert verified is not None and verified.role is role and verified.kind is KeyKind.USER


def test_only_the_sha256_of_the_secret_is_stored_and_never_listed(store: Store) -> None:
    info, token = create_key(store, kind="user", name="analyst", role="analyst")
    secret = token.split("_", 3)[3]
    with store.session() as session:
        row = session.scalars(select(ApiKey)).one()
        stored = {c.key: getattr(row, c.key) for c in ApiKey.__table__.columns}
    assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(v) for v in stored.values())
    shown = repr(list_keys(store, include_revoked=True)) + repr(get_key(store, info.key_id)) + repr(info)
    assert stored["secret_hash"] not in shown and secret not in shown
    assert "secret_hash" not in {f.name for f in dataclasses.fields(info)}


def test_wrong_secret_wrong_kind_and_unknown_key_are_refused(store: Store) -> None:
    _, token = create_key(store, kind="write", name="wecom", source="wecom")
    _, _, key_id, secret = token.split("_", 3)
    other_secret = secrets.token_urlsafe(32)
    assert other_secret != secret
    assert verify_key(store, f"sy_w_{key_id}_{other_secret}") is None
    assert verify_key(store, f"sy_u_{key_id}_{secret}") is None  # a write key is not a user key
    assert verify_key(store, f"sy_w_{'0' * 12 if key_id != '0' * 12 else '1' * 12}_{secret}") is None
    assert verify_key(store, token) is not None


MALFORMED = ["", "sy_", "sy_w_", "sy_x_0123456789ab_" + "a" * 43, "sy_w_0123456789AB_" + "a" * 43,
             "sy_w_0123456789ab_" + "a" * 42, "sy_w_0123456789ab_" + "a" * 44, "sy_w_0123456789ab_" + "a" * 42 + "=",
             " sy_w_0123456789ab_" + "a" * 43, "sy_w_0123456789ab_" + "a" * 43 + "\n", "Bearer sy_w_x",
             "sy_w_0123456789ab_" + "密" * 43, "x" * 100_000, "sy_w_' OR '1'='1_" + "a" * 43, "\x00" * 60]


def test_malformed_tokens_return_none(store: Store) -> None:
    create_key(store, kind="user", name="n", role="admin")
    for token in [*MALFORMED, None, 42, b"sy_w_0123456789ab_" + b"a" * 43, ["sy_w"]]:
        assert verify_key(store, token) is None, token


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.one_of(st.text(max_size=120), st.from_regex(TOKEN, fullmatch=True),
                       st.from_regex(r"sy_[wu]_[0-9a-f]{12}_.{0,50}", fullmatch=True)))
def test_random_tokens_never_raise(store: Store, token: str) -> None:
    assert verify_key(store, token) is None


def test_revoked_keys_are_refused_and_hidden_from_the_default_list(store: Store) -> None:
    info, token = create_key(store, kind="user", name="gone", role="operator")
    keep, _ = create_key(store, kind="write", name="kept", source="pos")
    assert verify_key(store, token) is not None  # now cached in this process
    revoked = revoke_key(store, info.key_id)
    assert revoked.revoked_at is not None
    assert verify_key(store, token) is None  # at once in the revoking process, cache or not
    assert [k.key_id for k in list_keys(store)] == [keep.key_id]
    everything = list_keys(store, include_revoked=True)
    assert [k.key_id for k in everything] == [info.key_id, keep.key_id] and everything[0].revoked
    assert revoke_key(store, info.key_id).revoked_at == revoked.revoked_at  # idempotent, first time kept
    for unknown in ("ffffffffffff", "' OR 1=1 --", "\x00" * 12):
        with pytest.raises(NotFound, match="no key"):
            revoke_key(store, unknown)
        assert get_key(store, unknown) is None


def test_revocation_reaches_another_process_within_the_cache_ttl(store_url: str, store: Store,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "CACHE_TTL_SECONDS", 0.3)
    info, token = create_key(store, kind="user", name="n", role="admin")
    with open_store(store_url) as other:  # another server process, with its own cache
        assert verify_key(store, token) is not None
        revoke_key(other, info.key_id)
        assert verify_key(store, token) is not None  # still served from this process's cache: documented
        time.sleep(0.35)
        assert verify_key(store, token) is None


def test_last_used_is_written_at_most_once_a_minute(store: Store) -> None:
    info, token = create_key(store, kind="user", name="n", role="auditor")
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    steps = [(t0, t0), (t0 + timedelta(seconds=30), t0), (t0 + timedelta(seconds=59), t0),
             (t0 + timedelta(seconds=61), t0 + timedelta(seconds=61))]
    for now, expected in steps:
        assert verify_key(store, token, now=now, use_cache=False) is not None
        current = get_key(store, info.key_id)
        assert current is not None and current.last_used_at == expected, now


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "write", "name": "n"}, "write keys need a source"),
    ({"kind": "write", "name": "n", "source": "Bad Source!"}, "write keys need a source"),
    ({"kind": "write", "name": "n", "source": "pos", "role": "admin"}, "write keys send events and have no role"),
    ({"kind": "user", "name": "n"}, "user keys need a role"),
    ({"kind": "user", "name": "n", "role": "root"}, "user keys need a role: one of admin, analyst"),
    ({"kind": "user", "name": "n", "role": "admin", "source": "pos"}, "user keys have no source"),
    ({"kind": "read", "name": "n", "role": "admin"}, "key kind must be 'write' or 'user'"),
    ({"kind": "user", "name": "  ", "role": "admin"}, "needs a name"),
    ({"kind": "user", "name": "n", "role": "admin", "rate_limit_per_minute": 0}, "positive"),
    ({"kind": "user", "name": "a\x00b", "role": "admin"}, "NUL"),
    ({"kind": "user", "name": "n", "role": "admin", "description": "\x00"}, "NUL"),
])
def test_invalid_keys_are_refused_with_a_clear_value_error(store: Store, kwargs: dict[str, object],
                                                           message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        create_key(store, **kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, StoreInputError)
    assert list_keys(store, include_revoked=True) == []


def test_keys_that_may_read_personal_data_are_capped(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.core.config import get_settings

    monkeypatch.setenv("SIYU_MAX_PII_KEYS", "2")
    get_settings.cache_clear()
    try:
        first, _ = create_key(store, kind="user", name="admin 1", role="admin")
        create_key(store, kind="user", name="admin 2", role="admin")
        with pytest.raises(StoreInputError, match="limit 2"):
            create_key(store, kind="user", name="admin 3", role="admin")
        create_key(store, kind="user", name="analyst", role="analyst")  # masked roles are not capped
        revoke_key(store, first.key_id)
        create_key(store, kind="user", name="admin 3", role="admin")  # a revoked key frees its place
    finally:
        get_settings.cache_clear()
