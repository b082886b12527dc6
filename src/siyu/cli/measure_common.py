"""What the ``siyu measure`` command modules share: spec checking, JSON-ready values, table output, the
built lake and its engine, and segment members."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import pyarrow as pa
import typer
from pydantic import BaseModel, ValidationError

from siyu.core.errors import SiyuError
from siyu.warehouse.lake import Lake

if TYPE_CHECKING:
    from siyu.warehouse.engine import Engine

S = TypeVar("S", bound=BaseModel)

SegmentOpt = Annotated[str | None, typer.Option(
    "--segment", help="Only these people: a segment name from --segments, or a rule text (人群).")]
SegmentsOpt = Annotated[Path | None, typer.Option("--segments", help="Segment definitions (YAML).")]


def checked(spec: type[S], code: str, **values: Any) -> S:
    """Build a domain spec; a validation failure becomes one :class:`SiyuError` naming the field."""
    try:
        return spec.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise SiyuError(msg, code=code, input_name=where) from None


def plain(value: Any) -> Any:
    """JSON-ready: NaN and infinities become None (strict JSON); containers are walked."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return [plain(r) for r in table.to_pylist()]


def write_table(table: pa.Table, path: Path, option: str = "--out") -> None:
    """Write ``table`` as CSV or Parquet, chosen by the file's suffix."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise SiyuError(f"{path} must end in .csv or .parquet", code="bad_output", input_name=option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path)
    except OSError as exc:
        raise SiyuError(f"cannot write {path}: {exc.strerror or exc}", code="bad_output", input_name=option) from None


def built_lake(lake: Path) -> Lake:
    """The lake at ``lake``, or a clean error when ``siyu build`` has not run there."""
    if not (lake / "dwd").is_dir():
        raise SiyuError(f"{lake} is not a built lake (no dwd/): run `siyu build --lake {lake}` first",
                        code="lake_not_built", input_name="--lake")
    return Lake(lake)


def lake_engine(engine: str, lake: Path) -> Engine:
    """An engine with the lake's ``events``, ``orders`` and ``user_daily`` views (``siyu build`` must have run)."""
    from siyu.profile.views import register_profile_sources
    from siyu.warehouse.engine import open_engine

    built = built_lake(lake)
    eng = open_engine(engine)
    register_profile_sources(eng, built)
    return eng


def segment_members(eng: Engine, lake: Path, names: list[str], segments: Path | None) -> pa.Table:
    """``one_id, label`` of segments (names in ``segments`` or rule texts), from the built profile facts."""
    from siyu.measure.kpi.labels import segment_labels
    from siyu.profile.segments import load_segments, open_profile

    ctx = open_profile(Lake(lake), eng, segments=load_segments(segments) if segments else None)
    return segment_labels(ctx, names)


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def duration(seconds: float | None) -> str:
    """A time to convert, readable: 45s, 12m 30s, 3h 05m, 2.5d."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"
    return f"{seconds / 86400:.1f}d"
