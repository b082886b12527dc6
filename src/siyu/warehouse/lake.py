"""Lake layout: ``LAKE/<layer>/<table>/dt=YYYY-MM-DD/*.parquet``, written atomically.

Every write goes to a hidden sibling folder first and is then renamed into place, so readers see
either the old partition or the new one, never half of one. Hidden folders (``.tmp-*``) and files
starting with ``_`` or ``.`` are ignored by both engines.

A reader that scans many tables over many seconds (a serving snapshot) needs more than that: one
version of all of them, and files that stay put while it reads. Builds hold :meth:`Lake.lock`
exclusively; such a reader takes it shared only for the milliseconds :meth:`Lake.pinned` needs to
hard-link the current files into a private folder, then reads those (a build never changes a file in
place, it writes new ones and renames, so a linked file's content is fixed) while builds go on.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

LAYERS = ("ods", "dwd", "dws", "ads", "identity", "models")

LOCK_FILE = "_state/lake.lock"
#: Where :meth:`Lake.pinned` puts its hidden, hard-linked copies (beside the serving files that read them).
PIN_DIR = "_serving"


class LakeBusy(TimeoutError):
    """The lake lock was not granted within the time asked for."""


_held = threading.local()  # lock path -> [shared?, depth] for the locks this thread holds

P = ParamSpec("P")
R = TypeVar("R")


class Lake:
    """Paths and atomic writes for one lake directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def table_dir(self, layer: str, table: str) -> Path:
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}")
        return self.root / layer / table

    @contextmanager
    def lock(self, *, shared: bool = False, timeout: float | None = None) -> Iterator[None]:
        """Hold the lake's lock: exclusive for writers that replace tables (builds), shared for readers
        that need one consistent version of many tables (serving snapshots).

        ``flock`` on ``_state/lake.lock``, so it holds across processes (``siyu build`` beside
        ``siyu serve``) and threads. Re-entrant within a thread (a tag build runs the profile build);
        a thread holding it shared may not take it exclusively. ``timeout`` None waits as long as it takes.
        """
        path = self.root / LOCK_FILE
        held: dict[str, list[Any]] = _held.__dict__.setdefault("locks", {})
        key = os.path.abspath(path)
        if key in held:
            if held[key][0] and not shared:
                raise RuntimeError("cannot take the lake lock exclusively while holding it shared")
            held[key][1] += 1
            try:
                yield
            finally:
                held[key][1] -= 1
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _acquire(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, timeout, path)
            held[key] = [shared, 1]
            try:
                yield
            finally:
                del held[key]
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def pinned(self, skip: tuple[tuple[str, str], ...] = (("ods", "events"), ("ods", "quarantine"))
               ) -> Iterator[Lake]:
        """A lake made of hard links to this one's current data files (every layer, ``_state``; not the
        tables in ``skip``), in a hidden folder removed on exit: one consistent version for a long read."""
        pin = self.root / PIN_DIR / f".pin-{uuid.uuid4().hex[:12]}"
        pin.mkdir(parents=True)
        try:
            with self.lock(shared=True):
                for top in (*LAYERS, "_state"):
                    _link_tree(self.root / top, pin / top, skip={self.root / a / b for a, b in skip})
            yield Lake(pin)
        finally:
            shutil.rmtree(pin, ignore_errors=True)

    def partition_dir(self, layer: str, table: str, dt: date | str) -> Path:
        return self.table_dir(layer, table) / f"dt={dt}"

    def partitions(self, layer: str, table: str) -> list[str]:
        """Sorted ``YYYY-MM-DD`` values of the table's partitions that hold data."""
        base = self.table_dir(layer, table)
        if not base.exists():
            return []
        out = []
        for d in base.iterdir():
            if d.is_dir() and d.name.startswith("dt=") and any(_data_files(d)):
                out.append(d.name[3:])
        return sorted(out)

    def files(self, layer: str, table: str) -> list[str]:
        """Every data file of a table (all partitions), for engines to scan."""
        base = self.table_dir(layer, table)
        if not base.exists():
            return []
        return sorted(str(p) for p in _data_files(base, recursive=True))

    def exists(self, layer: str, table: str) -> bool:
        return bool(self.files(layer, table))

    @contextmanager
    def staging(self, layer: str, table: str) -> Iterator[Path]:
        """A scratch folder next to the table; removed afterwards whatever happens."""
        base = self.table_dir(layer, table)
        base.parent.mkdir(parents=True, exist_ok=True)
        tmp = base.parent / f".tmp-{table}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def replace_partition(self, layer: str, table: str, dt: str, source_dir: Path) -> None:
        """Atomically make ``source_dir`` (a folder of parquet files) the partition ``dt``."""
        _swap_in(self.partition_dir(layer, table, dt), source_dir)

    def replace_table(self, layer: str, table: str, source_dir: Path) -> None:
        """Atomically replace a whole (unpartitioned or fully rebuilt) table."""
        _swap_in(self.table_dir(layer, table), source_dir)

    def commit_partitions(self, layer: str, table: str, out_dir: Path, days: list[str]) -> None:
        """Make ``out_dir/dt=D`` the partition D for each of ``days``; a day with no output is emptied."""
        for day in days:
            src = out_dir / f"dt={day}"
            if src.exists():
                self.replace_partition(layer, table, day, src)
            else:
                shutil.rmtree(self.partition_dir(layer, table, day), ignore_errors=True)

    def save_schema(self, layer: str, table: str, schema: pa.Schema) -> None:
        """Keep a zero-row ``_schema.parquet`` so an empty table still has columns to query."""
        folder = self.table_dir(layer, table)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"._schema.{uuid.uuid4().hex[:8]}.tmp"
        pq.write_table(schema.empty_table(), tmp)
        os.replace(tmp, folder / "_schema.parquet")

    def schema(self, layer: str, table: str) -> pa.Schema | None:
        path = self.table_dir(layer, table) / "_schema.parquet"
        return pq.read_schema(path) if path.exists() else None

    def write_file(self, layer: str, table: str, name: str, data: pa.Table, dt: str | None = None) -> Path:
        """Write one parquet file atomically (temp name, then rename) into a table or partition."""
        folder = self.partition_dir(layer, table, dt) if dt else self.table_dir(layer, table)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / name
        tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        pq.write_table(data, tmp, compression="zstd")
        os.replace(tmp, final)
        return final

    # --- small JSON state files (build manifest, identity state) ---------------------------------
    def state_path(self, name: str) -> Path:
        return self.root / "_state" / f"{name}.json"

    def read_state(self, name: str) -> dict[str, Any]:
        path = self.state_path(name)
        if not path.exists():
            return {}
        return dict(json.loads(path.read_text()))

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        path = self.state_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:  # on disk before the rename: a power cut leaves old or new
            f.write(json.dumps(state, indent=1, sort_keys=True, default=str))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def with_lake_lock(*, shared: bool = False) -> Callable[[Callable[Concatenate[Lake, P], R]],
                                                         Callable[Concatenate[Lake, P], R]]:
    """Run the decorated ``f(lake, ...)`` holding ``lake.lock(shared=shared)``."""
    def wrap(f: Callable[Concatenate[Lake, P], R]) -> Callable[Concatenate[Lake, P], R]:
        @functools.wraps(f)
        def locked(lake: Lake, *args: P.args, **kwargs: P.kwargs) -> R:
            with lake.lock(shared=shared):
                return f(lake, *args, **kwargs)
        return locked
    return wrap


