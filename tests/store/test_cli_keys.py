"""``siyu keys`` and ``siyu store`` as a user types them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.core.config import get_settings
from siyu.store import head_revision, open_store, verify_key

runner = CliRunner()


def run(*args: str, code: int = 0) -> tuple[str, str]:
    """Standard output and standard error of a command that exits with ``code``."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.stdout, result.stderr


def test_create_prints_the_token_once_with_a_warning(store_url: str) -> None:
    stdout, stderr = run("keys", "create", "--kind", "write", "--name", "mini program", "--source", "miniprogram",
                         "--rate-limit", "600", "--store", store_url)
    token = stdout.strip()
    assert re.fullmatch(r"sy_w_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    assert "cannot be shown" in stderr and "again" in stderr
    with open_store(store_url) as store:
        info = verify_key(store, token)
        assert info is not None and info.source == "miniprogram" and info.rate_limit_per_minute == 600
    listed, _ = run("keys", "list", "--json", "--store", store_url)
    assert token.split("_", 3)[3] not in listed and "hash" not in listed


def test_list_revoke_and_list_all(store_url: str) -> None:
    created = json.loads(run("keys", "create", "--kind", "user", "--name", "amy", "--role", "analyst", "--json",
                             "--store", store_url)[0])
    key_id = created["key"]["key_id"]
    assert created["token"].startswith(f"sy_u_{key_id}_") and created["key"]["role"] == "analyst"
    rows = json.loads(run("keys", "list", "--json", "--store", store_url)[0])
    assert [r["key_id"] for r in rows] == [key_id] and set(rows[0]) >= {"name", "kind", "role", "last_used_at"}
    assert "amy" in run("keys", "list", "--store", store_url)[0]
    assert f"revoked {key_id}" in run("keys", "revoke", key_id, "--store", store_url)[0]
    assert json.loads(run("keys", "list", "--json", "--store", store_url)[0]) == []
    everything = json.loads(run("keys", "list", "--all", "--json", "--store", store_url)[0])
    assert everything[0]["key_id"] == key_id and everything[0]["revoked_at"]


@pytest.mark.parametrize(("args", "message"), [
    (("keys", "create", "--kind", "user", "--name", "n"), "user keys need a role"),
    (("keys", "create", "--kind", "write", "--name", "n", "--role", "admin", "--source", "pos"), "no role"),
    (("keys", "create", "--kind", "admin", "--name", "n"), "key kind must be"),
    (("keys", "revoke", "0123456789ab"), "no key with id"),
])
def test_bad_input_is_a_clean_error(store_url: str, args: tuple[str, ...], message: str) -> None:
    _, stderr = run(*args, "--store", store_url, code=2)
    assert message in stderr and "Traceback" not in stderr


def test_store_upgrade_and_current(store_url: str) -> None:
    current = json.loads(run("store", "current", "--json", "--store", store_url)[0])
    assert current == {"current": None, "head": head_revision(), "up_to_date": False}
    assert "upgraded from empty" in run("store", "upgrade", "--store", store_url)[0]
    assert "already up to date" in run("store", "upgrade", "--store", store_url)[0]
    assert json.loads(run("store", "current", "--json", "--store", store_url)[0])["up_to_date"] is True


def test_the_store_defaults_to_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIYU_STORE_URL", raising=False)
    monkeypatch.setenv("SIYU_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        run("keys", "create", "--kind", "user", "--name", "n", "--role", "auditor")
        assert (tmp_path / "home" / "siyu.db").exists()
        assert len(json.loads(run("keys", "list", "--json")[0])) == 1
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_an_unreachable_store_is_a_clean_error() -> None:
    _, stderr = run("keys", "list", "--store", "postgresql+psycopg://nobody@127.0.0.1:1/none", code=2)
    assert "cannot open the store" in stderr
    _, stderr = run("store", "current", "--store", "nosuchdb://x", code=2)
    assert "cannot read the store" in stderr
