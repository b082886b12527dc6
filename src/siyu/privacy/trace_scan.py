"""Trace scan (残留检查): proof that erased people left nothing behind — a substring search.

:func:`scan_for_traces` looks for each needle (an erased one_id, identifier, messageId, order id, or
anything else: a plaintext phone as written) as a **substring** of

* every text value of every Parquet file under the lake root, hidden ones included (staging folders,
  ``_serving/.pin-*`` hard links, leftovers): all VARCHAR columns, and nested columns as their text;
* every table of every DuckDB file (the serving snapshot and segment store, by default every
  ``*.duckdb`` under the root), text and nested columns the same way;
* every other file under the root as text (``_state/*.json``, pointers, fingerprints);
* the given spool files: every text or BLOB value of every table, and the raw bytes of the database
  file and its ``-wal``/``-journal`` (so content SQLite freed but did not overwrite is found too).

It shares no code with the rewriter on purpose, and its test compares it with a brute-force search.
Files and spools are searched with Python's ``in``. In Parquet and DuckDB tables, comparing every row
with every needle (``contains``) costs rows × needles — 25M events × 50,000 needles is out of reach —
so the rows are found through each needle's *key*, its longest run of ASCII letters and digits
(``5369112`` for ``u_5369112``, the longest hex group of a uuid): the text of each row is cut into such
runs (``regexp_extract_all``), semi-joined with the keys, and the rows found are read back and every
value checked with ``needle in value``. A hit is therefore an occurrence of the needle whose key is a
whole word of the row — ``u_123`` is found in ``bind:u_123`` and in JSON, and ``u_12`` is not reported
inside ``u_123`` (a different id). Needles whose key is shorter than ``KEY_MIN`` characters are
compared with every row (``contains``), as are all needles when there are at most ``BRUTE_MAX``.
Zero hits is the proof; each hit names the file, table, column, needle and rows.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from siyu.core.config import get_settings
from siyu.core.identifiers import IdentifierType
from siyu.warehouse.engine.duckdb_engine import total_memory_gib
from siyu.warehouse.lake import LOCK_FILE, Lake

#: Text files larger than this are searched in chunks.
_CHUNK = 64 * 1024 * 1024
_SEP = "\x1f"  # joins a row's values
_F, _R = '"__trace_file"', '"__trace_row"'  # the file and row columns added to what is scanned
#: Shortest key (run of letters and digits) a needle is found by; shorter keys are compared row by row.
KEY_MIN = 4
#: Up to this many needles every row is simply compared with every needle.
BRUTE_MAX = 64
_WORD = re.compile("[A-Za-z0-9]+")


@dataclass(frozen=True)
class TraceHit:
    kind: str  # parquet | duckdb | file | spool
    path: str
    table: str
    column: str
    needle: str
    rows: int
    equal: bool  # some value equals the needle (else it only contains it)


@dataclass
class TraceReport:
    needles: int
    scanned: dict[str, int] = field(default_factory=dict)
    hits: list[TraceHit] = field(default_factory=list)
    #: places that could not be read (``path: error``): a scan with errors proves nothing about them
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.hits and not self.errors

    def by_table(self) -> dict[str, int]:
        """``kind:table`` → rows (or occurrences) with a trace."""
        out: dict[str, int] = defaultdict(int)
        for h in self.hits:
            out[f"{h.kind}:{h.table}"] += h.rows
        return dict(out)

    def as_dict(self, *, with_needles: bool = False) -> dict[str, Any]:
        """For the record; without ``with_needles`` the needles themselves are left out."""
        hits = [asdict(h) if with_needles else {**asdict(h), "needle": None} for h in self.hits]
        return {"needles": self.needles, "scanned": self.scanned, "clean": self.clean, "hits": hits,
                "errors": self.errors, "seconds": self.seconds}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _textual(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return True
    if pa.types.is_dictionary(t):
        return _textual(t.value_type)
    return bool(pa.types.is_nested(t))  # lists, structs, maps: searched as their text


def _table_name(root: Path, f: Path) -> str:
    parts = [p for p in f.relative_to(root).parts[:-1] if "=" not in p]
    return "/".join(parts) or "."


#: ``type:`` prefixes of needles: their words ("wecom", "external", "userid") are in every row's JSON, so a
#: needle's key is taken from what follows the prefix.
_TYPE_PREFIXES = tuple(f"{t}:" for t in ("one_id", *(i.value for i in IdentifierType)))


def _key(needle: str) -> str | None:
    value = needle[needle.index(":") + 1:] if needle.startswith(_TYPE_PREFIXES) else needle
    words = _WORD.findall(value)
    key = max(words, key=len) if words else ""
    return key if len(key) >= KEY_MIN else None


def _rows_with_needles(con: duckdb.DuckDBPyConnection, source: str, columns: list[str],
                       params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """``(file-or-'', row id, needle)`` for every row of ``source`` that may hold a needle: its text
    contains a brute-force needle, or has a keyed needle's key as a whole word (checked afterwards)."""
    text = f"concat_ws('{_SEP}', " + ", ".join(f"CAST({_q(c)} AS VARCHAR)" for c in columns) + ")"
    brute = con.execute(
        f"SELECT s.{_F}, s.{_R}, n.needle FROM (SELECT {_F}, {_R}, {text} AS txt FROM {source}) AS s "
        "JOIN trace_brute AS n ON contains(s.txt, n.needle)", params).fetchall()
    # The words of 25M rows are billions: they must stream past a hash of the (few) keys, never be the build
    # side of a join, so they are filtered with IN first and joined to their needles only when they matched.
    keyed = con.execute(
        f"SELECT DISTINCT w.{_F}, w.{_R}, k.needle FROM (SELECT * FROM (SELECT {_F}, {_R}, "
        f"unnest(regexp_extract_all({text}, '[A-Za-z0-9]{{{KEY_MIN},}}')) AS word FROM {source}) AS u "
        "WHERE u.word IN (SELECT key FROM trace_keys)) AS w JOIN trace_keys AS k ON k.key = w.word",
        params).fetchall()
    return brute + keyed


