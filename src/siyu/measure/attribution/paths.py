"""The touches table at the door, and the two shapes the models read: touch-level journeys and distinct paths.

A journey (用户旅程) is one person's run of touches (触点) up to a conversion (转化) or not. The caller hands
in a *touches* table, one row per touch; per-journey columns are repeated on each row:

=================  =========  ===================================================================
column             type       meaning
=================  =========  ===================================================================
journey_id         string     the journey
channel            string     the touchpoint key (channel, campaign or touch type — caller's grouping)
touch_time         timestamp  when the touch happened
touch_type         string     optional: group_join, interaction, content, payment_page, cs_chat, …
converted          bool       per journey: did it convert
conversion_value   double     per journey: order value (0 / null when not converted)
conversion_time    timestamp  per journey: null when not converted
is_vip             bool       optional, per journey: a VIP member (会员)
is_silent          bool       optional, per journey: a silent user (沉默用户)
=================  =========  ===================================================================

Touches are ordered by ``touch_time`` within a journey, ties broken by channel name. Everything here is
vectorised with numpy/pyarrow so a million journeys cost a few sorts and group-bys, not a Python loop;
a table already sorted by (journey_id, touch_time, channel) skips the sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from siyu.core.errors import SiyuError

REQUIRED_COLUMNS = ("journey_id", "channel", "touch_time", "converted", "conversion_value", "conversion_time")
OPTIONAL_COLUMNS = ("touch_type", "is_vip", "is_silent")
#: Per-journey columns: repeated on each touch, and checked to be the same on every touch of a journey.
JOURNEY_COLUMNS = ("converted", "conversion_value", "conversion_time", "is_vip", "is_silent")

MICROS_PER_DAY = 86_400_000_000
NO_TIME = np.iinfo(np.int64).min  # a null conversion_time

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class BadTouches(SiyuError):
    """The touches table breaks the input contract; ``input_name`` names the column at fault."""

    code = "bad_touches"


def _column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _timestamps(table: pa.Table, name: str, *, nullable: bool) -> tuple[IntArray, BoolArray]:
    """Microseconds since the epoch (UTC) and a validity mask; any timestamp unit or time zone."""
    arr = _column(table, name)
    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), pa.timestamp("us"))
    if not pa.types.is_timestamp(arr.type):
        raise BadTouches(f"column {name!r} must be a timestamp, got {arr.type}", code="bad_column_type",
                         input_name=name)
    micros = pc.cast(arr, pa.timestamp("us", tz=arr.type.tz)).cast(pa.int64())
    valid = pc.is_valid(micros).to_numpy(zero_copy_only=False)
    if not nullable and not valid.all():
        raise BadTouches(f"column {name!r} has {int((~valid).sum())} null values", code="null_values",
                         input_name=name)
    return micros.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64), valid


def _cast(table: pa.Table, name: str, to: pa.DataType) -> pa.Array:
    arr = _column(table, name)
    try:
        return pc.cast(arr, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise BadTouches(f"column {name!r} must be {to}, got {arr.type}", code="bad_column_type",
                         input_name=name) from None


def _codes(arr: pa.Array, *, by_name: bool = True) -> tuple[IntArray, tuple[str, ...]]:
    """Dense codes and their names; null → -1.

    With ``by_name`` the codes follow sorted-name order (Arrow sorts UTF-8 bytes, which is code-point
    order, as Python's ``sorted``), so sorting by code breaks ties by name. Without it (journey ids) the
    codes follow first appearance and the large dictionary is never turned into Python strings.
    """
    enc = pc.dictionary_encode(arr)
    idx = enc.indices
    valid = pc.is_valid(idx).to_numpy(zero_copy_only=False)
    codes = idx.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if not by_name:
        return np.where(valid, codes, -1), ()
    order = pc.sort_indices(enc.dictionary).to_numpy().astype(np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = np.where(valid, rank[codes] if len(order) else codes, -1)
    return codes, tuple(pc.take(enc.dictionary, pa.array(order, pa.int64())).to_pylist())


@dataclass(frozen=True, eq=False)
class Journeys:
    """Touches sorted by journey then time: CSR-style ``offsets`` into per-touch arrays, per-journey arrays.

    ``channel`` holds codes into ``channels`` (sorted names); ``touch_type`` codes into ``touch_types``
    (-1 when missing). ``value`` is the conversion value where the journey converted, else 0.
    ``reference_time`` is the conversion time, or the journey's last touch when it has none. Journeys
    keep the order in which they first appear in the table.
    """

    journey_ids: pa.Array
    channels: tuple[str, ...]
    touch_types: tuple[str, ...]
    offsets: IntArray
    channel: IntArray
    touch_time: IntArray
    touch_type: IntArray
    converted: BoolArray
    value: FloatArray
    reference_time: IntArray
    is_vip: BoolArray
    is_silent: BoolArray

    @classmethod
    def from_table(cls, table: pa.Table) -> Journeys:
        """Validate a touches table (see the module doc) and sort it into journeys."""
        if not isinstance(table, pa.Table):
            raise BadTouches(f"touches must be a pyarrow Table, got {type(table).__name__}", input_name="touches")
        missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
        if missing:
            raise BadTouches(f"touches table is missing column {missing[0]!r} (required: "
                             f"{', '.join(REQUIRED_COLUMNS)})", code="missing_column", input_name=missing[0])
        for name in ("journey_id", "channel"):
            if _column(table, name).null_count:
                raise BadTouches(f"column {name!r} has null values", code="null_values", input_name=name)
        journey, _ = _codes(_cast(table, "journey_id", pa.string()), by_name=False)
        channel, channels = _codes(_cast(table, "channel", pa.string()))
        touch_time, _ = _timestamps(table, "touch_time", nullable=False)
        if "touch_type" in table.column_names:
            touch_type, touch_types = _codes(_cast(table, "touch_type", pa.string()))
        else:
            touch_type, touch_types = np.full(len(journey), -1, dtype=np.int64), ()
        per_touch = {name: _journey_column(table, name) for name in JOURNEY_COLUMNS}

        # already in journey/time/channel order (as the touches query can write it): skip sort and gathers
        order = None if _in_order(journey, touch_time, channel) else np.lexsort((channel, touch_time, journey))
        journey, channel, touch_time, touch_type = (
            a if order is None else a[order] for a in (journey, channel, touch_time, touch_type))
        n_journeys = int(journey[-1]) + 1 if len(journey) else 0
        offsets = np.zeros(n_journeys + 1, dtype=np.int64)
        np.cumsum(np.bincount(journey, minlength=n_journeys), out=offsets[1:])
        first = offsets[:-1]
        per_journey: dict[str, npt.NDArray[np.generic]] = {}
        for name, values in per_touch.items():
            values = values if order is None else values[order]
            head = values[first]
            if len(values) and not np.array_equal(values, np.repeat(head, np.diff(offsets)), equal_nan=True):
                raise BadTouches(f"column {name!r} must be the same on every touch of a journey",
                                 code="inconsistent_journey", input_name=name)
            per_journey[name] = head

        converted = per_journey["converted"].astype(bool)
        value = np.where(converted, per_journey["conversion_value"], 0.0).astype(np.float64)
        if not np.isfinite(value).all():
            raise BadTouches("column 'conversion_value' has NaN or infinite values", code="bad_value",
                             input_name="conversion_value")
        conv_time = per_journey["conversion_time"]
        last_touch = touch_time[offsets[1:] - 1] if n_journeys else np.zeros(0, dtype=np.int64)
        reference = np.where(conv_time != NO_TIME, conv_time, last_touch).astype(np.int64)
        ids = _cast(table, "journey_id", pa.string())
        journey_ids = pc.take(ids, pa.array(_first_rows(order, first)))
        return cls(journey_ids=journey_ids, channels=channels, touch_types=touch_types, offsets=offsets,
                   channel=channel, touch_time=touch_time, touch_type=touch_type, converted=converted, value=value,
                   reference_time=reference, is_vip=per_journey["is_vip"].astype(bool),
                   is_silent=per_journey["is_silent"].astype(bool))

    # ---- sizes and derived per-touch arrays ---------------------------------------------------------
    @property
    def n_journeys(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_touches(self) -> int:
        return len(self.channel)

    @cached_property
    def length(self) -> IntArray:
        """Touches per journey."""
        return np.diff(self.offsets)

    @cached_property
    def journey_of_touch(self) -> IntArray:
        """The journey index of each touch."""
        return np.repeat(np.arange(self.n_journeys, dtype=np.int64), self.length)

    @cached_property
    def position(self) -> IntArray:
        """0-based position of each touch within its journey."""
        return np.arange(self.n_touches, dtype=np.int64) - self.offsets[:-1][self.journey_of_touch]

    @cached_property
    def age_days(self) -> FloatArray:
        """Days from each touch to its journey's reference time (conversion, else last touch), at least 0."""
        age = (self.reference_time[self.journey_of_touch] - self.touch_time) / MICROS_PER_DAY
        return np.maximum(age, 0.0)

    @cached_property
    def paths(self) -> PathCounts:
        """Identical channel sequences aggregated (see :class:`PathCounts`)."""
        return PathCounts.from_journeys(self)

    def subset(self, keep: BoolArray) -> Journeys:
        """The journeys where ``keep`` is true, with the same channel and touch-type codes."""
        touch_keep = keep[self.journey_of_touch]
        offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        np.cumsum(self.length[keep], out=offsets[1:])
        return Journeys(journey_ids=self.journey_ids.filter(pa.array(keep)), channels=self.channels,
                        touch_types=self.touch_types, offsets=offsets, channel=self.channel[touch_keep],
                        touch_time=self.touch_time[touch_keep], touch_type=self.touch_type[touch_keep],
                        converted=self.converted[keep], value=self.value[keep],
                        reference_time=self.reference_time[keep], is_vip=self.is_vip[keep],
                        is_silent=self.is_silent[keep])


def _in_order(journey: IntArray, touch_time: IntArray, channel: IntArray) -> bool:
    """Rows already sorted by (journey, time, channel)? Journey codes follow first appearance, so sorted
    codes also mean each journey's rows are contiguous."""
    dj, dt, dc = np.diff(journey), np.diff(touch_time), np.diff(channel)
    return bool(np.all((dj > 0) | ((dj == 0) & ((dt > 0) | ((dt == 0) & (dc >= 0))))))


def _first_rows(order: IntArray | None, first: IntArray) -> IntArray:
    """Row numbers in the input table of each journey's first touch."""
    return first if order is None else order[first]


def _journey_column(table: pa.Table, name: str) -> npt.NDArray[np.generic]:
    """A per-journey column as one numpy value per touch (missing optional flags are all False)."""
    n = table.num_rows
    if name in ("is_vip", "is_silent"):
        if name not in table.column_names:
            return np.zeros(n, dtype=bool)
        return _cast(table, name, pa.bool_()).fill_null(False).to_numpy(zero_copy_only=False)
    if name == "converted":
        arr = _cast(table, name, pa.bool_())
        if arr.null_count:
            raise BadTouches("column 'converted' has null values", code="null_values", input_name=name)
        return arr.to_numpy(zero_copy_only=False)
    if name == "conversion_value":
        return _cast(table, name, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
    micros, valid = _timestamps(table, name, nullable=True)
    return np.where(valid, micros, NO_TIME)


def weighted_count(index: IntArray, weights: FloatArray | None, size: int) -> FloatArray:
    """``np.bincount`` as float64: the sum of ``weights`` (or 1s) per index in ``range(size)``."""
    return np.bincount(index, weights=weights, minlength=size).astype(np.float64, copy=False)


def as_journeys(touches: pa.Table | Journeys) -> Journeys:
    """Accept either a touches table or already-prepared :class:`Journeys`."""
    return touches if isinstance(touches, Journeys) else Journeys.from_table(touches)


@dataclass(frozen=True, eq=False)
class PathCounts:
    """Distinct channel paths (a CSR of channel codes) with their journeys, conversions and value.

    ``nulls = journeys - conversions`` are the journeys on the path that did not convert.
    ``path_of_journey`` maps each journey to its distinct path.
    """

    channels: tuple[str, ...]
    offsets: IntArray
    flat: IntArray
    journeys: FloatArray
    conversions: FloatArray
    value: FloatArray
    path_of_journey: IntArray

    @classmethod
    def from_journeys(cls, journeys: Journeys) -> PathCounts:
        """Group identical paths in C: each journey's codes become one binary key, dictionary-encoded by Arrow."""
        n = journeys.n_journeys
        codes = journeys.channel.astype(np.int32)
        if n == 0:
            empty = np.zeros(0, dtype=np.float64)
            return cls(journeys.channels, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), empty, empty,
                       empty, np.zeros(0, dtype=np.int64))
        keys = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), n, [None, pa.py_buffer(journeys.offsets * 4), pa.py_buffer(codes)])
        enc = pc.dictionary_encode(keys)
        path_of_journey = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        dic = enc.dictionary
        _, off_buf, data_buf = dic.buffers()
        byte_offsets = np.frombuffer(off_buf, dtype=np.int64)[dic.offset:dic.offset + len(dic) + 1]
        words = np.frombuffer(data_buf, dtype=np.int32)
        flat = words[byte_offsets[0] // 4:byte_offsets[-1] // 4].astype(np.int64)
        n_paths = len(dic)
        count = weighted_count(path_of_journey, None, n_paths)
        conv = weighted_count(path_of_journey, journeys.converted.astype(np.float64), n_paths)
        value = weighted_count(path_of_journey, journeys.value, n_paths)
        return cls(journeys.channels, (byte_offsets - byte_offsets[0]) // 4, flat, count, conv, value,
                   path_of_journey)

    @property
    def n_paths(self) -> int:
        return len(self.offsets) - 1

    @property
    def nulls(self) -> FloatArray:
        return self.journeys - self.conversions

    @cached_property
    def length(self) -> IntArray:
        return np.diff(self.offsets)

    @cached_property
    def path_of_touch(self) -> IntArray:
        return np.repeat(np.arange(self.n_paths, dtype=np.int64), self.length)

    def path(self, i: int) -> tuple[str, ...]:
        """Path ``i`` as channel names (for reports and tests)."""
        return tuple(self.channels[c] for c in self.flat[self.offsets[i]:self.offsets[i + 1]])
