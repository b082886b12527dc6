"""Train the CLV model from the lake, check it on a holdout period, and score every customer.

``train_clv`` fits the purchase model (BG/NBD by default, MBG/NBD as the alternative) and
Gamma-Gamma. With ``holdout_days`` it first fits on the data up to ``as_of − holdout_days`` and
compares its predictions with what customers then did (the evidence recorded with the model), then
refits on everything up to ``as_of`` for scoring. ``score_clv`` writes the table the ``clv_band``
predictive tag reads: ``models/clv_predictions``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from siyu.core.errors import SiyuError
from siyu.models.clv.bgnbd import BetaGeo, ModifiedBetaGeo
from siyu.models.clv.gamma_gamma import GammaGamma
from siyu.models.clv.holdout import holdout_by_frequency, holdout_metrics
from siyu.models.clv.summary import CustomerSummary, customer_summary
from siyu.models.clv.value import ANNUAL_DISCOUNT, DEFAULT_BANDS, clv_bands, customer_lifetime_value

if TYPE_CHECKING:
    from siyu.warehouse.engine import Engine

PURCHASE_MODELS: dict[str, type[BetaGeo] | type[ModifiedBetaGeo]] = {"bg_nbd": BetaGeo, "mbg_nbd": ModifiedBetaGeo}


class ClvConfig(BaseModel):
    """How the CLV model is trained and what it reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purchase_model: Literal["bg_nbd", "mbg_nbd"] = "bg_nbd"
    horizon_months: int = Field(default=12, ge=1, le=120)
    annual_discount: float = Field(default=ANNUAL_DISCOUNT, ge=0, lt=10)
    #: days at the end held out to check the fit (0: no check)
    holdout_days: int = Field(default=90, ge=0, le=730)
    #: fit only on people whose first paid order in the lake is on/after this day (see customer_summary)
    first_purchase_from: date | None = None
    bands: tuple[tuple[str, float], ...] = DEFAULT_BANDS


@dataclass
class ClvModel:
    """A purchase model and a spend model fitted together, with the evidence of the fit."""

    purchases: BetaGeo | ModifiedBetaGeo
    spend: GammaGamma
    config: ClvConfig
    as_of: date
    metrics: dict[str, float] = field(default_factory=dict)
    holdout: list[dict[str, Any]] = field(default_factory=list)

    name = "clv"

    @property
    def params(self) -> dict[str, Any]:
        return {"purchase_model": self.config.purchase_model, **self.purchases.params, **self.spend.params,
                "horizon_months": self.config.horizon_months, "annual_discount": self.config.annual_discount}

    def score(self, summary: CustomerSummary) -> pa.Table:
        """One row per customer: P(alive), expected purchases, expected order value, CLV and its band."""
        x, t_x, T, m = summary.frequency, summary.recency, summary.T, summary.monetary
        clv = customer_lifetime_value(self.purchases, self.spend, x, t_x, T, m, months=self.config.horizon_months,
                                      annual_discount=self.config.annual_discount)
        return pa.table({
            "one_id": pa.array(summary.one_id, pa.string()),
            "frequency": pa.array(x, pa.float64()), "recency": pa.array(t_x, pa.float64()),
            "T": pa.array(T, pa.float64()),
            "monetary": pa.array(np.where(np.isfinite(m), m, np.nan), pa.float64(), from_pandas=True),
            "p_alive": pa.array(self.purchases.probability_alive(x, t_x, T), pa.float64()),
            "expected_purchases_30d": pa.array(self.purchases.expected_purchases(30.0, x, t_x, T), pa.float64()),
            "expected_purchases_90d": pa.array(self.purchases.expected_purchases(90.0, x, t_x, T), pa.float64()),
            "expected_order_value": pa.array(self.spend.expected_order_value(x, m), pa.float64()),
            f"clv_{self.config.horizon_months}m": pa.array(clv, pa.float64()),
            "clv_band": pa.array(clv_bands(clv, self.config.bands), pa.string()),
            "as_of": pa.array([self.as_of] * len(summary), pa.date32()),
        })

    def save(self, folder: Path) -> None:
        self.purchases.save(folder / "purchases")
        self.spend.save(folder / "spend")
        doc = {"config": self.config.model_dump(mode="json"), "as_of": self.as_of.isoformat(),
               "metrics": self.metrics, "holdout": self.holdout}
        (folder / "clv.json").write_text(json.dumps(doc, indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Self:
        doc = json.loads((folder / "clv.json").read_text(encoding="utf-8"))
        config = ClvConfig.model_validate(doc["config"])
        purchases = PURCHASE_MODELS[config.purchase_model].load(folder / "purchases")
        return cls(purchases=purchases, spend=GammaGamma.load(folder / "spend"), config=config,
                   as_of=date.fromisoformat(doc["as_of"]), metrics=doc["metrics"], holdout=doc["holdout"])


def _fit(summary: CustomerSummary, config: ClvConfig) -> tuple[BetaGeo | ModifiedBetaGeo, GammaGamma]:
    purchases = PURCHASE_MODELS[config.purchase_model]().fit(summary.frequency, summary.recency, summary.T)
    spend = GammaGamma().fit(summary.frequency, summary.monetary)
    return purchases, spend


def train_clv(engine: Engine, as_of: date, config: ClvConfig | None = None) -> ClvModel:
    """Fit on the lake's paid orders up to ``as_of`` (after a holdout check when ``holdout_days`` > 0)."""
    config = config or ClvConfig()
    metrics: dict[str, float] = {}
    holdout: list[dict[str, Any]] = []
    if config.holdout_days:
        calibration_end = as_of - timedelta(days=config.holdout_days)
        cal = customer_summary(engine, calibration_end, holdout_end=as_of,
                               first_purchase_from=config.first_purchase_from)
        cal_purchases, _ = _fit(cal, config)
        metrics.update(holdout_metrics(cal_purchases, cal))
        holdout = holdout_by_frequency(cal_purchases, cal).to_pylist()
    summary = customer_summary(engine, as_of, first_purchase_from=config.first_purchase_from)
    purchases, spend = _fit(summary, config)
    if not purchases.fit_result or not purchases.fit_result.converged:
        raise SiyuError(f"{config.purchase_model} did not converge on {len(summary)} customers", code="fit_failed")
    metrics.update({f"purchases_{k}": v for k, v in purchases.metrics.items()})
    metrics.update({f"spend_{k}": v for k, v in spend.metrics.items()})
    return ClvModel(purchases=purchases, spend=spend, config=config, as_of=as_of, metrics=metrics, holdout=holdout)


def score_clv(engine: Engine, model: ClvModel, as_of: date | None = None) -> pa.Table:
    """Score every customer with a paid order up to ``as_of`` (default: the model's own as-of day), including
    those left out of the fit by ``first_purchase_from``."""
    day = as_of or model.as_of
    return model.score(customer_summary(engine, day))