def _column_hits(con: duckdb.DuckDBPyConnection, source: str, columns: list[str], params: dict[str, Any],
                 rows: list[tuple[Any, ...]]) -> dict[tuple[str, str, str], list[int]]:
    """``(file, column, needle)`` → [rows, rows where equal], for the rows found by :func:`_rows_with_needles`:
    those rows are read back and each of their values is checked in Python."""
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    wanted: dict[tuple[str, int], list[str]] = defaultdict(list)
    for f, r, needle in rows:
        wanted[(f, int(r))].append(needle)
    con.register("trace_rows", pa.table({"f": pa.array([k[0] for k in wanted], pa.string()),
                                         "r": pa.array([k[1] for k in wanted], pa.int64())}))
    text = ", ".join(f"CAST(s.{_q(c)} AS VARCHAR) AS {_q(c)}" for c in columns)
    back = con.execute(f"SELECT s.{_F}, s.{_R}, {text} FROM {source} AS s SEMI JOIN trace_rows AS h "
                       f"ON h.f = s.{_F} AND h.r = s.{_R}", params).fetchall()
    con.unregister("trace_rows")
    for f, r, *values in back:
        for needle in wanted[(f, int(r))]:
            for c, value in zip(columns, values, strict=True):
                if value is not None and needle in value:
                    out[(f, c, needle)][0] += 1
                    out[(f, c, needle)][1] += value == needle
    return out


