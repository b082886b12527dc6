"""Data classes (数据分级): the issue's PII is sensitive, unknown fields are internal, each class has its rule."""

from __future__ import annotations

import pytest

from siyu.api.auth import PERMISSIONS, Permission
from siyu.core.config import Settings
from siyu.privacy.classification import (
    FIELDS,
    MAX_PII_READERS,
    PII_READ_GRANT,
    RULES,
    DataClass,
    ExportRule,
    PiiKind,
    classify,
    field_class,
)
from siyu.serving.lookup import PII_FIELDS


@pytest.mark.parametrize(("field", "kind"), [
    ("phone", PiiKind.PHONE), ("name", PiiKind.NAME), ("national_id", PiiKind.NATIONAL_ID),
    ("address", PiiKind.ADDRESS), ("email", PiiKind.EMAIL),
    ("mobile", PiiKind.PHONE), ("id_card", PiiKind.NATIONAL_ID), ("receiver_address", PiiKind.ADDRESS),
    ("PHONE", PiiKind.PHONE), (" Email ", PiiKind.EMAIL),
])
def test_the_issues_pii_is_sensitive(field: str, kind: PiiKind) -> None:
    assert classify(field) is DataClass.SENSITIVE
    assert field_class(field).kind is kind


@pytest.mark.parametrize(("field", "expected"), [
    ("one_id", DataClass.INTERNAL), ("tags", DataClass.INTERNAL), ("lifecycle", DataClass.INTERNAL),
    ("favourite_colour", DataClass.INTERNAL), ("", DataClass.INTERNAL), ("email_verified", DataClass.INTERNAL),
    ("receiver_mobile", DataClass.SENSITIVE), ("contact_tel", DataClass.SENSITIVE),
    ("ship_address", DataClass.SENSITIVE),
    ("bank_card", DataClass.CORE), ("face_image", DataClass.CORE), ("latitude", DataClass.CORE),
    ("sku", DataClass.PUBLIC), ("event_type", DataClass.PUBLIC),
])
def test_classify(field: str, expected: DataClass) -> None:
    assert classify(field) is expected


def test_unknown_and_odd_fields_are_internal() -> None:
    assert classify("no_such_field_anywhere") is DataClass.INTERNAL
    assert classify(None) is DataClass.INTERNAL  # type: ignore[arg-type]


def test_every_class_has_its_rule_and_chinese_name() -> None:
    assert set(RULES) == set(DataClass)
    assert [c.label_zh for c in DataClass] == ["公开", "内部", "敏感", "核心"]
    public, internal, sensitive, core = (c.rule for c in DataClass)
    assert not public.encrypted_at_rest and not public.masked_without_grant and public.exportable
    assert not internal.masked_without_grant
    assert sensitive.encrypted_at_rest and sensitive.masked_without_grant
    assert sensitive.third_party_export is ExportRule.MASKED
    assert core.encrypted_at_rest and core.masked_without_grant and not core.exportable


def test_every_masked_field_says_how_to_mask_it() -> None:
    for name, spec in FIELDS.items():
        assert name == name.strip().lower()
        assert (spec.kind is not None) == spec.data_class.rule.masked_without_grant, name


def test_nothing_the_api_masks_today_is_classed_lower() -> None:
    for name in PII_FIELDS:
        assert classify(name).rule.masked_without_grant, name


def test_the_pii_grant_is_the_apis_and_held_by_few() -> None:
    assert Permission.READ_PII.value == PII_READ_GRANT
    assert MAX_PII_READERS <= 10
    assert Settings.model_fields["max_pii_keys"].default == MAX_PII_READERS  # the cap keys enforce
    assert len(PERMISSIONS[Permission.READ_PII]) <= len(PERMISSIONS[Permission.READ_PROFILES])
