"""k-anonymous exports for third parties (k-匿名): generalise quasi-identifiers until every row hides in a crowd.

A table is *k*-anonymous over its quasi-identifiers (准标识符: age, region, gender, …) when every
combination of their values that appears at all appears in at least *k* rows (Sweeney 2002a), so a
third party who knows someone's age, city and gender can narrow them down to no fewer than *k* rows.

**Algorithm: optimal full-domain generalisation with suppression** (Samarati 2001; Sweeney 2002b's
MinGen; LeFevre, DeWitt & Ramakrishnan 2005's Incognito frequency sets). Every quasi-identifier has a
hierarchy (``siyu.privacy.hierarchies``); a *node* of the lattice picks one level per quasi-identifier
and recodes the whole column at that level. At a node, rows whose equivalence class (rows with equal
generalised values) is smaller than *k* may be suppressed — dropped — if they are at most
``max_suppression`` of the rows (Samarati's MaxSup). Among the nodes that reach *k* this way we take
the one with the least information loss, measured by Sweeney's precision (2002b, §4):

    loss = Σ_rows Σ_qi level_qi / height_qi / (rows · qis),  a suppressed row counting as fully generalised,

i.e. ``1 − Prec``: 0 releases everything as is, 1 releases nothing. Ties go to fewer suppressed rows,
then to the lower discernibility (Bayardo & Agrawal 2005), then to the lower levels. The search is
exhaustive but cheap: (1) the table is reduced once to its frequency set — distinct combinations of
the quasi-identifiers with their counts — and every node is a roll-up of it in numpy (Incognito's
observation); (2) nodes are visited in order of their generalisation cost *g* = Σ level/height / qis,
and since ``loss ≥ g`` the walk stops as soon as *g* exceeds the best loss found (branch and bound).
Why this one rather than Datafly's greedy walk: its answer is the optimum of a stated measure, it is
deterministic, and a person can check it by hand on a small table (the tests do, on Sweeney's).

Reported: the achieved *k* (the smallest class after suppression), the level chosen per
quasi-identifier, rows suppressed, the loss above, the discernibility metric and the normalised
average class size ``C_avg`` (LeFevre et al. 2006). The output is re-counted before it is returned;
if it were not *k*-anonymous the call fails rather than hand it out.

Only declared columns leave: the quasi-identifiers (generalised) and the ``keep`` columns (as is).
Direct identifiers are refused by name and by value — see :func:`direct_identifier_reason`.

References: P. Samarati, "Protecting respondents' identities in microdata release", IEEE TKDE 13(6),
2001. L. Sweeney, "k-anonymity: a model for protecting privacy" and "Achieving k-anonymity privacy
protection using generalization and suppression", IJUFKS 10(5), 2002. K. LeFevre, D. DeWitt,
R. Ramakrishnan, "Incognito: efficient full-domain k-anonymity", SIGMOD 2005; "Mondrian
multidimensional k-anonymity", ICDE 2006. R. Bayardo, R. Agrawal, "Data privacy through optimal
k-anonymization", ICDE 2005.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siyu.core.errors import SiyuError, ValidationFailed
from siyu.privacy.classification import DataClass, PiiKind, field_class
from siyu.privacy.hierarchies import BadHierarchy, Hierarchy, HierarchySpec, resolve_hierarchy

#: siyu's own person keys and other join keys: pseudonyms, but a third party holding one can link rows
#: back to a person across exports, so they never leave in a k-anonymous export.
PERSON_KEYS = frozenset({
    "one_id", "user_id", "anonymous_id", "device_id", "member_no", "unionid", "openid", "wecom_external_userid",
    "external_userid", "phone_token", "email_token", "order_id", "wechat_id", "会员号", "姓名", "手机号", "身份证号",
})
#: Personal kinds (``siyu.privacy.classification``) that name a person directly.
_DIRECT_KINDS = frozenset({PiiKind.PHONE, PiiKind.EMAIL, PiiKind.NAME, PiiKind.NATIONAL_ID, PiiKind.ADDRESS})
#: Sensitive fields that are quasi-identifiers rather than identifiers: allowed as one, then generalised.
_QUASI_SENSITIVE = frozenset({"birthday", "birth_date"})
#: Names that are quasi-identifiers: as a ``keep`` column they would leak as is, so they must be declared.
_QUASI_NAMES = frozenset({"age", "age_band", "gender", "sex", "region", "province", "city", "district", "zip",
                          "postcode", "postal_code", "birthday", "birth_date", "年龄", "性别", "省份", "城市"})
#: A value that is one of siyu's keyed phone/email tokens (``siyu.core.identifiers.keyed_hash``).
_TOKEN = re.compile(r"^(ph|em)_[0-9a-f]{32}$")
_TOKEN_SAMPLE = 1000
#: The lattice is enumerated; beyond this many nodes ask for fewer quasi-identifiers or shallower hierarchies.
MAX_LATTICE_NODES = 1_000_000


class KAnonymityUnreachable(SiyuError):
    """No allowed generalisation reaches *k* within the suppression budget; says what the best one gets."""

    code = "k_anonymity_unreachable"

    def __init__(self, message: str, *, best_levels: Mapping[str, int], rows_to_suppress: int,
                 smallest_class: int) -> None:
        super().__init__(message)
        self.best_levels = dict(best_levels)
        self.rows_to_suppress, self.smallest_class = rows_to_suppress, smallest_class


@dataclass(frozen=True)
class AnonymizedExport:
    """A k-anonymous table and how it was made.

    ``loss`` is Sweeney's ``1 − precision`` (0 = nothing generalised, 1 = nothing said);
    ``discernibility`` is Σ|class|² + suppressed · rows; ``normalised_avg_class_size`` is
    kept rows / classes / k (1 is ideal).
    """

    table: pa.Table
    k_requested: int
    k_achieved: int
    levels: dict[str, int]
    level_names: dict[str, str]
    suppressed: int
    loss: float
    discernibility: int
    normalised_avg_class_size: float
    classes: int
    rows_in: int
    nodes_evaluated: int = field(default=0, compare=False)

    def report(self) -> dict[str, Any]:
        """Everything but the table, as plain data for an audit record or an API response."""
        return {"k_requested": self.k_requested, "k_achieved": self.k_achieved, "levels": self.levels,
                "level_names": self.level_names, "rows_in": self.rows_in, "rows_out": self.table.num_rows,
                "suppressed": self.suppressed, "loss": self.loss, "discernibility": self.discernibility,
                "normalised_avg_class_size": self.normalised_avg_class_size, "classes": self.classes}


def direct_identifier_reason(column: pa.ChunkedArray | pa.Array | None, name: str, *,
                             as_quasi_identifier: bool = False) -> str | None:
    """Why ``name`` may not appear in a third-party export, or ``None`` when it may.

    Refused: siyu's person keys (:data:`PERSON_KEYS`: one_id, user_id, member_no, unionid, openid,
    phone_token, order_id, …); fields ``siyu.privacy.classification`` classes as phone, email, name,
    national id or address, and every *core* field; and any string column whose values are siyu's
    keyed phone/email tokens (``ph_…``/``em_…``), whatever it is called. Birth dates are accepted as a
    quasi-identifier (they get generalised) but not as a ``keep`` column.
    """
    lower = name.strip().lower()
    if lower in PERSON_KEYS or lower.startswith("id_"):
        return "a person key (it links the export back to a person)"
    known = field_class(name)
    if known.data_class is DataClass.CORE:
        return "core personal information (PIPL art. 28); it never leaves"
    if known.kind in _DIRECT_KINDS:
        return f"a direct identifier ({known.kind.value})"
    if known.data_class is DataClass.SENSITIVE and not (as_quasi_identifier and lower in _QUASI_SENSITIVE):
        return "sensitive personal information"
    if column is not None and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        sample = pc.drop_null(column.slice(0, _TOKEN_SAMPLE)).to_pylist()
        if any(_TOKEN.match(v) for v in sample):
            return "its values are keyed phone/email tokens"
    return None


def _check_columns(table: pa.Table, quasi_identifiers: Sequence[str], keep: Sequence[str]) -> list[str]:
    qis, kept = list(quasi_identifiers), list(keep)
    if isinstance(quasi_identifiers, str) or not qis:
        raise ValidationFailed("declare at least one quasi-identifier column (a list of names)",
                               input_name="quasi_identifiers")
    for label, names in (("quasi_identifiers", qis), ("keep", kept)):
        if len(set(names)) != len(names):
            raise ValidationFailed(f"{label} lists a column twice: {names}", input_name=label)
        missing = [c for c in names if c not in table.column_names]
        if missing:
            raise ValidationFailed(f"no such column(s) {missing}; the table has {table.column_names}", input_name=label)
    both = sorted(set(qis) & set(kept))
    if both:
        raise ValidationFailed(f"{both} cannot be both a quasi-identifier and kept as is", input_name="keep")
    for name in [*qis, *kept]:
        reason = direct_identifier_reason(table.column(name), name, as_quasi_identifier=name in qis)
        if reason:
            raise ValidationFailed(f"column {name!r} is refused in a third-party export: {reason}. Drop it.",
                                   code="direct_identifier", input_name=name)
        if name in qis and pa.types.is_nested(table.schema.field(name).type):
            raise ValidationFailed(f"quasi-identifier {name!r} is a nested type", input_name=name)
    for name in kept:
        if name.strip().lower() in _QUASI_NAMES:
            raise ValidationFailed(f"keep column {name!r} looks like a quasi-identifier; list it in "
                                   "quasi_identifiers so it is generalised", code="undeclared_quasi_identifier",
                                   input_name=name)
    return qis


@dataclass
class _Encoded:
    """One quasi-identifier as integer codes: per row, and per level a map from value code to label code."""

    hierarchy: Hierarchy
    row_codes: np.ndarray
    level_maps: list[np.ndarray]
    level_cards: list[int]
    level_labels: list[pa.Array | None]


def _dense_ids(codes: Sequence[np.ndarray], cards: Sequence[int]) -> tuple[np.ndarray, int]:
    """Dense group ids 0..g-1 for the combinations of several code columns (a hash group-by)."""
    key, card = codes[0].astype(np.int64), int(cards[0])
    for column, column_card in zip(codes[1:], cards[1:], strict=True):
        if card * column_card >= 2**62:  # re-densify before the mixed-radix key could overflow
            key, card = _densify(key)
        key, card = key * column_card + column, card * column_card
    if card > max(8 * len(key), 1 << 22):  # else a bincount over the sparse key is cheaper than hashing
        return _densify(key)
    return key, card


def _densify(key: np.ndarray) -> tuple[np.ndarray, int]:
    encoded = pc.dictionary_encode(pa.array(key))
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(encoded.dictionary)


def _encode(column: pa.ChunkedArray, hierarchy: Hierarchy, max_level: int) -> _Encoded:
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")  # null gets its own code
    values = encoded.dictionary
    value_nulls = values.is_null().to_numpy(zero_copy_only=False)
    maps, cards, labels_by_level = [np.arange(len(values), dtype=np.int64)], [len(values)], [None]
    for level in range(1, max_level + 1):
        labels = hierarchy.generalise(values, level)
        label_nulls = labels.is_null().to_numpy(zero_copy_only=False)
        if level < hierarchy.height and not np.array_equal(label_nulls, value_nulls):
            raise BadHierarchy(f"level {level} ({hierarchy.level_names[level]}) gave null labels for non-null "
                               "values (or the reverse)", input_name=hierarchy.name)
        label_codes = pc.dictionary_encode(labels, null_encoding="encode")
        code_map = label_codes.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        _check_nested(maps[-1], code_map, hierarchy, level)
        maps.append(code_map)
        cards.append(len(label_codes.dictionary))
        labels_by_level.append(label_codes.dictionary)
    row_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return _Encoded(hierarchy, row_codes, maps, cards, labels_by_level)


def _check_nested(lower: np.ndarray, upper: np.ndarray, hierarchy: Hierarchy, level: int) -> None:
    """Each label of the level below must have one parent at ``level`` (the hierarchy is a tree)."""
    if level < 2:
        return
    pairs = np.unique(lower * (int(upper.max()) + 1) + upper)
    if len(pairs) != len(np.unique(lower)):
        raise BadHierarchy(f"levels {level - 1} and {level} do not nest: a level-{level - 1} label has two "
                           f"level-{level} parents", input_name=hierarchy.name)


def _class_sizes(combo_codes: Sequence[np.ndarray], counts: np.ndarray, encoded: Sequence[_Encoded],
                 levels: Sequence[int]) -> np.ndarray:
    """Equivalence class sizes at one lattice node: a roll-up of the frequency set."""
    codes = [e.level_maps[lvl][c] for e, lvl, c in zip(encoded, levels, combo_codes, strict=True)]
    ids, groups = _dense_ids(codes, [e.level_cards[lvl] for e, lvl in zip(encoded, levels, strict=True)])
    sizes = np.bincount(ids, weights=counts, minlength=groups)
    return sizes[sizes > 0].astype(np.int64)


@dataclass(frozen=True, order=True)
class _Score:
    loss_units: int  # (rows - suppressed) · g + suppressed · full, in integer units so ties are exact
    suppressed: int
    discernibility: int
    levels: tuple[int, ...]
    k_achieved: int = field(compare=False)
    classes: int = field(compare=False)
    smallest: int = field(compare=False)


def anonymize(table: pa.Table, quasi_identifiers: Sequence[str], k: int,
              hierarchies: Mapping[str, HierarchySpec] | None = None, keep: Sequence[str] = (),
              max_suppression: float = 0.05, max_levels: Mapping[str, int] | None = None) -> AnonymizedExport:
    """A *k*-anonymous copy of ``table`` over ``quasi_identifiers``, holding only those and ``keep``.

    ``hierarchies`` maps a quasi-identifier to its declaration (see ``siyu.privacy.hierarchies``;
    undeclared ones get a built-in by name and type). ``max_suppression`` is the share of rows that may
    be dropped; ``max_levels`` caps how far a quasi-identifier may be generalised (e.g. keep the
    province: ``{"region": 1}``). Raises :class:`KAnonymityUnreachable` when no allowed node works.

    >>> export = anonymize(members, ["age", "city", "gender"], k=5, keep=["orders", "monetary"])
    >>> export.k_achieved >= 5, export.levels
    (True, {'age': 2, 'city': 1, 'gender': 0})
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValidationFailed(f"k must be an integer of at least 2, got {k!r} (k=1 protects no one)", input_name="k")
    if not 0 <= max_suppression < 1:
        raise ValidationFailed(f"max_suppression must be in [0, 1), got {max_suppression!r}",
                               input_name="max_suppression")
    qis = _check_columns(table, quasi_identifiers, keep)
    table = _decode_dictionaries(table, qis)
    declared = dict(hierarchies or {})
    unknown = sorted(set(declared) - set(qis))
    if unknown:
        raise ValidationFailed(f"hierarchies given for {unknown}, which are not quasi-identifiers",
                               input_name="hierarchies")
    resolved = [resolve_hierarchy(declared.get(q), q, table.schema.field(q).type) for q in qis]
    caps = _caps(qis, resolved, max_levels or {})
    rows = table.num_rows
    if rows < k:
        raise KAnonymityUnreachable(f"the table has {rows} row(s); k={k} needs at least {k}",
                                    best_levels=dict(zip(qis, caps, strict=True)), rows_to_suppress=rows,
                                    smallest_class=rows)
    encoded = [_encode(table.column(q), h, cap) for q, h, cap in zip(qis, resolved, caps, strict=True)]
    row_key, key_card = _dense_ids([e.row_codes for e in encoded], [e.level_cards[0] for e in encoded])
    present = np.flatnonzero(np.bincount(row_key, minlength=key_card))
    dense = np.zeros(key_card, dtype=np.int64)
    dense[present] = np.arange(len(present))
    row_combo, combos = dense[row_key], len(present)
    counts = np.bincount(row_combo, minlength=combos).astype(np.int64)
    combo_codes = []
    for e in encoded:  # the frequency set: each combination's value codes
        codes = np.empty(combos, dtype=np.int64)
        codes[row_combo] = e.row_codes
        combo_codes.append(codes)
    budget = math.floor(max_suppression * rows + 1e-9)  # 0.29 × 100 is 28.999… in floating point
    best, evaluated, top = _search(combo_codes, counts, encoded, caps, k, budget)
    if best is None:
        levels_text = ", ".join(f"{q}={h.level_names[c]}" for q, h, c in zip(qis, resolved, caps, strict=True))
        raise KAnonymityUnreachable(
            f"k={k} is not reachable within max_suppression={max_suppression:.2%} "
            f"({budget} of {rows} rows): the most general allowed node ({levels_text}) "
            f"still leaves {top.suppressed} row(s) ({top.suppressed / rows:.2%}) in classes smaller than {k}; "
            f"its smallest class has {top.smallest} row(s). Allow more suppression or generalisation, or lower k.",
            best_levels=dict(zip(qis, caps, strict=True)), rows_to_suppress=top.suppressed,
            smallest_class=top.smallest)
    out = _materialise(table, qis, keep, encoded, combo_codes, counts, row_combo, best.levels, k)
    achieved = k_anonymity(out, qis)
    if out.num_rows != rows - best.suppressed or achieved < k:  # fail closed: never hand out a bad export
        raise SiyuError(f"internal check failed: export has k={achieved} over {out.num_rows} rows",
                        code="anonymity_check_failed")
    full = _units(resolved)[1]
    return AnonymizedExport(
        table=out, k_requested=k, k_achieved=achieved, levels=dict(zip(qis, best.levels, strict=True)),
        level_names={q: h.level_names[lvl] for q, h, lvl in zip(qis, resolved, best.levels, strict=True)},
        suppressed=best.suppressed, loss=best.loss_units / (rows * full), discernibility=best.discernibility,
        normalised_avg_class_size=(rows - best.suppressed) / best.classes / k, classes=best.classes,
        rows_in=rows, nodes_evaluated=evaluated)


