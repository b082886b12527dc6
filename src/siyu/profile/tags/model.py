"""Tag definitions as code (标签定义): the YAML shape, its JSON Schema, and loading a folder of files.

A file holds ``tags: [...]``; each tag has a kind (how it is computed) and a matrix category (what it
describes, after the source reports: basic 基础 / behavioural 行为 / predictive 预测 / derived 衍生),
an owner, a description, a refresh cadence and a version. Names are unique across the folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siyu.profile.definitions import DefinitionError, read_yaml, validate_data

TAG_NAME = r"^[a-z][a-z0-9_]{0,62}$"
MAX_TAGS = 5000


class TagCategory(StrEnum):
    BASIC = "basic"
    BEHAVIOURAL = "behavioural"
    PREDICTIVE = "predictive"
    DERIVED = "derived"


class Refresh(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class _Tag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TAG_NAME, description="Stable key used in rules: has_tag(\"name\").")
    name_zh: str = Field(min_length=1, max_length=64, description="中文名, shown to ops users.")
    category: TagCategory = Field(description="Tag matrix: basic / behavioural / predictive / derived.")
    owner: str = Field(min_length=1, max_length=128, description="Who answers for this tag (team or person).")
    description: str = Field(min_length=1, max_length=2000)
    refresh: Refresh = Refresh.DAILY
    version: int = Field(1, ge=1, description="Bump when the definition changes meaning.")


class RuleTag(_Tag):
    """Everyone the rule selects has the tag (value ``true``); e.g. 健身达人 = viewed sports 3+ times in 30 days."""

    kind: Literal["rule"]
    rule: str | dict[str, Any] = Field(description="Segment rule language, text or JSON form.")


class StatisticalTag(_Tag):
    """A value computed by a registered statistic (spending capacity, price sensitivity, …)."""

    kind: Literal["statistical"]
    statistic: str = Field(pattern=TAG_NAME, description="lookup name in siyu.profile.statistics")
    params: dict[str, Any] = Field(default_factory=dict)


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, max_length=64)
    min: float = Field(description="Lowest score (inclusive) that gets this value.")


def _bands_descending(bands: list[Band]) -> list[Band]:
    if [b.min for b in bands] != sorted((b.min for b in bands), reverse=True):
        raise ValueError("bands must be listed from the highest min to the lowest")
    if len({b.value for b in bands}) != len(bands):
        raise ValueError("band values must be unique")
    return bands


class PredictionSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(pattern=r"^(ads|models)/[a-z][a-z0-9_]{0,62}$",
                       description="Lake table with one row per one_id, e.g. models/churn_predictions.")
    column: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Numeric score column.")


class PredictiveTag(_Tag):
    """Bound to a model's output table; banded into values. Pending until the model has written it."""

    kind: Literal["predictive"]
    source: PredictionSource
    bands: list[Band] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _check(self) -> PredictiveTag:
        _bands_descending(self.bands)
        return self


class CompositeTag(_Tag):
    """A weighted score over other tags' scores (rule tags score 1), weights chosen per business goal.

    score = Σ wᵢ·sᵢ / Σ wᵢ over the goal's weights; a person without an input tag scores 0 on it.
    """

    kind: Literal["composite"]
    weights: dict[str, dict[str, float]] = Field(
        description="goal → {tag name → weight}; a 'default' goal is required.", min_length=1)
    bands: list[Band] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _check(self) -> CompositeTag:
        if "default" not in self.weights:
            raise ValueError("weights needs a 'default' goal")
        for goal, ws in self.weights.items():
            if not ws:
                raise ValueError(f"goal {goal!r} has no weights")
            if any(w < 0 for w in ws.values()):
                raise ValueError(f"goal {goal!r}: weights must not be negative")
            if sum(ws.values()) <= 0:
                raise ValueError(f"goal {goal!r}: weights sum to 0, the score would divide by zero")
        _bands_descending(self.bands)
        return self

    def inputs(self) -> set[str]:
        return {t for ws in self.weights.values() for t in ws}


TagDefinition = Annotated[RuleTag | StatisticalTag | PredictiveTag | CompositeTag, Field(discriminator="kind")]


class TagFile(BaseModel):
    """One YAML file: ``tags: [...]``."""

    model_config = ConfigDict(extra="forbid")

    tags: list[TagDefinition] = Field(max_length=MAX_TAGS)


def definition_hash(tag: BaseModel) -> str:
    """Content hash of a definition, to catch a meaning change without a version bump."""
    body = json.dumps(tag.model_dump(mode="json", exclude={"version"}), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def tag_json_schema() -> dict[str, Any]:
    """The JSON Schema editors and CI use to check tag files (``siyu tags schema``)."""
    return TagFile.model_json_schema()


def _files(folder: Path) -> Iterator[Path]:
    if folder.is_file():
        yield folder
        return
    if not folder.is_dir():
        raise DefinitionError("no such folder", file=str(folder))
    yield from sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_tag_definitions(folder: Path) -> dict[str, TagDefinition]:
    """Every tag in ``folder`` (recursively), checked; names must be unique across files."""
    found: dict[str, TagDefinition] = {}
    where: dict[str, str] = {}
    for path in _files(folder):
        data, node = read_yaml(path)
        parsed = validate_data({} if data is None else data, TagFile, name=str(path), node=node)
        for i, tag in enumerate(parsed.tags):
            if tag.name in found:
                raise DefinitionError(f"tag {tag.name!r} is already defined in {where[tag.name]}",
                                      file=str(path), field=f"tags[{i}].name")
            found[tag.name] = tag
            where[tag.name] = str(path)
    if len(found) > MAX_TAGS:
        raise DefinitionError(f"{len(found)} tags; the limit is {MAX_TAGS}", file=str(folder))
    return found
