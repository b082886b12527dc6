"""Builders for touches tables in the attribution tests, and the planted-effect journey generator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

T0 = datetime(2024, 3, 1)


def touches_table(paths: Sequence[tuple[Any, ...]], *,
                  touch_types: Sequence[Sequence[str | None]] | None = None,
                  vip: Sequence[bool] | None = None, silent: Sequence[bool] | None = None,
                  gap_days: float = 1.0) -> pa.Table:
    """One journey per ``(channels, converted[, value])``: touches ``gap_days`` apart from T0, the
    conversion ``gap_days`` after the last touch. A string path is read one channel per letter; a list
    gives channel names."""
    rows = []
    for j, spec in enumerate(paths):
        channels, converted = list(spec[0]), bool(spec[1])
        value = float(spec[2]) if len(spec) > 2 else (1.0 if converted else 0.0)
        conv_time = T0 + timedelta(days=gap_days * len(channels)) if converted else None
        for i, c in enumerate(channels):
            row = {"journey_id": f"j{j:04d}", "channel": c, "touch_time": T0 + timedelta(days=gap_days * i),
                   "converted": converted, "conversion_value": value if converted else 0.0,
                   "conversion_time": conv_time}
            if touch_types is not None:
                row["touch_type"] = touch_types[j][i]
            if vip is not None:
                row["is_vip"] = vip[j]
            if silent is not None:
                row["is_silent"] = silent[j]
            rows.append(row)
    schema = [("journey_id", pa.string()), ("channel", pa.string()), ("touch_time", pa.timestamp("us")),
              ("converted", pa.bool_()), ("conversion_value", pa.float64()), ("conversion_time", pa.timestamp("us"))]
    if touch_types is not None:
        schema.append(("touch_type", pa.string()))
    if vip is not None:
        schema.append(("is_vip", pa.bool_()))
    if silent is not None:
        schema.append(("is_silent", pa.bool_()))
    return pa.Table.from_pylist(rows, schema=pa.schema(schema))


def random_paths(rng: np.random.Generator, n_journeys: int, channels: str, max_len: int,
                 p_convert: float = 0.4) -> list[tuple[str, bool, float]]:
    """Random journeys over ``channels`` (letters) with random conversions and values."""
    out = []
    for _ in range(n_journeys):
        length = int(rng.integers(1, max_len + 1))
        path = "".join(rng.choice(list(channels), size=length))
        converted = bool(rng.random() < p_convert)
        out.append((path, converted, float(rng.integers(1, 100)) if converted else 0.0))
    return out


@dataclass(frozen=True)
class Planted:
    """A synthetic world with a planted additive hazard per touch, and the truth it implies."""

    table: pa.Table
    channels: tuple[str, ...]
    #: Expected conversions lost if the channel's touches were removed, from the planted model.
    incremental: dict[str, float]
    touches: dict[str, int]


def planted_world(n_journeys: int, effects: dict[str, float], reach: dict[str, float], *, base_hazard: float = 0.02,
                  extra_touches: float = 0.5, seed: int = 0) -> Planted:
    """Journeys where channel c is reached with probability ``reach[c]`` (then 1 + Poisson(extra_touches)
    touches at uniform times over 30 days) and P(convert) = 1 - exp(-(base_hazard + Σ_touches effects[c]))."""
    rng = np.random.default_rng(seed)
    channels = tuple(effects)
    beta = np.array([effects[c] for c in channels])
    reached = rng.random((n_journeys, len(channels))) < np.array([reach[c] for c in channels])
    counts = np.where(reached, 1 + rng.poisson(extra_touches, reached.shape), 0)
    counts = counts[counts.sum(axis=1) > 0]  # journeys without touches are not in the table
    hazard = base_hazard + counts @ beta
    p = -np.expm1(-hazard)
    converted = rng.random(len(counts)) < p
    incremental = {c: float((p - -np.expm1(-(hazard - counts[:, i] * beta[i]))).sum()) for i, c in enumerate(channels)}
    per_journey = counts.sum(axis=1)
    journey = np.repeat(np.arange(len(counts)), per_journey)
    channel = np.concatenate([np.repeat(np.arange(len(channels)), row) for row in counts])
    micros = rng.integers(0, 30 * 86_400_000_000, len(channel))
    start = np.datetime64(T0, "us")
    conv_time = start + np.timedelta64(31, "D")
    names = np.array(channels)
    table = pa.table({
        "journey_id": pa.array([f"p{j}" for j in journey]),
        "channel": pa.array(names[channel]),
        "touch_time": pa.array(start + micros.astype("timedelta64[us]")),
        "converted": pa.array(converted[journey]),
        "conversion_value": pa.array(np.where(converted[journey], 100.0, 0.0)),
        "conversion_time": pa.array(np.full(len(journey), conv_time), mask=~converted[journey]),
    })
    touches = {c: int(counts[:, i].sum()) for i, c in enumerate(channels)}
    return Planted(table, channels, incremental, touches)
