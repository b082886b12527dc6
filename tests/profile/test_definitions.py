"""Definition files: a bad file names the file, the line and the field, and says what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.profile.config import load_profile_config
from siyu.profile.definitions import DefinitionError
from siyu.profile.tags.model import CompositeTag, load_tag_definitions, tag_json_schema

GOOD = """\
tags:
  - name: big_spender
    name_zh: 大客户
    kind: rule
    category: derived
    owner: crm
    description: spends a lot
    rule: 'order_sum(last 365d) >= 3000'
"""


def _write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, line, field, message", [
    (GOOD.replace("kind: rule", "kind: rulez"), 4, "tags[0].kind", "rulez"),
    (GOOD.replace("    owner: crm\n", ""), 2, "tags[0]", "owner"),
    (GOOD.replace("name: big_spender", "name: Big Spender"), 2, "tags[0].name", "does not match"),
    (GOOD + "    colour: red\n", 2, "tags[0]", "colour"),
    (GOOD.replace("category: derived", "category: [derived"), None, None, "YAML syntax"),
    ("tags:\n  - &a {name: x}\n  - *a\n", 2, None, "anchors and aliases"),
    ("- just\n- a list\n", 1, "(top level)", "not of type 'object'"),
])
def test_bad_tag_files_point_at_the_line(tmp_path: Path, text: str, line: int | None, field: str | None,
                                         message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DefinitionError) as err:
        load_tag_definitions(path)
    e = err.value
    assert e.file == str(path)
    assert message in str(e)
    if line is not None:
        assert e.line == line, str(e)
    if field is not None:
        assert e.field == field, str(e)


def test_not_utf8_and_too_big(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_tag_definitions(_bytes(tmp_path, GOOD.encode("gb18030")))
    with pytest.raises(DefinitionError, match="limit"):
        load_tag_definitions(_bytes(tmp_path, b"#" * 2_000_000))


def _bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "b.yaml"
    path.write_bytes(data)
    return path


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "a.yaml")
    _write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(DefinitionError, match=r"already defined in .*a\.yaml"):
        load_tag_definitions(tmp_path)


def test_composite_weights_that_divide_by_zero_are_rejected(tmp_path: Path) -> None:
    text = """\
tags:
  - name: score
    name_zh: 综合分
    kind: composite
    category: derived
    owner: crm
    description: d
    weights: {default: {a: 0, b: 0}}
    bands: [{value: high, min: 0.5}, {value: low, min: 0}]
"""
    with pytest.raises(DefinitionError, match="divide by zero") as err:
        load_tag_definitions(_write(tmp_path, text))
    assert err.value.line == 2 and err.value.field == "tags[0]"


def test_good_file_and_schema(tmp_path: Path) -> None:
    tags = load_tag_definitions(_write(tmp_path, GOOD))
    assert tags["big_spender"].name_zh == "大客户"
    assert tag_json_schema()["properties"]["tags"]["type"] == "array"
    assert CompositeTag.__name__ in str(tag_json_schema())


def test_the_shipped_example_tags_load() -> None:
    from siyu.cli.profile_cmds import default_tag_defs

    tags = load_tag_definitions(default_tag_defs())
    assert len(tags) >= 20
    assert {t.kind for t in tags.values()} == {"rule", "statistical", "predictive", "composite"}


def test_profile_config_errors_name_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "rfm:\n  window_days: 365\nlifecycle:\n  silent_days: 30\n  churned_days: 20\n",
                  "profile.yaml")
    with pytest.raises(DefinitionError, match="churned_days must be greater") as err:
        load_profile_config(path)
    assert err.value.line == 4 and err.value.field == "lifecycle"
    assert load_profile_config(_write(tmp_path, "rfm: {bins: 4, method: quantile}\n", "p2.yaml")).rfm.bins == 4


@pytest.mark.parametrize("patch, message", [
    ({"name": "x; DROP TABLE profile"}, "does not match"),
    ({"kind": "predictive", "source": {"table": "models/p", "column": 'x" FROM profile; --'},
      "bands": [{"value": "a", "min": 0}]}, "does not match"),
    ({"kind": "predictive", "source": {"table": "../../etc/passwd", "column": "x"},
      "bands": [{"value": "a", "min": 0}]}, "does not match"),
    ({"kind": "statistical", "statistic": "spending_capacity; --"}, "does not match"),
])
def test_hostile_tag_definitions_are_refused(tmp_path: Path, patch: dict[str, object], message: str) -> None:
    import yaml

    tag = {"name": "t", "name_zh": "t", "kind": "rule", "category": "derived", "owner": "o", "description": "d",
           "rule": "orders > 0", **patch}
    if tag["kind"] != "rule":
        tag.pop("rule")
    with pytest.raises(DefinitionError, match=message):
        load_tag_definitions(_write(tmp_path, yaml.safe_dump({"tags": [tag]}, allow_unicode=True)))


def test_hostile_rule_in_a_tag_is_refused_before_any_sql(tmp_path: Path) -> None:
    from siyu.profile.rules.schema import DEFAULT_SCHEMA
    from siyu.profile.tags.plan import TagPlanError, check_definitions

    text = GOOD.replace("'order_sum(last 365d) >= 3000'", "'orders > 0; DROP TABLE profile'")
    with pytest.raises(TagPlanError, match="big_spender"):
        check_definitions(load_tag_definitions(_write(tmp_path, text)), DEFAULT_SCHEMA)
    deep = GOOD.replace("'order_sum(last 365d) >= 3000'", "'" + "(" * 10_000 + "orders > 0" + ")" * 10_000 + "'")
    with pytest.raises(TagPlanError, match=r"too_deep|nest"):
        check_definitions(load_tag_definitions(_write(tmp_path, deep)), DEFAULT_SCHEMA)


def test_tags_that_read_each_other_in_a_cycle_are_refused(tmp_path: Path) -> None:
    from siyu.profile.rules.schema import DEFAULT_SCHEMA
    from siyu.profile.tags.plan import TagPlanError, check_definitions

    text = (GOOD.replace("'order_sum(last 365d) >= 3000'", "'has_tag(\"b\")'").replace("big_spender", "a")
            + GOOD.replace("'order_sum(last 365d) >= 3000'", "'has_tag(\"a\")'").replace("big_spender", "b")
            .replace("tags:\n", ""))
    with pytest.raises(TagPlanError, match="cycle"):
        check_definitions(load_tag_definitions(_write(tmp_path, text)), DEFAULT_SCHEMA)
