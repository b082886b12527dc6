"""The service's moving parts, built once per process and handed to the routes.

``ServiceRuntime`` owns the operational store, the consent ledger and checker, the collector and its
spool, the loader thread, the serving snapshot keeper and look-up, the segment service, export jobs and
the rate limiter.
"""

from __future__ import annotations

from pathlib import Path

from siyu.api.config import ServiceConfig
from siyu.api.ratelimit import KeyRateLimiter
from siyu.collect.collector import Collector
from siyu.collect.drain import DrainLoop
from siyu.collect.spool import Spool
from siyu.core.config import get_settings
from siyu.privacy.audit import AuditLog
from siyu.privacy.consent_ledger import ConsentLedger
from siyu.serving.consent_check import ConsentChecker, ConsentRecorder
from siyu.serving.exports import ExportJobs
from siyu.serving.keeper import ServedFile, SnapshotKeeper
from siyu.serving.lookup import PersonLookup
from siyu.serving.segment_store import build_segment_store
from siyu.serving.segments import SegmentService
from siyu.serving.snapshot import build_snapshot
from siyu.store.db import Store, open_store
from siyu.warehouse.lake import Lake


class ServiceRuntime:
    """Everything a request may touch; ``start``/``stop`` run the background threads."""

    def __init__(self, config: ServiceConfig) -> None:
        settings = get_settings()
        home = Path(settings.home)
        self.config = config
        self.lake = Lake(config.lake)
        self.lake.root.mkdir(parents=True, exist_ok=True)
        self.store: Store = open_store(config.store_url)
        self.audit = AuditLog(self.store)
        spool_path = config.spool or Path(settings.spool_path or home / "spool.db")
        self.spool = Spool(spool_path)
        self.lookup = PersonLookup(self.lake)
        self.consent_ledger = ConsentLedger(self.store)
        self.consent = ConsentChecker(self.lookup, self.consent_ledger)
        self.collector = Collector(self.spool, max_event_bytes=config.max_event_bytes,
                                   max_batch_bytes=config.max_batch_bytes,
                                   consent_sink=ConsentRecorder(self.consent_ledger, self.lookup, self.audit))
        self.segments = SegmentService(self.lake)
        self.keeper = SnapshotKeeper(self.lake, [ServedFile("snapshot", build_snapshot, self.lookup.refresh),
                                                 ServedFile("segments", build_segment_store, self.segments.refresh)],
                                     min_interval_seconds=config.snapshot_interval_seconds)
        self.exports = ExportJobs(config.export_dir or home / "exports")
        self.limiter = KeyRateLimiter(config.rate_limit_per_minute)
        self.drain_loop: DrainLoop | None = (
            DrainLoop(self.spool, self.lake, interval=config.drain_interval_seconds, build_engine=config.build_engine)
            if config.drain else None)

    def start(self) -> None:
        if self.drain_loop is not None:
            self.drain_loop.start()
        self.keeper.start()

    def stop(self) -> None:
        """Stop the threads (the loader drains once more), then close files and connections."""
        if self.drain_loop is not None:
            self.drain_loop.stop()
        self.keeper.stop()
        self.exports.close()
        self.segments.close()
        self.lookup.close()
        self.spool.close()
        self.store.close()
