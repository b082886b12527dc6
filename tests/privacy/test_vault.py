"""PII vault: the AES-GCM primitive against published vectors, round trips, tampering, rotation and keys."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.core.errors import SiyuError
from siyu.core.identifiers import stored_value
from siyu.privacy.vault import Keyring, Vault, VaultError, keyring_path_for, token_version

# AES-256 test cases 14 and 16 of the GCM specification (McGrew & Viega, "The Galois/Counter Mode of
# Operation", the revised spec published by NIST with SP 800-38D): key, IV, plaintext, AAD, ciphertext, tag.
GCM_VECTORS = [
    ("00" * 32, "00" * 12, "00" * 16, "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
    ("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de"
     "657ba637b39", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7"
     "a0abcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b"),
]


@pytest.fixture(scope="module")
def shared_vault(tmp_path_factory: pytest.TempPathFactory) -> Vault:
    """One vault for the property tests (hypothesis runs many examples per test)."""
    return Vault(Keyring.create(tmp_path_factory.mktemp("vault") / "vault.key"))


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault(Keyring.create(tmp_path / "vault.key"))


@pytest.mark.parametrize(("key", "iv", "plain", "aad", "cipher", "tag"), GCM_VECTORS)
def test_aes_256_gcm_matches_the_published_vectors(key: str, iv: str, plain: str, aad: str, cipher: str,
                                                   tag: str) -> None:
    sealed = AESGCM(bytes.fromhex(key)).encrypt(bytes.fromhex(iv), bytes.fromhex(plain), bytes.fromhex(aad) or None)
    assert sealed.hex() == cipher + tag


def test_token_is_nonce_ciphertext_tag_under_the_field_aad(vault: Vault) -> None:
    token = vault.encrypt("13812341234", field="phone")
    prefix, version, body = token.split(":")
    blob = base64.b64decode(body)
    assert (prefix, version, len(blob)) == ("enc", "v1", 12 + len("13812341234") + 16)
    dek = vault.keyring.cipher(1)
    assert dek.decrypt(blob[:12], blob[12:], b"siyu-vault:v1:phone") == b"13812341234"
    assert vault.decrypt(token, field="phone") == "13812341234"


def test_same_value_encrypts_differently_each_time(vault: Vault) -> None:
    tokens = {vault.encrypt("张三", field="name") for _ in range(20)}
    assert len(tokens) == 20  # a fresh random nonce every time
    assert {vault.decrypt(t, field="name") for t in tokens} == {"张三"}


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(), field=st.text(min_size=1, max_size=40))
def test_round_trip_any_text(shared_vault: Vault, value: str, field: str) -> None:
    assert shared_vault.decrypt(shared_vault.encrypt(value, field=field), field=field) == value


def test_round_trip_long_and_odd_text(vault: Vault) -> None:
    for value in ("", "a" * 1_000_000, "\x00\ud800\U0001f600", "广东省深圳市南山区科技园路1号"):
        assert vault.decrypt(vault.encrypt(value, field="address"), field="address") == value


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changing_any_character_of_a_token_is_refused(shared_vault: Vault, data: st.DataObject) -> None:
    token = shared_vault.encrypt(data.draw(st.text(max_size=30)), field="phone")
    index = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=:"  # each character once
    # Drawn as an offset so what hypothesis draws does not depend on the (random) token.
    char = alphabet[(alphabet.index(token[index]) + data.draw(st.integers(1, len(alphabet) - 1))) % len(alphabet)]
    with pytest.raises(VaultError):
        shared_vault.decrypt(token[:index] + char + token[index + 1:], field="phone")


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changing_any_byte_of_the_ciphertext_is_refused(shared_vault: Vault, data: st.DataObject) -> None:
    token = shared_vault.encrypt(data.draw(st.text(max_size=30)), field="email")
    blob = bytearray(base64.b64decode(token.split(":")[2]))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(VaultError) as raised:
        shared_vault.decrypt("enc:v1:" + base64.b64encode(bytes(blob)).decode(), field="email")
    assert raised.value.code == "vault_tampered"


@pytest.mark.parametrize("token", ["", "13812341234", "enc:v1:", "enc:v1:AAAA", "enc:v01:AAAA", "enc:vx:AAAA",
                                  "enc:v1:not base64!", "enc:v1"])
def test_malformed_tokens_are_refused(vault: Vault, token: str) -> None:
    with pytest.raises(VaultError) as raised:
        vault.decrypt(token, field="phone")
    assert raised.value.code == "vault_malformed"


def test_a_token_does_not_decrypt_as_another_field(vault: Vault) -> None:
    token = vault.encrypt("13812341234", field="phone")
    with pytest.raises(VaultError) as raised:
        vault.decrypt(token, field="name")
    assert raised.value.code == "vault_tampered"
    assert raised.value.input_name == "name"
    assert isinstance(raised.value, SiyuError)


def test_unknown_version_and_bad_input(vault: Vault) -> None:
    body = vault.encrypt("x", field="phone").split(":")[2]
    with pytest.raises(VaultError, match="v7 is not in the keyring"):
        vault.decrypt(f"enc:v7:{body}", field="phone")
    with pytest.raises(VaultError, match="only text"):
        vault.encrypt(13812341234, field="phone")  # type: ignore[arg-type]


def test_rotation_keeps_old_tokens_readable_and_reencrypts(vault: Vault) -> None:
    old = vault.encrypt("13812341234", field="phone")
    assert vault.rotate() == 2
    assert vault.active_version == 2
    assert vault.decrypt(old, field="phone") == "13812341234"  # no downtime: v1 still decrypts
    new = vault.reencrypt(old, "phone")
    assert token_version(new) == 2
    assert vault.decrypt(new, field="phone") == "13812341234"
    assert vault.reencrypt(new, "phone") is new  # idempotent
    assert token_version(vault.encrypt("x", field="phone")) == 2


def test_reencrypt_column_only_touches_old_versions(vault: Vault) -> None:
    phones = ["13812341234", "13900000000", None, "13700000001"]
    v1 = [vault.encrypt(p, field="phone") if p else None for p in phones]
    vault.rotate()
    v2 = vault.encrypt("13600000002", field="phone")
    table = pa.table({"phone": [*v1, v2], "tier": ["gold", "silver", "gold", "bronze", "gold"]})
    moved = vault.reencrypt_column(table, ["phone"])
    after = moved["phone"].to_pylist()
    assert [token_version(t) for t in after if t] == [2, 2, 2, 2]
    assert after[2] is None
    assert after[4] == v2  # already active: kept byte for byte
    assert all(a != b for a, b in zip(after[:4], v1, strict=True) if b)
    assert moved["tier"].equals(table["tier"])
    assert vault.decrypt_column(moved, ["phone"])["phone"].to_pylist() == [*phones, "13600000002"]
    with pytest.raises(VaultError, match="no column"):
        vault.reencrypt_column(table, ["email"])


def test_encrypt_column_uses_the_column_name_as_field(vault: Vault) -> None:
    table = vault.encrypt_column(pa.table({"name": ["张三", None], "email": ["a@b.cn", "c@d.cn"]}), ["name", "email"])
    assert vault.decrypt(table["name"][0].as_py(), field="name") == "张三"
    with pytest.raises(VaultError):
        vault.decrypt(table["email"][0].as_py(), field="name")


def test_retire(vault: Vault) -> None:
    old = vault.encrypt("张三", field="name")
    with pytest.raises(VaultError, match="active") as raised:
        vault.retire(1)
    assert raised.value.code == "vault_active_key"
    vault.rotate()
    vault.retire(1)
    with pytest.raises(VaultError, match="v1 was retired"):
        vault.decrypt(old, field="name")
    assert vault.rotate() == 3  # a retired version number is never reused
    reopened = Keyring.load(vault.keyring.path.with_name("vault.key"))
    assert (reopened.versions, reopened.active, reopened.retired) == ([2, 3], 3, {1})


def test_a_rotation_by_another_process_is_picked_up(tmp_path: Path) -> None:
    writer = Keyring.create(tmp_path / "vault.key")
    reader = Vault(Keyring.load(tmp_path / "vault.key"))
    Vault(writer).rotate()
    token = Vault(writer).encrypt("13812341234", field="phone")
    assert reader.decrypt(token, field="phone") == "13812341234"


def test_key_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        Keyring.create(tmp_path / "vault.key")
    finally:
        os.umask(previous)
    for path in (tmp_path / "vault.key", tmp_path / "vault.keyring.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyring_path_for(tmp_path / "vault.key") == tmp_path / "vault.keyring.json"


def test_keys_are_never_overwritten_and_exposed_key_files_refused(tmp_path: Path) -> None:
    Keyring.create(tmp_path / "vault.key")
    with pytest.raises(VaultError, match="refusing to overwrite"):
        Keyring.create(tmp_path / "vault.key")
    (tmp_path / "vault.key").chmod(0o644)
    with pytest.raises(VaultError, match="chmod 600") as raised:
        Keyring.load(tmp_path / "vault.key")
    assert raised.value.code == "vault_key_exposed"


def test_keyring_stores_dek_wrapped_and_bound_to_its_version(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path / "vault.key")
    ring.add_version()
    data = json.loads(ring.path.read_text())
    assert set(data["keys"]) == {"1", "2"} and data["active"] == 2
    assert all(len(base64.b64decode(k["wrapped"])) == 12 + 32 + 16 for k in data["keys"].values())
    data["keys"]["1"]["wrapped"], data["keys"]["2"]["wrapped"] = data["keys"]["2"]["wrapped"], data["keys"]["1"][
        "wrapped"]
    ring.path.write_text(json.dumps(data))
    with pytest.raises(VaultError) as raised:
        Keyring.load(tmp_path / "vault.key")
    assert raised.value.code == "vault_wrong_key"


def test_missing_key_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .siyu/vault.key here
    with pytest.raises(VaultError, match="SIYU_VAULT_KEY") as raised:
        Vault.from_env({})
    assert raised.value.code == "vault_no_key"
    with pytest.raises(VaultError) as raised:
        Vault.from_env({"SIYU_VAULT_KEY_FILE": str(tmp_path / "nope.key")})
    assert raised.value.code == "vault_no_key"


def test_keys_from_the_environment(tmp_path: Path) -> None:
    key = Keyring.generate_key()
    ring = tmp_path / "ring.json"
    Keyring.initialise(base64.b64decode(key), ring)
    vault = Vault.from_env({"SIYU_VAULT_KEY": key + "\n", "SIYU_VAULT_KEYRING": str(ring)})
    assert vault.decrypt(vault.encrypt("x", field="f"), field="f") == "x"
    with pytest.raises(VaultError) as raised:
        Vault.from_env({"SIYU_VAULT_KEY": Keyring.generate_key(), "SIYU_VAULT_KEYRING": str(ring)})
    assert raised.value.code == "vault_wrong_key"
    for bad in ("not base64", base64.b64encode(b"short").decode()):
        with pytest.raises(VaultError):
            Vault.from_env({"SIYU_VAULT_KEY": bad, "SIYU_VAULT_KEYRING": str(ring)})
    with pytest.raises(VaultError) as raised:
        Vault.from_env({"SIYU_VAULT_KEY": key, "SIYU_VAULT_KEYRING": str(tmp_path / "missing.json")})
    assert raised.value.code == "vault_no_keyring"
    Keyring.create(tmp_path / "file.key")
    from_file = Vault.from_env({"SIYU_VAULT_KEY_FILE": str(tmp_path / "file.key")})
    assert from_file.keyring.path == tmp_path / "file.keyring.json"


def test_join_tokens_are_the_lakes_keyed_hashes() -> None:
    assert Vault.token("phone", "138 1234 1234") == stored_value("phone", "13812341234")
    assert Vault.token("email", "ZhangSan@Example.com") == stored_value("email", "zhangsan@example.com")
    assert Vault.token("phone", "13812341234").startswith("ph_")
    assert Vault.token("national_id", "11010119900307123x") == Vault.token("national_id", " 11010119900307123X")
    assert Vault.token("name", "张三") != Vault.token("address", "张三")
    for kind, bad in (("phone", "not a phone"), ("name", "  "), ("name", None)):
        with pytest.raises(VaultError):
            Vault.token(kind, bad)  # type: ignore[arg-type]
