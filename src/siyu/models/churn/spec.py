"""What a warning model predicts (预测目标): churn early warning (流失预警) or purchase intent (购买意向).

- **Churn** ``churn_N(D)``: the person does nothing of ``silence`` in the N days after the as-of date D,
  i.e. in ``(D, D+N]``: no interaction (default), no order, or neither (``both``).
- **Purchase intent** ``purchase_intent_N(D)``: at least one order in ``(D, D+N]`` (N = 7 by default).
- **Population** (预测人群): persons known by D (any row in ``user_daily`` on or before D) who were active
  (an interaction or an order) in the ``population_days`` days ending at D, i.e. ``(D − population_days, D]``.
  A person already silent is not "about to churn"; ``None`` keeps every person known by D.
- **Baseline** (基线): the recency-only rule the model is compared with in the same run. Churn: days
  since the last interaction (``silence="order"``: since the last order; ``"both"``: since the last
  interaction or order). Intent: minus the days since the last product view, cart add or order. A person
  who never did the thing counts from the first day they were seen.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from siyu.core.errors import SiyuError

Kind = Literal["churn", "purchase_intent"]
Silence = Literal["interaction", "order", "both"]


class Outcome(BaseModel):
    """A prediction target. Build one with :func:`churn_outcome` or :func:`purchase_intent_outcome`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    horizon_days: int = Field(ge=1, le=365)
    silence: Silence = "interaction"
    population_days: int | None = Field(default=30, ge=1, le=3650)

    @property
    def name(self) -> str:
        """``churn_30``, ``purchase_intent_7``: the label's name."""
        return f"{self.kind}_{self.horizon_days}"

    @property
    def baseline_feature(self) -> str:
        """The recency feature the baseline rule reads (see the module doc)."""
        if self.kind == "purchase_intent":
            return "days_since_last_shopping"
        return {"interaction": "days_since_last_interaction", "order": "days_since_last_order",
                "both": "days_since_last_activity"}[self.silence]

    @property
    def baseline_sign(self) -> float:
        """+1 when more days means more of the outcome (churn), −1 when fewer does (intent)."""
        return 1.0 if self.kind == "churn" else -1.0


def _parse(**fields: object) -> Outcome:
    try:
        return Outcome.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"]) or "outcome"
        raise SiyuError(f"{name}: {err['msg']}", code="bad_outcome", input_name=name) from None


def churn_outcome(horizon_days: int = 30, silence: Silence = "interaction",
                  population_days: int | None = 30) -> Outcome:
    """Churn in the next ``horizon_days`` (7 / 14 / 30 in the source reports) among recently active people."""
    return _parse(kind="churn", horizon_days=horizon_days, silence=silence, population_days=population_days)


def purchase_intent_outcome(horizon_days: int = 7, population_days: int | None = 30) -> Outcome:
    """A purchase in the next ``horizon_days`` among people active in the last ``population_days``."""
    return _parse(kind="purchase_intent", horizon_days=horizon_days, population_days=population_days)
