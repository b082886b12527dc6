"""``siyu privacy`` as an operator types it: vault keys, the audit log, an anonymous export."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.store import open_store

runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.stdout


def test_vault_init_rotate_status(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "vault.key"
    created = json.loads(run("privacy", "vault", "init", "--key-file", str(key), "--json"))
    assert created["active_version"] == 1 and stat.S_IMODE(key.stat().st_mode) == 0o600
    run("privacy", "vault", "init", "--key-file", str(key), code=2)  # never overwrites a key
    assert json.loads(run("privacy", "vault", "rotate", "--key-file", str(key), "--json"))["active_version"] == 2
    status = json.loads(run("privacy", "vault", "status", "--key-file", str(key), "--json"))
    assert status["versions"] == [1, 2] and status["active_version"] == 2
    assert key.read_text().strip() not in json.dumps(status)


def test_key_changes_are_audited_and_tampering_is_found(store_url: str) -> None:
    made = json.loads(run("keys", "create", "--kind", "user", "--name", "amy", "--role", "analyst", "--json",
                          "--store", store_url))
    run("keys", "revoke", made["key"]["key_id"], "--store", store_url)
    entries = json.loads(run("privacy", "audit", "list", "--json", "--store", store_url))
    assert [e["action"] for e in entries] == ["key_revoked", "key_created"]
    assert all(e["actor"].startswith("cli:") and e["target"] == f"key:{made['key']['key_id']}" for e in entries)
    head = run("privacy", "audit", "head", "--store", store_url).strip()
    assert head.startswith("2:")
    assert json.loads(run("privacy", "audit", "verify", "--expected-head", head, "--json", "--store", store_url)
                      )["ok"] is True
    with open_store(store_url) as store, store.engine.begin() as con:  # someone with DDL rights edits entry 1
        if store.dialect == "sqlite":
            con.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        else:
            con.execute(sa.text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
        con.execute(sa.text("UPDATE audit_log SET actor = 'cli:nobody' WHERE seq = 1"))
    report = json.loads(run("privacy", "audit", "verify", "--json", "--store", store_url, code=1))
    assert report["ok"] is False and report["broken_at"] == 1 and report["reason"] == "edited"


@pytest.mark.parametrize("k", [2, 5])
def test_anonymize_reaches_k_checked_with_pandas(tmp_path: Path, k: int) -> None:
    rows = 400
    table = pa.table({
        "age": [18 + (i * 7) % 50 for i in range(rows)],
        "region": [("浙江省杭州市", "上海市浦东新区", "广东省深圳市", "北京市朝阳区", "四川省成都市")[i % 5]
                   for i in range(rows)],
        "gender": [("男", "女")[i % 2] for i in range(rows)],
        "orders": [i % 9 for i in range(rows)],
        "one_id": [f"o_{i}" for i in range(rows)],
    })
    src, out = tmp_path / "members.parquet", tmp_path / "out" / "members-anon.csv"
    pq.write_table(table, src)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    report = json.loads(run("privacy", "anonymize", str(src), "--out", str(out), "--qi", "age,region,gender",
                            "--k", str(k), "--keep", "orders", "--json", "--store", store))
    released = pd.read_csv(out)
    assert set(released.columns) == {"age", "region", "gender", "orders"}, "one_id must not leave"
    assert released.groupby(["age", "region", "gender"], dropna=False).size().min() >= k
    assert report["k_achieved"] >= k and len(released) == report["rows_out"] >= rows * 0.95
    entries = json.loads(run("privacy", "audit", "list", "--action", "export", "--json", "--store", store))
    assert entries[0]["details"]["rows"] == len(released) and entries[0]["details"]["k"] == report["k_achieved"]


def test_anonymize_refuses_a_direct_identifier(tmp_path: Path) -> None:
    src = tmp_path / "m.parquet"
    pq.write_table(pa.table({"age": [30, 31], "phone": ["13800000001", "13800000002"]}), src)
    result = runner.invoke(app, ["privacy", "anonymize", str(src), "--out", str(tmp_path / "o.csv"), "--qi", "age",
                                 "--keep", "phone", "--k", "2", "--store", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2 and "phone" in result.stderr and "direct_identifier" in result.stderr
    assert not (tmp_path / "o.csv").exists()