def _link_tree(src: Path, dst: Path, skip: set[Path]) -> None:
    """Hard-link every file under ``src`` into ``dst`` (same layout), leaving out hidden scratch and ``skip``."""
    if not src.is_dir() or src in skip:
        return
    dst.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(src):
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            _link_tree(Path(entry.path), dst / entry.name, skip)
        elif entry.is_file(follow_symlinks=False) and not entry.name.endswith(".lock"):
            os.link(entry.path, dst / entry.name)


def _acquire(fd: int, mode: int, timeout: float | None, path: Path) -> None:
    if timeout is None:
        fcntl.flock(fd, mode)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LakeBusy(f"the lake is busy (lock {path} held by a build or a reader) after {timeout:g} s") \
                    from None
            time.sleep(0.05)


def _swap_in(target: Path, source_dir: Path) -> None:
    """Rename ``source_dir`` to ``target``, moving any old ``target`` aside first and deleting it after."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
    if target.exists():
        os.rename(target, old)
    os.rename(source_dir, target)
    shutil.rmtree(old, ignore_errors=True)


def _data_files(folder: Path, recursive: bool = False) -> Iterator[Path]:
    it = folder.rglob("*.parquet") if recursive else folder.glob("*.parquet")
    for p in it:
        rel = p.relative_to(folder).parts
        if any(part.startswith((".", "_")) for part in rel):
            continue
        yield p
