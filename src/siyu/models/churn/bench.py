"""Timing the training (训练耗时) for the benchmark page: a world of N people, built, then trained.

No test asserts a time; the numbers go to docs/churn.md with the machine they were measured on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from siyu.models.churn.spec import Outcome, churn_outcome
from siyu.models.churn.train import train_warning_model
from siyu.warehouse.engine import Engine


def time_training(engine: Engine, outcome: Outcome | None = None, **options: Any) -> dict[str, float]:
    """Seconds to train (features, labels, fit, calibration, evaluation, lead time) and to predict once,
    on the views already registered in ``engine``; with the row counts and the test AUCs."""
    outcome = outcome or churn_outcome(30)
    t0 = time.perf_counter()
    model = train_warning_model(engine, outcome, **options)
    t1 = time.perf_counter()
    scored = model.predict(engine)
    t2 = time.perf_counter()
    return {"train_seconds": t1 - t0, "predict_seconds": t2 - t1, "predicted_people": float(scored.num_rows),
            "rows_train": model.metrics["rows_train"], "auc": model.metrics["auc"],
            "baseline_auc": model.metrics["baseline_auc"]}


def benchmark_training(users: int, workdir: Path, days: int = 180, seed: int = 7, outcome: Outcome | None = None,
                       engine_name: str = "duckdb", **options: Any) -> dict[str, float]:
    """Generate a synthetic world of ``users`` people over ``days`` days in ``workdir``, import and build it
    on DuckDB, then :func:`time_training` on ``engine_name``. Set-up seconds are reported apart.

    Call it under ``if __name__ == "__main__":`` in a script: the import step uses worker processes.
    """
    from siyu.profile.views import register_profile_sources
    from siyu.synth import generate_world
    from siyu.warehouse.build import build
    from siyu.warehouse.engine import open_engine
    from siyu.warehouse.lake import Lake
    from siyu.warehouse.loader import import_source

    t0 = time.perf_counter()
    generate_world(workdir / "world", users=users, days=days, seed=seed)
    lake = Lake(workdir / "lake")
    import_source(workdir / "world", lake)
    build(lake, "duckdb")
    setup = time.perf_counter() - t0
    engine = open_engine(engine_name)
    register_profile_sources(engine, lake)
    return {"users": float(users), "days": float(days), "setup_seconds": setup,
            **time_training(engine, outcome, **options)}
