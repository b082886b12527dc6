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
import re
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa

from siyu.core.config import get_settings
from siyu.core.errors import BadInputFile
from siyu.core.identifiers import ID_COLUMNS, IdentifierType
from siyu.core.validation import Accepted, Reason, Rejected, validate_line
from siyu.warehouse.lake import Lake
from siyu.warehouse.schemas import ODS_EVENTS, QUARANTINE

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
        }


def event_files(source: Path) -> list[Path]:
    """Event files under ``source/events`` (or ``source`` itself when it is a file or holds them)."""
    if source.is_file():
        return [source]
    root = source / "events" if (source / "events").is_dir() else source
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(EVENT_SUFFIXES)
                  and not p.name.startswith("."))


def _sniff_encoding(head: bytes) -> str:
    """UTF-8 unless the head is not UTF-8 but is GB18030 (WeCom admin exports often are)."""
    if b"\x00" in head[:8192]:
        raise BadInputFile("binary data (NUL bytes) where JSON lines were expected", code="binary_file")
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sniff window
            return "utf-8"
    try:
        head.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8"  # decode line by line and quarantine the bad ones


def _open_bytes(path: Path) -> io.BufferedIOBase:
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _lines(path: Path, report: FileReport) -> Iterator[tuple[int, bytes]]:
    """Raw lines of a (possibly gzip) file; a truncated or corrupt stream ends with an error noted."""
    stream = _open_bytes(path)
    try:
        head = stream.peek(65536) if hasattr(stream, "peek") else b""
        report.encoding = _sniff_encoding(bytes(head[:65536]))
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


class _Sink:
    """Buffers accepted rows per day and quarantined rows, flushing parquet files as they fill."""

    def __init__(self, lake: Lake, batch_id: str, flush_rows: int) -> None:
        self.lake, self.batch_id, self.flush_rows = lake, batch_id, flush_rows
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.quarantine: list[dict[str, Any]] = []
        self.buffered = 0
        self.seq = 0
        self.tz = ZoneInfo(get_settings().business_timezone)
        self.loaded_at = datetime.now(UTC)
        self.load_day = self.loaded_at.astimezone(self.tz).date().isoformat()
        self.days: set[str] = set()

    def accept(self, acc: Accepted, source: str) -> None:
        msg = acc.msg
        extra = {k: v for k, v in msg.items() if k not in ENVELOPE_KEYS}
        row: dict[str, Any] = {
            "message_id": acc.message_id, "type": acc.type, "event": acc.event,
            "user_id": _str(msg.get("userId")), "anonymous_id": _str(msg.get("anonymousId")),
            "ts_client": acc.timestamp, "sent_at": acc.sent_at, "received_at": acc.received_at,
            "event_time": acc.event_time,
            "properties": _json(msg.get("properties")), "traits": _json(msg.get("traits")),
            "context": _json(msg.get("context")), "extra": _json(extra) if extra else None,
            "id_problems": "; ".join(acc.id_problems) or None,
            "source": source, "batch_id": self.batch_id, "loaded_at": self.loaded_at,
        }
        for kind in IdentifierType:
            row[ID_COLUMNS[kind]] = acc.identifiers.get(kind)
        day = acc.event_time.astimezone(self.tz).date().isoformat()
        self.events[day].append(row)
        self.days.add(day)
        self._grow()

    def reject(self, rej: Rejected | str, detail: str, payload: bytes, source: str, line_no: int) -> None:
        reason = rej.reason.value if isinstance(rej, Rejected) else rej
        text = payload[:MAX_QUARANTINE_PAYLOAD].decode("utf-8", errors="backslashreplace")
        event = _EVENT_NAME.search(text[:4096])
        self.quarantine.append({
            "reason": reason, "detail": detail[:500], "event": event.group(1) if event else None,
            "source": source, "line_no": line_no,
            "payload": text, "payload_bytes": len(payload),
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "batch_id": self.batch_id, "loaded_at": self.loaded_at,
        })
        self._grow()

    def _grow(self) -> None:
        self.buffered += 1
        if self.buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        for day, rows in self.events.items():
            if rows:
                self.seq += 1
                table = pa.Table.from_pylist(rows, schema=ODS_EVENTS)
                self.lake.write_file("ods", "events", f"b-{self.batch_id}-{self.seq:05d}.parquet", table, dt=day)
        self.events.clear()
        if self.quarantine:
            self.seq += 1
            table = pa.Table.from_pylist(self.quarantine, schema=QUARANTINE)
            self.lake.write_file("ods", "quarantine", f"b-{self.batch_id}-{self.seq:05d}.parquet", table,
                                 dt=self.load_day)
            self.quarantine.clear()
        self.buffered = 0


#: Best-effort event name of a rejected line (it may not even be JSON), for per-event missing rates.
_EVENT_NAME = re.compile(r'"event"\s*:\s*"([^"\\]{1,100})"')


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


def _json(v: Any) -> str | None:
    return None if v is None else orjson.dumps(v).decode()


def import_events(source: Path, lake: Lake, *, flush_rows: int = 250_000,
                  progress: Callable[[int], None] | None = None) -> ImportReport:
    """Land every event file under ``source`` in ``lake/ods``; files already landed are skipped."""
    settings = get_settings()
    batch_id = uuid.uuid4().hex[:12]
    report = ImportReport(batch_id=batch_id)
    ledger = lake.read_state("imports")
    sink = _Sink(lake, batch_id, flush_rows)
    for path in event_files(source):
        fr = FileReport(path=str(path))
        report.files.append(fr)
        digest = file_digest(path)
        if digest in ledger:
            fr.skipped_already_imported = True
            continue
        try:
            for line_no, raw in _lines(path, fr):
                fr.lines += 1
                if not raw.strip():
                    fr.blank += 1
                    continue
                try:
                    text = raw.decode(fr.encoding)
                except UnicodeDecodeError as exc:
                    sink.reject(BAD_ENCODING, f"not {fr.encoding}: {exc}", raw, path.name, line_no)
                    fr.quarantined += 1
                    report.quarantine_by_reason[BAD_ENCODING] += 1
                    continue
                verdict = validate_line(text, max_bytes=settings.max_event_bytes)
                if isinstance(verdict, Rejected):
                    sink.reject(verdict, verdict.detail, raw, path.name, line_no)
                    fr.quarantined += 1
                    report.quarantine_by_reason[verdict.reason.value] += 1
                else:
                    sink.accept(verdict, path.name)
                    fr.accepted += 1
                if progress and fr.lines % 50_000 == 0:
                    progress(50_000)
        except BadInputFile as exc:
            fr.error = str(exc)
        sink.flush()
        ledger[digest] = {"path": str(path), "batch_id": batch_id, "accepted": fr.accepted,
                          "quarantined": fr.quarantined, "error": fr.error, "encoding": fr.encoding,
                          "lines": fr.lines}
        lake.write_state("imports", ledger)  # per file, so a crash re-lands at most one file
    sink.flush()
    report.days = sink.days
    return report


__all__ = ["ImportReport", "Reason", "event_files", "import_events"]
