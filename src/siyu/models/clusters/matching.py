"""Stable cluster ids across retrains (分群编号稳定): match new centroids to the previous model's.

K-means numbers its clusters arbitrarily, so a retrain would shuffle ids and names under the ops team's
feet. Instead, the previous model's centroids are expressed in the new model's standardised space and
paired with the new centroids by the assignment that minimises the total Euclidean distance (the
Hungarian method, Kuhn 1955, via ``scipy.optimize.linear_sum_assignment``). A pair further apart than
``max_distance`` standard deviations is not a match: the new cluster is new and gets a new id.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def centroid_distances(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Euclidean distance of every new centroid (row) to every old centroid (column)."""
    return np.sqrt(((new[:, None, :] - old[None, :, :]) ** 2).sum(axis=2))


def match_centroids(new: np.ndarray, old: np.ndarray, max_distance: float | None) -> dict[int, int]:
    """``{new row: old row}`` for the minimum-total-distance pairing, keeping pairs within ``max_distance``.

    With more new than old clusters some new ones stay unmatched (and the reverse), as
    ``linear_sum_assignment`` pairs min(k_new, k_old) rows on a rectangular cost matrix.
    """
    if not len(new) or not len(old):
        return {}
    cost = centroid_distances(new, old)
    rows, cols = linear_sum_assignment(cost)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True)
            if max_distance is None or cost[r, c] <= max_distance}