def _scan_parquet(con: duckdb.DuckDBPyConnection, root: Path, report: TraceReport) -> None:
    tables: dict[tuple[str, pa.Schema], list[str]] = defaultdict(list)
    for f in sorted(root.rglob("*.parquet")):
        if f.is_file():
            try:
                schema = pq.read_schema(f).remove_metadata()
            except (OSError, pa.ArrowException) as exc:
                report.errors.append(f"{f}: {type(exc).__name__}: {exc}"[:500])
                continue
            tables[(_table_name(root, f), schema)].append(str(f))
    for (table, schema), files in tables.items():
        report.scanned["parquet"] = report.scanned.get("parquet", 0) + len(files)
        columns = [fld.name for fld in schema if _textual(fld.type)]
        if columns:
            source = (f"(SELECT *, {_F}, file_row_number AS {_R} FROM read_parquet($files, filename = '{_F[1:-1]}', "
                      "file_row_number = true, hive_partitioning = false))")
            _guarded(report, f"{root}/{table}", _scan_source, con, "parquet", table, source, columns,
                     {"files": files}, report)


def _scan_source(con: duckdb.DuckDBPyConnection, kind: str, table: str, source: str, columns: list[str],
                 params: dict[str, Any], report: TraceReport, path: str = "") -> None:
    if {_F[1:-1], _R[1:-1]} & set(columns):
        raise ValueError(f"a column is named {_F} or {_R}")
    rows = _rows_with_needles(con, source, columns, params)
    if rows:
        for (fname, c, needle), (n, eq) in _column_hits(con, source, columns, params, rows).items():
            report.hits.append(TraceHit(kind, fname or path, table, c, needle, n, eq > 0))


def _scan_duckdb(con: duckdb.DuckDBPyConnection, path: Path, report: TraceReport) -> None:
    report.scanned["duckdb"] = report.scanned.get("duckdb", 0) + 1
    con.execute("ATTACH $p AS trace_db (READ_ONLY)", {"p": str(path)})
    try:
        cols = con.execute("SELECT c.schema_name, c.table_name, c.column_name, c.data_type FROM duckdb_columns() AS c "
                           "JOIN duckdb_tables() AS t ON t.database_name = c.database_name "
                           "AND t.schema_name = c.schema_name AND t.table_name = c.table_name "
                           "WHERE c.database_name = 'trace_db' ORDER BY 1, 2, c.column_index").fetchall()
        tables: dict[tuple[str, str], list[str]] = defaultdict(list)
        for schema, table, column, dtype in cols:
            if any(k in str(dtype) for k in ("VARCHAR", "JSON", "[]", "STRUCT", "MAP", "UNION")):
                tables[(schema, table)].append(column)
        for (schema, table), columns in tables.items():
            source = f"(SELECT *, '' AS {_F}, rowid AS {_R} FROM trace_db.{_q(schema)}.{_q(table)})"
            _guarded(report, f"{path}:{table}", _scan_source, con, "duckdb", table, source, columns, {}, report,
                     str(path))
    finally:
        con.execute("DETACH trace_db")


def _count_in_file(path: Path, needles: list[bytes]) -> dict[bytes, int]:
    """Occurrences of each needle in a file's bytes (chunked, with an overlap so none is cut in two)."""
    counts: dict[bytes, int] = defaultdict(int)
    overlap = max((len(n) for n in needles), default=1) - 1
    with path.open("rb") as fh:
        tail = b""
        while chunk := fh.read(_CHUNK):
            data = tail + chunk
            for n in needles:
                # count occurrences starting after the carried-over tail's start that were not counted yet
                counts[n] += data.count(n) - tail.count(n)
            tail = data[-overlap:] if overlap else b""
    return {n: c for n, c in counts.items() if c}


def _scan_files(root: Path, needles: list[str], report: TraceReport) -> None:
    raw = [n.encode() for n in needles]
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix in (".parquet", ".duckdb") or p.name.endswith(".lock"):
            continue
        report.scanned["file"] = report.scanned.get("file", 0) + 1
        for n, c in _count_in_file(p, raw).items():
            report.hits.append(TraceHit("file", str(p), _table_name(root, p), "", n.decode(), c, False))


