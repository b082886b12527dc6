"""The lake lock: builds exclude each other and pinning readers, across threads and processes; a pinned
lake keeps one version while builds replace tables."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siyu.warehouse.lake import Lake, LakeBusy, with_lake_lock

HOLD = """
import sys, time
from siyu.warehouse.lake import Lake
with Lake(sys.argv[1]).lock(shared=sys.argv[2] == "shared"):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _hold_in_process(root: Path, mode: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), mode, str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_exclusive_in_another_process_blocks_readers_and_writers(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    proc = _hold_in_process(tmp_path, "exclusive", 30)
    try:
        for shared in (True, False):
            with pytest.raises(LakeBusy, match="busy"), lake.lock(shared=shared, timeout=0.2):
                pass
    finally:
        proc.kill()
        proc.wait()
    with lake.lock(timeout=5):  # released when the holder dies, even by a kill
        pass


def test_readers_share_and_keep_writers_out(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    proc = _hold_in_process(tmp_path, "shared", 30)
    try:
        with lake.lock(shared=True, timeout=0.5):
            pass
        with pytest.raises(LakeBusy), lake.lock(timeout=0.2):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    order: list[str] = []
    entered = threading.Event()

    def writer() -> None:
        with lake.lock():
            entered.set()
            time.sleep(0.3)
            order.append("writer done")

    t = threading.Thread(target=writer)
    t.start()
    entered.wait(5)
    with lake.lock(shared=True, timeout=10):
        order.append("reader in")
    t.join()
    assert order == ["writer done", "reader in"]


def test_reentrant_within_a_thread_but_no_upgrade(tmp_path: Path) -> None:
    lake = Lake(tmp_path)

    @with_lake_lock()
    def outer(lk: Lake) -> str:
        return inner(lk)

    @with_lake_lock()
    def inner(lk: Lake) -> str:
        return "ok"

    assert outer(lake) == "ok"
    with lake.lock(shared=True), lake.lock(shared=True), pytest.raises(RuntimeError, match="exclusively"), \
            lake.lock():
        pass
    with lake.lock(timeout=0.5):  # everything was released
        pass


def _table(values: list[int]) -> pa.Table:
    return pa.table({"x": pa.array(values, pa.int64())})


def test_a_pinned_lake_keeps_its_version_while_tables_are_replaced(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_file("ads", "profiles", "part-0.parquet", _table([1, 2, 3]))
    lake.write_file("dwd", "events", "a.parquet", _table([7]), dt="2026-03-01")
    lake.write_file("ods", "events", "b.parquet", _table([9]), dt="2026-03-01")
    lake.write_state("build-duckdb", {"v": 1})
    with lake.pinned() as version:
        assert version.root != lake.root and version.root.name.startswith(".pin-")
        # a build replaces the table and a partition while the pinned reader works
        with lake.staging("ads", "profiles") as tmp:
            (tmp / "out").mkdir()
            pq.write_table(_table([4, 5]), tmp / "out" / "part-0.parquet")
            lake.replace_table("ads", "profiles", tmp / "out")
        with lake.staging("dwd", "events") as tmp:
            pq.write_table(_table([8]), tmp / "c.parquet")
            lake.replace_partition("dwd", "events", "2026-03-01", tmp)
        lake.write_state("build-duckdb", {"v": 2})
        assert pq.read_table(version.files("ads", "profiles"))["x"].to_pylist() == [1, 2, 3]
        assert pq.read_table(version.files("dwd", "events"))["x"].to_pylist() == [7]
        assert version.read_state("build-duckdb") == {"v": 1}
        assert not version.exists("ods", "events"), "raw events are left out of a pin"
        pin_root = version.root
    assert pq.read_table(lake.files("ads", "profiles"))["x"].to_pylist() == [4, 5]
    assert not pin_root.exists()
    assert not [p for p in lake.root.rglob("*.parquet") if ".pin-" in str(p)]


BUILD_THEN_WRITE = """
import sys, time
import pyarrow as pa
from siyu.warehouse.lake import Lake
lake = Lake(sys.argv[1])
with lake.lock():
    print("held", flush=True)
    time.sleep(0.5)
    lake.write_file("ads", "profiles", "late.parquet", pa.table({"x": pa.array([2], pa.int64())}))
"""


def test_pinning_waits_for_a_running_build(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_file("ads", "profiles", "part-0.parquet", _table([1]))
    proc = subprocess.Popen([sys.executable, "-c", BUILD_THEN_WRITE, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with lake.pinned() as version:  # the build's last write is in: the pin waited for it to finish
            assert sorted(pq.read_table(version.files("ads", "profiles"))["x"].to_pylist()) == [1, 2]
    finally:
        proc.wait()
