"""The naive baseline (朴素基线) every warning model is measured against in the same run: recency alone.

Churn: the more days since the person last interacted (or ordered, per the outcome's ``silence``), the
likelier they churn. Intent: the fewer days since the last product view, cart add or order, the likelier
they buy. A person who never did the thing counts from the first day they were seen (``tenure_days + 1``).
The baseline is calibrated by the same procedure as the model, so Brier scores compare like with like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from siyu.models.churn.spec import Outcome


def baseline_score(frame: pd.DataFrame, outcome: Outcome) -> np.ndarray:
    """The recency rule's score per row (higher = more of the outcome), from the feature columns."""
    days = frame[outcome.baseline_feature].astype("float64")
    days = days.fillna(frame["tenure_days"].astype("float64") + 1)
    return outcome.baseline_sign * days.to_numpy(dtype=np.float64)
