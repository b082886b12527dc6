"""Typed settings for the profile facts: RFM, lifecycle stages and member tiers (profile.yaml)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siyu.profile.definitions import load_yaml_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RFMConfig(_Strict):
    """RFM (最近一次消费 / 消费频率 / 消费金额) over orders in the last ``window_days``."""

    window_days: int = Field(default=365, ge=1, le=3650, description="Orders counted: the last N days up to as_of.")
    method: Literal["quantile", "fixed"] = Field(default="quantile", description="Quantile or fixed thresholds.")
    bins: int = Field(default=5, ge=2, le=10, description="Scores run 1..bins; higher is better on every axis.")
    recency_days: list[int] = Field(
        default=[30, 60, 90, 180], description="fixed method: recency cut points in days, ascending.")
    frequency: list[int] = Field(default=[2, 3, 5, 8], description="fixed method: order-count cut points, ascending.")
    monetary: list[Decimal] = Field(
        default=[Decimal(200), Decimal(500), Decimal(1000), Decimal(3000)],
        description="fixed method: CNY cut points, ascending.")
    split: Literal["mean_score", "score_threshold"] = Field(
        default="mean_score", description="High vs low per axis: above the buyers' mean score, or score >= high_score.")
    high_score: int = Field(default=3, ge=1, description="score_threshold split: the lowest 'high' score.")

    @model_validator(mode="after")
    def _cuts_fit_bins(self) -> RFMConfig:
        if self.method == "fixed":
            for name in ("recency_days", "frequency", "monetary"):
                cuts = getattr(self, name)
                if len(cuts) != self.bins - 1:
                    raise ValueError(f"{name} needs bins-1 = {self.bins - 1} cut points, got {len(cuts)}")
                if list(cuts) != sorted(cuts):
                    raise ValueError(f"{name} cut points must be ascending")
        return self


class LifecycleConfig(_Strict):
    """Lifecycle stages (生命周期): potential 潜在 · new 新 · active 活跃 · silent 沉默 · churned 流失."""

    silent_days: int = Field(default=30, ge=1, description="No interaction or order for this many days → silent.")
    churned_days: int = Field(default=90, ge=2, description="No interaction or order for this many days → churned.")
    new_days: int = Field(default=30, ge=1, description="First order within this many days → new.")
    high_frequency_per_week: int = Field(default=3, ge=1, description="Interactions in the last 7 days for 'high'.")

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        if self.churned_days <= self.silent_days:
            raise ValueError("churned_days must be greater than silent_days")
        return self


class TierLevel(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    name_zh: str = Field(min_length=1, max_length=16)
    min_spend: Decimal = Field(ge=0)
    min_orders: int = Field(ge=0)


class TierConfig(_Strict):
    """Member tiers (会员等级): the highest level whose spend AND order thresholds are both met."""

    window_days: int = Field(default=365, ge=1, le=3650)
    levels: list[TierLevel] = Field(default_factory=lambda: [
        TierLevel(name="bronze", name_zh="铜", min_spend=Decimal(0), min_orders=0),
        TierLevel(name="silver", name_zh="银", min_spend=Decimal(500), min_orders=2),
        TierLevel(name="gold", name_zh="金", min_spend=Decimal(2000), min_orders=4),
        TierLevel(name="diamond", name_zh="钻石", min_spend=Decimal(5000), min_orders=8),
    ], min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ascending(self) -> TierConfig:
        lv = self.levels
        if lv[0].min_spend != 0 or lv[0].min_orders != 0:
            raise ValueError("the first level is the entry level: min_spend and min_orders must be 0")
        for a, b in pairwise(lv):
            if b.min_spend < a.min_spend or b.min_orders < a.min_orders or (a.min_spend, a.min_orders) == (
                    b.min_spend, b.min_orders):
                raise ValueError(f"level {b.name!r} must need more than {a.name!r}")
        if len({x.name for x in lv}) != len(lv):
            raise ValueError("level names must be unique")
        return self


class ProfileConfig(_Strict):
    """Everything ``profile.yaml`` may set; every field has the source reports' default."""

    rfm: RFMConfig = Field(default_factory=RFMConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    tiers: TierConfig = Field(default_factory=TierConfig)


def load_profile_config(path: Path | None) -> ProfileConfig:
    """Read ``profile.yaml``; errors name the file, the line and the field."""
    if path is None:
        return ProfileConfig()
    return load_yaml_model(path, ProfileConfig)