def _decode_dictionaries(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """Dictionary-encoded columns (common from Parquet) as plain values, so hierarchies see their type."""
    for name in columns:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            table = table.set_column(table.schema.get_field_index(name), name, column.cast(column.type.value_type))
    return table


def _caps(qis: Sequence[str], resolved: Sequence[Hierarchy], max_levels: Mapping[str, int]) -> list[int]:
    unknown = sorted(set(max_levels) - set(qis))
    if unknown:
        raise ValidationFailed(f"max_levels given for {unknown}, which are not quasi-identifiers",
                               input_name="max_levels")
    caps = []
    for q, h in zip(qis, resolved, strict=True):
        cap = max_levels.get(q, h.height)
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= h.height:
            raise ValidationFailed(f"max level for {q!r} must be 0..{h.height} ({', '.join(h.level_names)}), "
                                   f"got {cap!r}", input_name="max_levels")
        caps.append(cap)
    if math.prod(c + 1 for c in caps) > MAX_LATTICE_NODES:
        raise ValidationFailed(f"{math.prod(c + 1 for c in caps)} generalisation nodes to search; declare fewer "
                               "quasi-identifiers or shallower hierarchies", input_name="quasi_identifiers")
    return caps


def _units(resolved: Sequence[Hierarchy]) -> tuple[list[int], int]:
    """Integer weights per level of each quasi-identifier, and the weight of a fully generalised row."""
    common = math.lcm(*(h.height for h in resolved))
    return [common // h.height for h in resolved], common * len(resolved)


def _search(combo_codes: list[np.ndarray], counts: np.ndarray, encoded: list[_Encoded], caps: list[int], k: int,
            budget: int) -> tuple[_Score | None, int, _Score]:
    """Branch and bound over the lattice in order of generalisation cost; returns (best, evaluated, top node)."""
    rows = int(counts.sum())
    unit, full = _units([e.hierarchy for e in encoded])
    nodes = np.indices([c + 1 for c in caps]).reshape(len(caps), -1).T
    cost = nodes @ np.array(unit, dtype=np.int64)
    order = np.lexsort((*nodes.T[::-1], nodes.sum(axis=1), cost))
    best: _Score | None = None
    evaluated = 0
    top: _Score | None = None
    for index in order:
        g = int(cost[index])
        if best is not None and rows * g > best.loss_units:
            break  # every remaining node loses at least g per row
        levels = tuple(int(x) for x in nodes[index])
        sizes = _class_sizes(combo_codes, counts, encoded, levels)
        evaluated += 1
        small = sizes < k
        suppressed = int(sizes[small].sum())
        kept = sizes[~small]
        score = _Score((rows - suppressed) * g + suppressed * full, suppressed,
                       int((kept**2).sum()) + suppressed * rows, levels,
                       int(kept.min()) if len(kept) else 0, len(kept), int(sizes.min()))
        if levels == tuple(caps):
            top = score
        if suppressed <= budget and (best is None or score < best):
            best = score
    if top is None:  # the walk stopped early, so a best exists; the top node is only needed for errors
        top = best
    assert top is not None
    return best, evaluated, top


def _materialise(table: pa.Table, qis: list[str], keep: Sequence[str], encoded: list[_Encoded],
                 combo_codes: list[np.ndarray], counts: np.ndarray, row_combo: np.ndarray, levels: tuple[int, ...],
                 k: int) -> pa.Table:
    """The export: generalised quasi-identifiers and kept columns, rows of small classes dropped."""
    codes = [e.level_maps[lvl][c] for e, lvl, c in zip(encoded, levels, combo_codes, strict=True)]
    ids, groups = _dense_ids(codes, [e.level_cards[lvl] for e, lvl in zip(encoded, levels, strict=True)])
    sizes = np.bincount(ids, weights=counts, minlength=groups)
    keep_row = pa.array(sizes[ids][row_combo] >= k)
    wanted = set(qis) | set(keep)
    columns, names = [], []
    for name in table.column_names:
        if name not in wanted:
            continue
        if name in qis:
            i = qis.index(name)
            e, level = encoded[i], levels[i]
            labels = e.level_labels[level]
            column = table.column(name) if labels is None else labels.take(
                pa.array(e.level_maps[level][e.row_codes]))
        else:
            column = table.column(name)
        columns.append(pc.filter(column, keep_row))
        names.append(name)
    return pa.table(columns, names=names)


def k_anonymity(table: pa.Table, quasi_identifiers: Sequence[str]) -> int:
    """The *k* a table has over ``quasi_identifiers``: its smallest equivalence class (0 for no rows).

    Nulls are a value like any other (an attacker sees them too).
    """
    if table.num_rows == 0:
        return 0
    codes, cards = [], []
    table = _decode_dictionaries(table, quasi_identifiers)
    for name in quasi_identifiers:
        encoded = pc.dictionary_encode(table.column(name).combine_chunks(), null_encoding="encode")
        codes.append(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64))
        cards.append(len(encoded.dictionary))
    ids, groups = _dense_ids(codes, cards)
    sizes = np.bincount(ids, minlength=groups)
    return int(sizes[sizes > 0].min())
