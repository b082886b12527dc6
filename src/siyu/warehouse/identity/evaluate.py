"""Pairwise precision and recall of a OneID resolution against a known truth.

Two identifiers form a *pair* when they belong to the same person. Precision is the share of
predicted pairs (same one_id) that are true pairs (same person); recall is the share of true pairs
that were predicted. Counting pairs per cluster keeps this linear in the number of identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from siyu.core.identifiers import BadIdentifier, stored_value


@dataclass(frozen=True)
class PairwiseScore:
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    identifiers_evaluated: int
    identifiers_missing: int
    persons: int
    one_ids: int


def _pairs(table: pa.Table, keys: list[str]) -> int:
    counts = table.group_by(keys).aggregate([([], "count_all")])["count_all"].to_numpy().astype("int64")
    return int((counts * (counts - 1) // 2).sum())


def pairwise_score(id_map: pa.Table, truth: pa.Table) -> PairwiseScore:
    """``id_map`` (identifier_type, identifier_value, one_id) vs ``truth`` (…, person_id, plaintext values).

    Truth values are canonical plaintext; they are hashed like the lake stores them before joining.
    Identifiers with no person (shared devices) are left out of the pairs.
    """
    truth = truth.filter(pc.is_valid(truth["person_id"]))
    stored: list[str | None] = []
    for kind, value in zip(truth["identifier_type"].to_pylist(), truth["identifier_value"].to_pylist(), strict=True):
        try:
            stored.append(stored_value(kind, value))
        except BadIdentifier:
            stored.append(None)
    truth = truth.set_column(truth.schema.get_field_index("identifier_value"), "identifier_value",
                             pa.array(stored, pa.string()))
    joined = truth.join(id_map.select(["identifier_type", "identifier_value", "one_id"]),
                        keys=["identifier_type", "identifier_value"], join_type="left outer")
    missing = joined.filter(pc.is_null(joined["one_id"])).num_rows
    both = joined.filter(pc.is_valid(joined["one_id"]))
    true_pairs = _pairs(both, ["person_id"])
    predicted = _pairs(both, ["one_id"])
    correct = _pairs(both, ["one_id", "person_id"])
    return PairwiseScore(
        precision=correct / predicted if predicted else 1.0,
        recall=correct / true_pairs if true_pairs else 1.0,
        true_pairs=true_pairs, predicted_pairs=predicted, correct_pairs=correct,
        identifiers_evaluated=both.num_rows, identifiers_missing=missing,
        persons=len(pc.unique(both["person_id"])), one_ids=len(pc.unique(both["one_id"])),
    )
