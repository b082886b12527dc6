"""The engine seam: the only place that knows DuckDB from Spark.

Warehouse, profile and measurement logic is written once as SQL in siyu's dialect (DuckDB's) and
runs on either engine; :class:`SparkEngine` transpiles it with SQLGlot. Values from users are
always bound parameters (``$name``), never pasted into SQL text.
"""

from __future__ import annotations

from siyu.warehouse.engine.base import Engine, open_engine

__all__ = ["Engine", "open_engine"]
