"""Segment export jobs: queued, run one at a time in the background, files kept in an export folder.

Jobs live in memory (a restart forgets them; their files stay in the folder). Each job writes
``<export_dir>/<job_id>.<format>`` atomically, so a listed file is always complete.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from siyu.core.logs import get_logger

log = get_logger("siyu.serving")

Status = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True)
class ExportJob:
    job_id: str
    segment: str
    format: Literal["csv", "parquet"]
    status: Status
    created_at: datetime
    created_by: str
    rows: int | None = None
    error: str | None = None
    finished_at: datetime | None = None


class ExportJobs:
    """Queue of export jobs with their state; ``run`` is given the output path and returns the row count."""

    def __init__(self, folder: Path, *, keep: int = 500) -> None:
        self.folder = folder
        self.keep = keep
        self._jobs: dict[str, ExportJob] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siyu-export")

    def path(self, job: ExportJob) -> Path:
        return self.folder / f"{job.job_id}.{job.format}"

    def submit(self, segment: str, fmt: Literal["csv", "parquet"], created_by: str,
               run: Callable[[Path], int]) -> ExportJob:
        job = ExportJob(job_id=uuid.uuid4().hex[:16], segment=segment, format=fmt, status="queued",
                        created_at=datetime.now(UTC), created_by=created_by)
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > self.keep:
                self._jobs.pop(next(iter(self._jobs)))
        self._pool.submit(self._run, job.job_id, run)
        return job

    def _set(self, job_id: str, **changes: object) -> None:
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id] = replace(self._jobs[job_id], **changes)  # type: ignore[arg-type]

    def _run(self, job_id: str, run: Callable[[Path], int]) -> None:
        job = self.get(job_id)
        if job is None:
            return
        self._set(job_id, status="running")
        try:
            rows = run(self.path(job))
        except Exception as exc:
            log.error("export.failed", job_id=job_id, error=repr(exc)[:500])
            self._set(job_id, status="failed", error=str(exc)[:500], finished_at=datetime.now(UTC))
            return
        self._set(job_id, status="done", rows=rows, finished_at=datetime.now(UTC))

    def get(self, job_id: str) -> ExportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
