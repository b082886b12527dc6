"""Collect (采集): the HTTP collector's logic, its durable spool and the loader that lands it.

``Collector`` normalises and validates Segment-spec messages and appends them to the ``Spool``
(SQLite, fsynced, deduplicated by messageId); ``drain``/``DrainLoop`` move spooled rows into
``lake/ods`` exactly once and run the incremental build. See ``docs/collector.md``.

The function is not re-exported here: ``siyu.collect.drain`` stays the module (so that it can be
imported and patched as one); call ``from siyu.collect.drain import drain``.
"""

from siyu.collect.collector import BatchTooLarge, Collector, CollectResult, ItemError, normalise
from siyu.collect.drain import DrainError, DrainLoop, DrainReport, DrainStatus
from siyu.collect.spool import Spool, SpoolClosed, SpoolError, SpoolItem, SpoolRow, SpoolStats, default_spool_path

__all__ = [
    "BatchTooLarge", "CollectResult", "Collector", "DrainError", "DrainLoop", "DrainReport", "DrainStatus",
    "ItemError", "Spool", "SpoolClosed", "SpoolError", "SpoolItem", "SpoolRow", "SpoolStats", "default_spool_path",
    "normalise",
]
