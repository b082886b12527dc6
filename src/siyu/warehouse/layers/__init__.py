"""The SQL of each layer, written once in siyu's dialect (DuckDB's) and run on every engine.

Each module holds one layer's queries as constants. They read registered views (``ods_events``,
``dwd_events``, ``id_map`` …) and bound parameters only.
"""
