"""Train, score, check and retrain registered models — what ``siyu models …`` runs, callable from Python.

``train_model`` fits a kind on the lake up to ``as_of`` (default: the last day with events), keeps
the reference distributions for drift, registers the version as active and writes its predictions
(``models/<name>_predictions``), so the predictive tags see them on the next ``siyu tags build``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import structlog
from pydantic import ValidationError

from siyu.core.errors import SiyuError
from siyu.models.drift import DEFAULT_THRESHOLD, drift_report, reference_bins
from siyu.models.kinds import KINDS, model_kind
from siyu.models.predictions import write_model_table, write_predictions
from siyu.models.registry import ModelRegistry, ModelVersion, data_fingerprint
from siyu.warehouse.lake import Lake

if TYPE_CHECKING:
    from siyu.warehouse.engine import Engine

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Trained:
    version: ModelVersion
    predictions: int


def lake_engine(lake: Lake, engine: str = "duckdb") -> Engine:
    """An engine over a built lake's views (``siyu build`` must have run)."""
    from siyu.profile.views import register_profile_sources
    from siyu.warehouse.engine import open_engine

    if not (lake.root / "dwd").is_dir():
        raise SiyuError(f"{lake.root} is not a built lake (no dwd/): run `siyu build` first", code="lake_not_built",
                        input_name="--lake")
    eng = open_engine(engine)
    register_profile_sources(eng, lake)
    return eng


def data_end(eng: Engine) -> date:
    from siyu.measure.event_sql import last_day

    day = last_day(eng, "events")
    if day is None:
        raise SiyuError("the lake has no events", code="no_data", input_name="--lake")
    return day


def train_model(lake: Lake, name: str, *, engine: str = "duckdb", as_of: date | None = None,
                config: dict[str, Any] | None = None, predict: bool = True) -> Trained:
    """Train ``name`` on the lake, register it (active) and, with ``predict``, write its predictions."""
    kind = model_kind(name)
    try:
        cfg = kind.config.model_validate(config or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise SiyuError(f"{name} settings: {where}: {err['msg']}", code="bad_model_config", input_name=where) from None
    eng = lake_engine(lake, engine)
    day = as_of or data_end(eng)
    previous = _active(lake, name) if kind.train_after else None
    model = kind.train_after(eng, day, cfg, previous) if kind.train_after and previous else kind.train(eng, day, cfg)
    reference = {col: reference_bins(values) for col, values in kind.drift_columns(eng, model, day).items()
                 if len(values)}
    with tempfile.TemporaryDirectory(dir=lake.root) as tmp:
        folder = Path(tmp) / "artifact"
        model.save(folder)
        version = ModelRegistry(lake).register(
            name, kind.name, as_of=day, params=model.params, metrics=model.metrics,
            data=data_fingerprint(lake, list(kind.tables), day), reference=reference,
            config=cfg.model_dump(mode="json"), artifact=folder)
    log.info("model trained", model=name, version=version.version, as_of=day.isoformat())
    rows = predict_model(lake, name, engine=engine, as_of=day, eng=eng).num_rows if predict else 0
    return Trained(version, rows)


def _active(lake: Lake, name: str) -> Any:
    """The active version's model, or None when there is none; one that cannot be read is logged, so a
    retrain that loses its cluster ids says why."""
    if not any(v.name == name for v in ModelRegistry(lake).versions()):
        return None
    try:
        return load_model(lake, name)[1]
    except SiyuError as exc:
        log.warning("previous model unreadable; training from scratch", model=name, error=str(exc))
        return None


def load_model(lake: Lake, name: str, version: int | None = None) -> tuple[ModelVersion, Any]:
    entry = ModelRegistry(lake).get(name, version)
    return entry, model_kind(entry.kind).load(ModelRegistry(lake).artifact_dir(name, entry.version))


def predict_model(lake: Lake, name: str, *, engine: str = "duckdb", as_of: date | None = None,
                  version: int | None = None, eng: Engine | None = None) -> pa.Table:
    """Score everyone with the active (or given) version and replace ``models/<name>_predictions``."""
    entry, model = load_model(lake, name, version)
    eng = eng or lake_engine(lake, engine)
    day = as_of or data_end(eng)
    kind = model_kind(entry.kind)
    table = kind.score(eng, model, day)
    table = table.append_column("model_version", pa.array([entry.version] * table.num_rows, pa.int32()))
    if kind.per_person:
        write_predictions(lake, kind.predictions, table)
    else:
        write_model_table(lake, kind.predictions, table)
    for extra, data in (kind.extra_tables(model) if kind.extra_tables else {}).items():
        write_model_table(lake, extra, data)
    return table


def check_drift(lake: Lake, name: str | None = None, *, engine: str = "duckdb", as_of: date | None = None,
                threshold: float = DEFAULT_THRESHOLD) -> list[tuple[ModelVersion, dict[str, Any]]]:
    """PSI of today's features and scores against each active model's training reference; a model past
    ``threshold`` is marked stale (it keeps serving until retrained)."""
    registry = ModelRegistry(lake)
    names = [name] if name else sorted({v.name for v in registry.versions()})
    eng = lake_engine(lake, engine)
    day = as_of or data_end(eng)
    out = []
    for n in names:
        entry, model = load_model(lake, n)
        current = model_kind(entry.kind).drift_columns(eng, model, day)
        report = {**drift_report(entry.reference, current, threshold), "as_of": day.isoformat()}
        out.append((registry.mark_drift(n, entry.version, report, bool(report["stale"])), report))
    return out


def retrain_models(lake: Lake, names: list[str] | None = None, *, stale: bool = False, engine: str = "duckdb",
                   as_of: date | None = None) -> list[Trained]:
    """Retrain the named models, or with ``stale`` every model whose active version is stale, with the
    configuration it was trained with, on today's data."""
    registry = ModelRegistry(lake)
    if stale:
        names = sorted({v.name for v in registry.versions() if v.status == "stale"})
    if not names:
        return []
    done = []
    for n in names:
        entry = registry.get(n)
        done.append(train_model(lake, n, engine=engine, as_of=as_of, config=entry.config))
    return done


__all__ = ["KINDS", "Trained", "check_drift", "load_model", "predict_model", "retrain_models", "train_model"]
