"""Personal values never land as plaintext: unit rules, and a whole pipeline searched for planted numbers."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu.cli.profile_cmds import default_tag_defs
from siyu.collect.collector import Collector
from siyu.collect.drain import drain
from siyu.collect.spool import Spool
from siyu.core.identifiers import IdentifierType, stored_value
from siyu.core.logs import configure
from siyu.privacy import landing
from siyu.privacy.keyring import Keyring
from siyu.privacy.landing import protect_json, redact_text, token_for
from siyu.privacy.vault import Vault
from siyu.profile.tags.build import build_tags
from siyu.serving.segment_store import build_segment_store
from siyu.serving.snapshot import build_snapshot
from siyu.synth import generate_world
from siyu.warehouse.build import build
from siyu.warehouse.lake import Lake
from siyu.warehouse.loader import import_source


@pytest.fixture
def no_vault(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("SIYU_VAULT_KEY", "SIYU_VAULT_KEY_FILE", "SIYU_VAULT_KEYRING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIYU_HOME", str(tmp_path / "home-without-vault"))
    landing.landing_vault.cache_clear()
    yield
    landing.landing_vault.cache_clear()


@pytest.fixture
def with_vault(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Vault]:
    key = tmp_path / "keys" / "vault.key"
    key.parent.mkdir()
    Keyring.create(key)
    monkeypatch.setenv("SIYU_VAULT_KEY_FILE", str(key))
    landing.landing_vault.cache_clear()
    yield Vault(Keyring.load(key))
    landing.landing_vault.cache_clear()


def test_personal_values_become_tokens_without_a_vault(no_vault: None) -> None:
    msg = {"phone": "138 1234 5678", "email": "Li.Na@Example.com", "name": "李娜", "plan": "gold",
           "address": {"city": "杭州", "street": "文三路 90 号"}, "contacts": [{"mobile": "13900001111"}],
           "user_id": "u1", "count": 3}
    out = protect_json(msg)
    assert out["phone"] == stored_value(IdentifierType.PHONE, "13812345678"), "joinable with id_phone"
    assert out["email"] == stored_value(IdentifierType.EMAIL, "li.na@example.com")
    assert out["name"].startswith("na_") and "李娜" not in str(out)
    assert out["address"]["street"] != "文三路 90 号" and out["address"]["city"] != "杭州"
    assert out["contacts"][0]["mobile"].startswith("ph_")
    assert (out["plan"], out["user_id"], out["count"]) == ("gold", "u1", 3), "other fields are left alone"
    assert protect_json(out) == out, "protecting twice changes nothing"


def test_with_a_vault_values_are_encrypted_and_decrypt_for_readers(with_vault: Vault) -> None:
    out = protect_json({"traits": {"phone": "13812345678", "name": "王芳"}})
    assert out["traits"]["phone"].startswith("enc:v1:")
    assert with_vault.decrypt(out["traits"]["phone"], field="phone") == "13812345678"
    assert with_vault.decrypt(out["traits"]["name"], field="name") == "王芳"


@pytest.mark.parametrize("text", [
    '{"traits": {"phone": "13812345678"', "call +86 138-1234-5678 now", "mail li.na@example.com;",
    "id 11010119900307123X end",
])
def test_redaction_of_unparseable_text(no_vault: None, text: str) -> None:
    out = redact_text(text)
    assert not re.search(r"1[3-9]\d[- ]?\d{4}[- ]?\d{4}|@example|11010119900307123X", out), out


def test_redaction_leaves_other_numbers(no_vault: None) -> None:
    text = "order O202601011381234567 amount 1381.5 sku 10001"
    assert redact_text(text) == text
    assert token_for("phone", "not a phone").startswith("ph_")


_PHONE = re.compile(r"(?<![0-9A-Za-z])(?:\+?(?:00)?86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?![0-9A-Za-z])")


def _phones_in(text: str) -> set[str]:
    """Mainland mobile numbers however written (plain, +86, spaced, dashed), as 11 digits."""
    return {"".join(m) for m in _PHONE.findall(text)}


def _strings_of_parquet(path: Path) -> Iterator[str]:
    table = pq.read_table(path)
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            yield from (v for v in column.to_pylist() if v)


def _strings_of_duckdb(path: Path) -> Iterator[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        for table, col in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                      "WHERE data_type = 'VARCHAR'").fetchall():
            yield from (v for (v,) in con.execute(f'SELECT "{col}" FROM "{table}" WHERE "{col}" IS NOT NULL'
                                                   ).fetchall())
    finally:
        con.close()


def test_no_planted_phone_number_anywhere_in_the_lake_or_the_logs(no_vault: None, tmp_path: Path,
                                                                  capfd: pytest.CaptureFixture[str]) -> None:
    configure("INFO")
    world = tmp_path / "world"
    generate_world(world, users=300, days=20, seed=5)
    planted: set[str] = set()
    for f in world.rglob("*"):
        if f.is_file():
            raw = f.read_bytes()
            if f.suffix == ".gz":
                raw = gzip.decompress(raw)
            planted |= _phones_in(raw.decode("utf-8", "replace"))
    lake = Lake(tmp_path / "lake")
    import_source(world, lake)
    # the collector's path too: an identify with a phone, and a broken line carrying one
    extra = {"13700001234", "15911112222"}
    planted |= extra
    with Spool(tmp_path / "spool.db") as spool:
        c = Collector(spool)
        now = datetime(2026, 1, 20, 3, tzinfo=UTC)
        c.collect([{"type": "identify", "userId": "planted-1", "messageId": "p1", "timestamp": now.isoformat(),
                    "traits": {"phone": "137-0000-1234", "nickname": "小王", "mobile": "13700001234"}},
                   {"type": "track", "userId": "planted-2", "messageId": "p2", "timestamp": "not a time",
                    "properties": {"contact": "15911112222"}}], source="web", received_at=now)
        drain(spool, lake)
    build(lake)
    build_tags(lake, default_tag_defs(), "duckdb")
    build_snapshot(lake)
    build_segment_store(lake)
    assert len(planted) > 50, "the world must hold phone numbers for this test to mean anything"

    found: dict[str, set[str]] = {}
    for f in lake.root.rglob("*"):
        if f.suffix == ".parquet":
            strings: Iterator[str] = _strings_of_parquet(f)
        elif f.suffix == ".duckdb":
            strings = _strings_of_duckdb(f)
        elif f.suffix == ".json":
            strings = iter([f.read_text()])
        else:
            continue
        hits = set().union(*(_phones_in(s) for s in strings)) & planted
        if hits:
            found[str(f.relative_to(lake.root))] = hits
    assert not found, f"plaintext phone numbers in the lake: {dict(list(found.items())[:5])}"
    captured = capfd.readouterr()
    assert not _phones_in(captured.out + captured.err) & planted, "a phone number reached the logs"
    quarantined = pq.read_table(lake.files("ods", "quarantine")).to_pylist()
    assert any(q["line_no"] is not None and "ph_" in q["payload"] for q in quarantined), "the broken line is kept"


def test_readers_with_the_pii_grant_get_trait_values_decrypted(with_vault: Vault) -> None:
    from siyu.api.routes_profiles import _opened

    traits = protect_json({"mobile": "13812345678", "name": "王芳", "plan": "gold"})
    assert {k: _opened(k, v) for k, v in traits.items()} == {"mobile": "13812345678", "name": "王芳", "plan": "gold"}
    assert _opened("name", traits["mobile"]) == traits["mobile"], "a token of another field stays closed"


@pytest.mark.parametrize("text", ["a" * 1_000_000, "a" * 500_000 + "@" + "b." * 250_000, "x@y." * 250_000])
def test_hostile_text_is_scanned_in_one_pass(no_vault: None, text: str) -> None:
    """A megabyte of near-misses (a rejected line can be that) comes back unchanged, without backtracking."""
    assert redact_text(text) == text  # none of these holds an address, a phone or an id


def test_contacts_written_into_other_text_are_tokenised_too(no_vault: None) -> None:
    out = protect_json({"note": "请致电13812345678或发邮件 li.na@example.com", "order_id": "202601011381234567",
                        "deep": [{"remark": "+86 139 0000 1111"}], "token": stored_value(IdentifierType.PHONE,
                                                                                           "13812345678")})
    assert "13812345678" not in out["note"] and "li.na@example.com" not in out["note"]
    assert stored_value(IdentifierType.PHONE, "13812345678") in out["note"], "the same token as id_phone"
    assert out["order_id"] == "202601011381234567", "long order numbers are not phones"
    assert "1111" not in out["deep"][0]["remark"]
    assert out["token"] == stored_value(IdentifierType.PHONE, "13812345678"), "tokens are not re-tokenised"


def test_nothing_deeper_than_any_real_event_lands_unchecked(no_vault: None) -> None:
    deep: dict = {"phone": "13812345678"}  # type: ignore[type-arg]
    for _ in range(40):
        deep = {"x": deep}
    assert "13812345678" not in str(protect_json(deep))
