"""Masking (脱敏): one table of cases per kind, properties that the hidden part never shows, odd inputs."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.privacy.masking import MAX_STARS, mask_record, mask_table, mask_value

CASES = [
    ("phone", "13812341234", "138****1234"),
    ("phone", "+8613812341234", "+86138****1234"),
    ("phone", "138 1234 1234", "138****1234"),
    ("phone", "0086-138-1234-1234", "0086138****1234"),
    ("phone", "010-12345678", "010****5678"),
    ("phone", "1234567", "12***67"),
    ("phone", "12345", "*****"),
    ("phone", "call me", "cal**me"),
    ("phone", 13812341234, "138****1234"),
    ("email", "zhangsan@example.com", "z*******@example.com"),
    ("email", "a@example.com", "*@example.com"),
    ("email", "a.b@c@example.com", "a****@example.com"),
    ("email", "no-at-sign", "no-*****gn"),
    ("name", "张三", "张*"),
    ("name", "欧阳娜娜", "欧***"),
    ("name", "张", "*"),
    ("name", " 李四 ", "李*"),
    ("name", "Zhang San", "Z********"),
    ("national_id", "110101199003071234", "110101********1234"),
    ("national_id", "11010119900307123X", "110101********123X"),
    ("national_id", "110101900307123", "110101******123"),
    ("national_id", "E12345678", "E12****78"),
    ("address", "广东省深圳市南山区科技园路1号", "广东省深圳市*********"),
    ("address", "北京市朝阳区建国路88号", "北京市*********"),
    ("address", "上海浦东新区世纪大道100号", "上海************"),
    ("address", "内蒙古自治区呼和浩特市新城区", "内蒙古自治区呼和浩特市***"),
    ("address", "湖北省恩施土家族苗族自治州恩施市", "湖北省恩施土家族苗族自治州***"),
    ("address", "浙江省杭州", "浙江省**"),
    ("address", "朝阳区建国路市场街1号", "***********"),  # no province/city: nothing kept, not even a street
    ("address", "1 Main Street", "*************"),
    ("generic", "M0012345678", "M00******78"),
    ("generic", "u_1", "***"),
    ("no-such-kind", "secret-value", "sec*******ue"),  # an unknown kind fails closed
]


@pytest.mark.parametrize(("kind", "value", "expected"), CASES)
def test_mask_value(kind: str, value: Any, expected: str) -> None:
    assert mask_value(kind, value) == expected


@pytest.mark.parametrize("kind", ["phone", "email", "name", "national_id", "address", "generic"])
def test_none_empty_and_long_inputs(kind: str) -> None:
    assert mask_value(kind, None) is None
    assert mask_value(kind, "") == ""
    huge = "8" * 1_000_000
    masked = mask_value(kind, huge)
    assert masked is not None and len(masked) <= 40 and "8" * 10 not in masked
    assert mask_value(kind, b"\xff\xfe13812341234") is not None
    assert mask_value(kind, {"nested": [1, 2]}) is not None
    assert mask_value(kind, 3.5) is not None


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_a_value_without_text_is_hidden_not_shown() -> None:
    assert mask_value("name", _Unprintable()) == "***"


MOBILES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(phone=MOBILES, other=st.from_regex(r"[0-9]{4}", fullmatch=True))
def test_phone_mask_never_shows_digits_4_to_7(phone: str, other: str) -> None:
    masked = mask_value("phone", phone)
    assert masked is not None and masked[3:7] == "****"
    assert masked.replace("*", "") == phone[:3] + phone[7:]  # the only digits shown are the kept ones
    assert mask_value("phone", phone[:3] + other + phone[7:]) == masked  # and they say nothing of the middle


@given(local=st.text(st.characters(blacklist_characters="@"), min_size=2, max_size=40),
       other=st.text(st.characters(blacklist_characters="@"), min_size=40, max_size=40),
       domain=st.from_regex(r"[a-z]{1,10}\.(com|cn)", fullmatch=True))
def test_email_mask_depends_only_on_first_letter_length_and_domain(local: str, other: str, domain: str) -> None:
    local = local.strip() or "ab"
    twin = local[0] + other[: len(local) - 1]
    assert mask_value("email", f"{local}@{domain}") == mask_value("email", f"{twin}@{domain}")
    assert str(mask_value("email", f"{local}@{domain}")).endswith("@" + domain)


@given(name=st.text(min_size=2, max_size=30).map(str.strip).filter(lambda s: len(s) >= 2),
       other=st.text(st.characters(categories=["Lo"]), min_size=30, max_size=30))
def test_name_mask_shows_only_the_first_character(name: str, other: str) -> None:
    masked = mask_value("name", name)
    assert masked == name[0] + "*" * min(len(name) - 1, MAX_STARS)
    assert mask_value("name", name[0] + other[: len(name) - 1]) == masked


@given(region=st.from_regex(r"[1-6][0-9]{5}", fullmatch=True), birth=st.dates().map(lambda d: d.strftime("%Y%m%d")),
       birth2=st.dates().map(lambda d: d.strftime("%Y%m%d")), tail=st.from_regex(r"[0-9]{3}[0-9X]", fullmatch=True))
def test_national_id_mask_hides_the_birth_date(region: str, birth: str, birth2: str, tail: str) -> None:
    birth, birth2 = birth.zfill(8)[-8:], birth2.zfill(8)[-8:]
    masked = mask_value("national_id", region + birth + tail)
    assert masked == region + "********" + tail
    assert mask_value("national_id", region + birth2 + tail) == masked


@given(rest=st.text(min_size=1, max_size=30), other=st.text(min_size=30, max_size=30))
def test_address_mask_hides_everything_after_the_city(rest: str, other: str) -> None:
    rest = rest.strip() or "x"
    masked = mask_value("address", "广东省深圳市" + rest)
    assert masked == "广东省深圳市" + "*" * min(len(rest), MAX_STARS)
    assert mask_value("address", "广东省深圳市" + other[: len(rest)].strip().ljust(len(rest), "y")) == masked


@given(value=st.one_of(st.none(), st.text(), st.integers(), st.floats(), st.binary(), st.booleans()),
       kind=st.sampled_from(["phone", "email", "name", "national_id", "address", "generic", "?"]))
def test_masking_never_crashes(value: Any, kind: str) -> None:
    masked = mask_value(kind, value)
    assert (masked is None) == (value is None)


def test_mask_record_by_grant() -> None:
    record = {"one_id": "o_1", "phone": "13812341234", "name": "欧阳娜娜", "tier": "gold",
              "bank_card": "6222020200112233",
              "traits": {"email": "zhangsan@example.com", "city": "深圳", "receiver_mobile": "13900001111"},
              "address": {"province": "广东省", "street": "科技园路1号"}, "phones": None, "tags": ["vip", "new"],
              "favourite_colour": "blue"}
    masked = mask_record(record, may_read_pii=False)
    assert masked == {
        "one_id": "o_1", "phone": "138****1234", "name": "欧***", "tier": "gold", "bank_card": "622***********33",
        "traits": {"email": "z*******@example.com", "city": "深圳", "receiver_mobile": "139****1111"},
        "address": {"province": "广东省", "street": "******"}, "phones": None, "tags": ["vip", "new"],
        "favourite_colour": "blue",
    }
    assert mask_record(record, may_read_pii=True) == record
    assert record["phone"] == "13812341234"  # the caller's record is not changed


def test_mask_record_lists_and_deep_nesting() -> None:
    assert mask_record({"phone": ["13812341234", None, 13900001111]}, may_read_pii=False) == {
        "phone": ["138****1234", None, "139****1111"]}
    deep: dict[str, Any] = {"phone": "13812341234"}
    for _ in range(5000):
        deep = {"x": deep}
    masked = mask_record(deep, may_read_pii=False)
    text = str(masked)
    assert "13812341234" not in text and "***" in text


def test_mask_table() -> None:
    table = pa.table({"one_id": ["o_1", "o_2"], "phone": [13812341234, None],
                      "email": ["zhangsan@example.com", "x@y.cn"], "lifecycle": ["active", "silent"]})
    masked = mask_table(table, may_read_pii=False)
    assert masked.column_names == table.column_names
    assert masked["phone"].type == pa.string()
    assert masked.to_pydict() == {"one_id": ["o_1", "o_2"], "phone": ["138****1234", None],
                                  "email": ["z*******@example.com", "*@y.cn"], "lifecycle": ["active", "silent"]}
    assert mask_table(table, may_read_pii=True) is table
