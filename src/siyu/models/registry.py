"""The model registry (模型注册表): every trained model with its evidence, in the lake.

An entry records the model's name and version, its parameters, the fingerprint of the data it was
trained on (which partitions of which lake tables, with their files' sizes and times), its metrics,
the reference distributions drift is measured against, and when it was made. Artifacts live in
``<lake>/_models/<name>/v<version>/`` (parameters only: no personal data); the index is the lake state
file ``model_registry``, rewritten atomically under the lake lock. One version per name is *active*
— the one ``predict`` uses; ``rollback`` makes an older one active again; ``drift`` can mark it stale.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from siyu.core.errors import SiyuError
from siyu.models.predictions import predictions_table_name
from siyu.warehouse.lake import Lake

STATE = "model_registry"
STATUSES = ("active", "inactive", "stale")


@dataclass
class ModelVersion:
    name: str
    version: int
    kind: str
    created_at: str
    as_of: str
    params: dict[str, Any]
    metrics: dict[str, float]
    data: dict[str, Any]
    #: per feature or score: quantile bin edges and the training share in each bin (for PSI)
    reference: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "inactive"
    drift: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def data_fingerprint(lake: Lake, tables: list[str], as_of: date) -> dict[str, Any]:
    """Which partitions (up to ``as_of``) of each ``layer/table`` the model read, and a digest of their
    files (names, sizes, modification times), so a retrain on changed data is visible."""
    out: dict[str, Any] = {"as_of": as_of.isoformat(), "tables": {}}
    digest = hashlib.sha256()
    for name in sorted(tables):
        layer, table = name.split("/")
        cutoff = as_of.isoformat()
        parts = [p for p in lake.partitions(layer, table) if p <= cutoff]
        files = []
        for f in map(Path, lake.files(layer, table)):
            part = next((q.name[3:] for q in f.parents if q.name.startswith("dt=")), None)
            if part is None or part <= cutoff:
                files.append(f)
        for f in sorted(files):
            st = f.stat()
            digest.update(f"{f.relative_to(lake.root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        out["tables"][name] = {"partitions": len(parts), "first": parts[0] if parts else None,
                               "last": parts[-1] if parts else None, "files": len(files)}
    out["digest"] = digest.hexdigest()[:16]
    return out


class ModelRegistry:
    """Register, list, compare, activate and roll back model versions in one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def artifact_dir(self, name: str, version: int) -> Path:
        predictions_table_name(name)  # validates the name
        return self.lake.root / "_models" / name / f"v{version}"

    def _load(self) -> dict[str, list[ModelVersion]]:
        raw = self.lake.read_state(STATE).get("models", {})
        return {name: [ModelVersion(**v) for v in versions] for name, versions in raw.items()}

    def _save(self, models: dict[str, list[ModelVersion]]) -> None:
        self.lake.write_state(STATE, {"models": {n: [asdict(v) for v in vs] for n, vs in sorted(models.items())}})

    def register(self, name: str, kind: str, *, as_of: date, params: dict[str, Any], metrics: dict[str, float],
                 data: dict[str, Any], reference: dict[str, dict[str, list[float]]], config: dict[str, Any],
                 artifact: Path, activate: bool = True) -> ModelVersion:
        """Add a version (its files are moved from ``artifact`` into the registry) and, by default, make it active."""
        with self.lake.lock():
            models = self._load()
            versions = models.setdefault(name, [])
            number = max((v.version for v in versions), default=0) + 1
            target = self.artifact_dir(name, number)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(artifact), target)
            entry = ModelVersion(name=name, version=number, kind=kind,
                                 created_at=datetime.now(UTC).isoformat(timespec="seconds"), as_of=as_of.isoformat(),
                                 params=params, metrics={k: float(v) for k, v in metrics.items()}, data=data,
                                 reference=reference, config=config)
            versions.append(entry)
            if activate:
                _activate(versions, number)
            self._save(models)
        return entry

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        models = self._load()
        if name is not None and name not in models:
            raise SiyuError(f"no model named {name!r} is registered", code="unknown_model", input_name="name")
        return [v for n in sorted(models) if name in (None, n) for v in models[n]]

    def get(self, name: str, version: int | None = None) -> ModelVersion:
        """A version, or the active one (the newest stale one counts: it still serves until retrained)."""
        versions = self.versions(name)
        if version is not None:
            for v in versions:
                if v.version == version:
                    return v
            raise SiyuError(f"{name} has no version {version}", code="unknown_version", input_name="version")
        current = [v for v in versions if v.status in ("active", "stale")]
        if not current:
            raise SiyuError(f"{name} has no active version", code="no_active_version", input_name="name")
        return current[-1]

    def activate(self, name: str, version: int) -> ModelVersion:
        """Make ``version`` the one predictions use (a rollback when it is older)."""
        with self.lake.lock():
            models = self._load()
            if name not in models or all(v.version != version for v in models[name]):
                raise SiyuError(f"{name} has no version {version}", code="unknown_version", input_name="version")
            _activate(models[name], version)
            self._save(models)
        return self.get(name, version)

    def mark_drift(self, name: str, version: int, drift: dict[str, Any], stale: bool) -> ModelVersion:
        with self.lake.lock():
            models = self._load()
            entry = next(v for v in models[name] if v.version == version)
            entry.drift = drift
            if stale and entry.status == "active":
                entry.status = "stale"
            self._save(models)
        return entry

    def compare(self, name: str, a: int, b: int) -> list[dict[str, Any]]:
        """Metric by metric: version a, version b and the change."""
        va, vb = self.get(name, a), self.get(name, b)
        rows = []
        for key in sorted(set(va.metrics) | set(vb.metrics)):
            x, y = va.metrics.get(key), vb.metrics.get(key)
            rows.append({"metric": key, f"v{a}": x, f"v{b}": y,
                         "change": None if x is None or y is None else y - x})
        return rows


def _activate(versions: list[ModelVersion], number: int) -> None:
    for v in versions:
        if v.version == number:
            v.status = "active"
        elif v.status in ("active", "stale"):
            v.status = "inactive"
