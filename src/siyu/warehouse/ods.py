"""Landing (ODS): read canonical event files and entity exports into ``lake/ods``.

Every line ends in exactly one place: ``ods/events`` (accepted, partitioned by the business day of
its clock-corrected time) or ``ods/quarantine`` (rejected, with a reason code and the original
payload). Files that cannot be read at all are reported with a reason; the good rows read before
a defect (e.g. a truncated gzip) are kept.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import multiprocessing as mp
import os
import re
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from siyu.core.config import get_settings
from siyu.core.errors import BadInputFile
from siyu.core.identifiers import ID_COLUMNS
from siyu.core.logs import get_logger
from siyu.core.validation import Accepted, Reason, Rejected, validate_line
from siyu.privacy.landing import protect_json, redact_text
from siyu.warehouse.lake import Lake
from siyu.warehouse.schemas import ODS_EVENTS_VIEW, QUARANTINE

log = get_logger(__name__)
EVENT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".gz")
BAD_ENCODING = "bad_encoding"
#: Quarantined payloads keep at most this much text (plus the size and a hash of the whole).
MAX_QUARANTINE_PAYLOAD = 1024 * 1024
ENVELOPE_KEYS = frozenset({
    "type", "messageId", "userId", "anonymousId", "event", "name", "properties", "traits", "context",
    "timestamp", "sentAt", "receivedAt", "previousId", "groupId", "originalTimestamp",
})


@dataclass
class FileReport:
    path: str
    encoding: str = "utf-8"
    lines: int = 0
    accepted: int = 0
    quarantined: int = 0
    blank: int = 0
    skipped_already_imported: bool = False
    error: str | None = None


@dataclass
class ImportReport:
    batch_id: str
    files: list[FileReport] = field(default_factory=list)
    entity_files: list[FileReport] = field(default_factory=list)
    quarantine_by_reason: Counter[str] = field(default_factory=Counter)
    entity_rows: dict[str, int] = field(default_factory=dict)
    days: set[str] = field(default_factory=set)

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "quarantine_by_reason": dict(sorted(self.quarantine_by_reason.items())),
            "days": sorted(self.days),
            "entity_rows": self.entity_rows,
            "files": [f.__dict__ for f in self.files],
            "entity_files": [f.__dict__ for f in self.entity_files],
        }


def event_files(source: Path) -> list[Path]:
    """Event files under ``source/events`` (or ``source`` itself when it is a file or holds them)."""
    if source.is_file():
        return [source]
    root = source / "events" if (source / "events").is_dir() else source
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(EVENT_SUFFIXES)
                  and not p.name.startswith("."))


_NON_ASCII = re.compile(rb"[\x80-\xff]")


def _sniff_encoding(head: bytes) -> str:
    """UTF-8 unless most non-ASCII lines of the head are not UTF-8 but are GB18030 (WeCom admin exports
    often are). Deciding by lines, not by the whole head, keeps one corrupt line in a UTF-8 file from
    turning the file into GB18030 (which decodes almost any bytes)."""
    if b"\x00" in head[:8192]:
        raise BadInputFile("binary data (NUL bytes) where JSON lines were expected", code="binary_file")
    lines = [line for line in head.split(b"\n")[:-1] if _NON_ASCII.search(line)] or [head]
    utf8 = gb = 0
    for line in lines:
        try:
            line.decode("utf-8")
            utf8 += 1
            continue
        except UnicodeDecodeError as exc:
            if line is head and exc.start >= len(head) - 4:  # a multi-byte character cut by the window
                utf8 += 1
                continue
        try:
            line.decode("gb18030")
            gb += 1
        except UnicodeDecodeError:
            pass
    return "gb18030" if gb > utf8 else "utf-8"  # undecodable lines are quarantined one by one


def _non_ascii_head(path: Path, limit: int = 8 << 20, window: int = 65536) -> bytes:
    """Up to ``window`` bytes from the line holding the file's first non-ASCII byte (read at most
    ``limit`` bytes to find it); empty when the start of the file is plain ASCII.

    An export whose first lines happen to be ASCII-only says nothing about its encoding, so the sniff
    looks where the first Chinese character is.
    """
    stream = _open_bytes(path)
    try:
        tail, total = b"", 0
        while total < limit:
            chunk = stream.read(window)
            if not chunk:
                return b""
            total += len(chunk)
            buf = tail + chunk
            hit = _NON_ASCII.search(buf, len(tail))
            if hit is not None:
                line_start = buf.rfind(b"\n", 0, hit.start()) + 1
                return buf[line_start:line_start + window]
            tail = buf[-window:]
        return b""
    except (EOFError, OSError, zlib.error):
        return b""  # a cut or corrupt stream: reading the lines reports it
    finally:
        stream.close()


def _open_bytes(path: Path) -> io.BufferedIOBase:
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return path.open("rb")


def _lines(path: Path, report: FileReport) -> Iterator[tuple[int, bytes]]:
    """Raw lines of a (possibly gzip) file; a truncated or corrupt stream ends with an error noted."""
    stream = _open_bytes(path)
    try:
        head = bytes(stream.peek(8192)[:8192]) if hasattr(stream, "peek") else b""
        if b"\x00" in head:
            raise BadInputFile("binary data (NUL bytes) where JSON lines were expected", code="binary_file")
        report.encoding = _sniff_encoding(_non_ascii_head(path))
        for n, line in enumerate(stream, start=1):
            yield n, line.rstrip(b"\r\n")
    except (EOFError, OSError, zlib.error) as exc:
        report.error = f"file ends early or is corrupt after the rows read: {exc}"
    finally:
        stream.close()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


class _FileLander:
    """Validates lines into column buffers, spilling staged parquet files as they fill.

    Lines come from any iterator of ``(line_no, raw bytes)`` (:meth:`land`): a file's lines in an
    import worker process, or the collector spool's rows (``siyu.collect.drain``). Writes only
    under ``stage`` (never into the lake itself).
    """

    def __init__(self, stage: Path, batch_id: str, tag: str, loaded_at: datetime, flush_rows: int,
                 timezone: str | None = None) -> None:
        self.stage, self.batch_id, self.tag, self.loaded_at = stage, batch_id, tag, loaded_at
        self.flush_rows = flush_rows
        self.tz = ZoneInfo(timezone or get_settings().business_timezone)
        self.events: dict[str, list[Any]] = {name: [] for name in ODS_EVENTS_VIEW.names}
        self.quarantine: dict[str, list[Any]] = {name: [] for name in QUARANTINE.names}
        self.seq = 0
        self.days: set[str] = set()
        self.day_cache: dict[tuple[int, int, int, int], date] = {}

    def land(self, records: Iterable[tuple[int, bytes]], source: str, report: FileReport,
             reasons: Counter[str], *, max_bytes: int) -> None:
        """Validate each ``(line_no, raw)`` record into an accepted or a quarantine row.

        ``report`` counts lines, blanks and accepted rows; its ``encoding`` is read for every line
        because a file's encoding is only known once its reader has started.
        """
        for line_no, raw in records:
            report.lines += 1
            if not raw.strip():
                report.blank += 1
                continue
            try:
                text = raw.decode(report.encoding)
            except UnicodeDecodeError as exc:
                self.reject(BAD_ENCODING, f"not {report.encoding}: {exc}", raw, source, line_no)
                reasons[BAD_ENCODING] += 1
                continue
            verdict = validate_line(text, max_bytes=max_bytes)
            if isinstance(verdict, Rejected):
                self.reject(verdict.reason.value, verdict.detail, raw, source, line_no)
                reasons[verdict.reason.value] += 1
            else:
                self.accept(verdict, source)
                report.accepted += 1

    def accept(self, acc: Accepted, source: str) -> None:
        msg, cols = acc.msg, self.events
        extra = {k: v for k, v in msg.items() if k not in ENVELOPE_KEYS}
        cols["message_id"].append(acc.message_id)
        cols["type"].append(acc.type)
        cols["event"].append(acc.event)
        cols["user_id"].append(_str(msg.get("userId")))
        cols["anonymous_id"].append(_str(msg.get("anonymousId")))
        cols["ts_client"].append(acc.timestamp)
        cols["sent_at"].append(acc.sent_at)
        cols["received_at"].append(acc.received_at)
        cols["event_time"].append(acc.event_time)
        # Identifiers were tokenised by validation; personal values in the free-form JSON are protected here.
        cols["properties"].append(_json(protect_json(msg.get("properties"))))
        cols["traits"].append(_json(protect_json(msg.get("traits"))))
        cols["context"].append(_json(protect_json(msg.get("context"))))
        cols["extra"].append(_json(protect_json(extra)) if extra else None)
        cols["id_problems"].append(redact_text("; ".join(acc.id_problems)) or None)
        cols["source"].append(source)
        cols["batch_id"].append(self.batch_id)
        cols["loaded_at"].append(self.loaded_at)
        for kind, column in ID_COLUMNS.items():
            cols[column].append(acc.identifiers.get(kind))
        t = acc.event_time
        hour_key = (t.year, t.month, t.day, t.hour)
        day = self.day_cache.get(hour_key)
        if day is None:  # the business day of an hour in UTC never varies: compute once per hour
            day = self.day_cache[hour_key] = t.astimezone(self.tz).date()
        cols["dt"].append(day)
        if len(cols["message_id"]) >= self.flush_rows:
            self.flush()

    def reject(self, reason: str, detail: str, payload: bytes, source: str, line_no: int) -> None:
        text = redact_text(payload[:MAX_QUARANTINE_PAYLOAD].decode("utf-8", errors="backslashreplace"))
        event = _EVENT_NAME.search(text[:4096])
        row = {
            "reason": reason, "detail": redact_text(detail[:500]), "event": event.group(1) if event else None,
            "source": source, "line_no": line_no, "payload": text, "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(), "batch_id": self.batch_id,
            "loaded_at": self.loaded_at,
        }
        for k, v in row.items():
            self.quarantine[k].append(v)
        if len(self.quarantine["reason"]) >= 10_000:
            self.flush()

    def flush(self) -> None:
        for kind, cols, schema in (("accepted", self.events, ODS_EVENTS_VIEW), ("quarantine", self.quarantine,
                                                                                QUARANTINE)):
            if not cols[schema.names[0]]:
                continue
            self.seq += 1
            folder = self.stage / kind
            folder.mkdir(parents=True, exist_ok=True)
            table = pa.table(cols, schema=schema)
            if kind == "accepted":
                self.days.update(str(d) for d in set(cols["dt"]))
                table = table.sort_by("dt")
            pq.write_table(table, folder / f"{self.tag}-{self.seq:05d}.parquet", compression="zstd")
            for v in cols.values():
                v.clear()


def _land_file(path: Path, stage: Path, batch_id: str, tag: str, loaded_at: datetime,
               flush_rows: int) -> tuple[FileReport, Counter[str], set[str]]:
    """Validate every line of one file into staged parquet (a worker's whole job)."""
    settings = get_settings()
    fr = FileReport(path=str(path))
    reasons: Counter[str] = Counter()
    lander = _FileLander(stage, batch_id, tag, loaded_at, flush_rows)
    try:
        lander.land(_lines(path, fr), path.name, fr, reasons, max_bytes=settings.max_event_bytes)
    except BadInputFile as exc:
        fr.error = str(exc)
    lander.flush()
    fr.quarantined = sum(reasons.values())
    return fr, reasons, lander.days


def _publish(stage: Path, lake: Lake, batch_id: str, load_day: str) -> None:
    """Move a batch's staged rows into the lake: one file per day partition, renamed into place."""
    accepted = sorted((stage / "accepted").glob("*.parquet")) if (stage / "accepted").exists() else []
    if accepted:
        out = stage / "partitioned"
        ds.write_dataset(
            ds.dataset([str(p) for p in accepted], schema=ODS_EVENTS_VIEW, format="parquet"), out,
            format="parquet", partitioning=["dt"], partitioning_flavor="hive",
            basename_template=f"b-{batch_id}-{{i}}.parquet", min_rows_per_group=8192,
            max_rows_per_file=4_000_000, existing_data_behavior="overwrite_or_ignore",
            file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
        )
        for part in sorted(out.iterdir()):
            target = lake.table_dir("ods", "events") / part.name
            target.mkdir(parents=True, exist_ok=True)
            for f in part.glob("*.parquet"):
                os.replace(f, target / f.name)
    quarantined = sorted((stage / "quarantine").glob("*.parquet")) if (stage / "quarantine").exists() else []
    if quarantined:
        table = pa.concat_tables(pq.read_table(p) for p in quarantined)
        lake.write_file("ods", "quarantine", f"b-{batch_id}.parquet", table, dt=load_day)


def import_events(source: Path, lake: Lake, *, workers: int | None = None, flush_rows: int = 200_000,
                  progress: Callable[[int], None] | None = None) -> ImportReport:
    """Land every event file under ``source`` in ``lake/ods``; files already landed are skipped.

    Files are validated in parallel worker processes (``workers``, default: one per core) into a
    staging folder, then published into the day partitions in one step.
    """
    batch_id = uuid.uuid4().hex[:12]
    report = ImportReport(batch_id=batch_id)
    ledger = lake.read_state("imports")
    loaded_at = datetime.now(UTC)
    load_day = loaded_at.astimezone(ZoneInfo(get_settings().business_timezone)).date().isoformat()
    todo: list[tuple[Path, str]] = []
    for path in event_files(source):
        digest = file_digest(path)
        if digest in ledger or any(d == digest for _p, d in todo):
            report.files.append(FileReport(path=str(path), skipped_already_imported=True))
        else:
            todo.append((path, digest))
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    with lake.staging("ods", f"import-{batch_id}") as stage:
        jobs = [(path, stage, batch_id, f"f{i:05d}", loaded_at, flush_rows) for i, (path, _d) in enumerate(todo)]
        if n_workers > 1:
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn")) as pool:
                results = pool.map(_land_file_job, jobs)
                done = list(_report_progress(results, progress))
        else:
            done = list(_report_progress(map(_land_file_job, jobs), progress))
        _publish(stage, lake, batch_id, load_day)
    for (path, digest), (fr, reasons, days) in zip(todo, done, strict=True):
        report.files.append(fr)
        report.quarantine_by_reason.update(reasons)
        report.days |= days
        ledger[digest] = {"path": str(path), "batch_id": batch_id, "loaded_at": loaded_at.isoformat(),
                          "accepted": fr.accepted,
                          "quarantined": fr.quarantined, "error": fr.error, "encoding": fr.encoding,
                          "lines": fr.lines}
    lake.write_state("imports", ledger)
    log.info("import.done", batch_id=batch_id, files=len(todo), accepted=report.accepted,
             quarantined=report.quarantined, reasons=dict(report.quarantine_by_reason))
    for fr in report.files:
        if fr.error:
            log.warning("import.file_problem", path=fr.path, error=fr.error)
    return report


def _land_file_job(job: tuple[Path, Path, str, str, datetime, int]) -> tuple[FileReport, Counter[str], set[str]]:
    return _land_file(*job)


def _report_progress(results: Iterable[tuple[FileReport, Counter[str], set[str]]],
                     progress: Callable[[int], None] | None) -> Iterator[tuple[FileReport, Counter[str], set[str]]]:
    for item in results:
        if progress:
            progress(item[0].lines)
        yield item


#: Best-effort event name of a rejected line (it may not even be JSON), for per-event missing rates.
_EVENT_NAME = re.compile(r'"event"\s*:\s*"([^"\\]{1,100})"')


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _json(v: Any) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


__all__ = ["ImportReport", "Reason", "event_files", "import_events"]