def _scan_spool(path: Path, needles: list[str], report: TraceReport) -> None:
    report.scanned["spool"] = report.scanned.get("spool", 0) + 1
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({_q(table)})")]
            for c in columns:
                counts: dict[tuple[str, bool], int] = defaultdict(int)
                for (value,) in conn.execute(f"SELECT {_q(c)} FROM {_q(table)}"):
                    if isinstance(value, bytes | str):
                        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                        for n in needles:
                            if n in text:
                                counts[(n, text == n)] += 1
                for (n, eq), k in counts.items():
                    report.hits.append(TraceHit("spool", str(path), table, c, n, k, eq))
    finally:
        conn.close()
    raw = [n.encode() for n in needles]
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")):
        if p.exists():
            for b, k in _count_in_file(p, raw).items():
                report.hits.append(TraceHit("spool", str(p), "", "<file bytes>", b.decode(), k, False))


def _guarded(report: TraceReport, where: str, scan: Callable[..., None], *args: Any) -> None:
    try:
        scan(*args)
    except (duckdb.Error, sqlite3.Error, OSError, pa.ArrowException, ValueError) as exc:
        report.errors.append(f"{where}: {type(exc).__name__}: {exc}"[:500])


def scan_for_traces(roots: Lake | str | Path | Sequence[Lake | str | Path], needles: Iterable[str], *,
                    spool_paths: Iterable[str | Path] = (), duckdb_files: Iterable[str | Path] | None = None
                    ) -> TraceReport:
    """Every place under ``roots`` (a lake, or several folders) and in ``spool_paths`` holding a needle.

    ``duckdb_files`` None: every ``*.duckdb`` under the roots (the serving files). Empty needles are ignored.
    A lake's lock is held shared while it is scanned (builds wait). What cannot be read (a DuckDB file
    another process is writing) is listed in ``errors``, and the report is then not clean.
    """
    t0 = time.perf_counter()
    wanted = sorted({n for n in needles if n})
    report = TraceReport(needles=len(wanted))
    if not wanted:
        return report
    items = roots if isinstance(roots, Sequence) and not isinstance(roots, str) else [roots]
    lakes = [r if isinstance(r, Lake) else Lake(r) for r in items]
    con = duckdb.connect()
    spill = tempfile.mkdtemp(prefix="siyu-trace-")
    try:
        con.execute("SET enable_progress_bar = false")
        # Bounded like the engine (half the machine unless configured) and allowed to spill, so a large lake
        # makes the scan slower, never the machine run out of memory.
        con.execute("SET memory_limit = $m", {"m": get_settings().duckdb_memory_limit or
                                               f"{max(1, int(total_memory_gib() * 0.5))}GB"})
        con.execute("SET temp_directory = $t", {"t": spill})
        keys = {n: _key(n) for n in wanted} if len(wanted) > BRUTE_MAX else {}
        brute = [n for n in wanted if keys.get(n) is None]
        con.register("trace_brute", pa.table({"needle": pa.array(brute, pa.string())}))
        con.register("trace_keys", pa.table({"needle": pa.array([n for n, k in keys.items() if k], pa.string()),
                                             "key": pa.array([k for k in keys.values() if k], pa.string())}))
        for lake in lakes:
            # shared, as readers take it: no build replaces a file halfway through the scan
            with lake.lock(shared=True) if (lake.root / LOCK_FILE).exists() else contextlib.nullcontext():
                _scan_parquet(con, lake.root, report)
                _scan_files(lake.root, wanted, report)
                dbs = [Path(p) for p in duckdb_files] if duckdb_files is not None else \
                    sorted(lake.root.rglob("*.duckdb"))
                for db in dbs:
                    _guarded(report, str(db), _scan_duckdb, con, db, report)
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    for sp in spool_paths:
        if Path(sp).exists():
            _guarded(report, str(sp), _scan_spool, Path(sp), wanted, report)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
