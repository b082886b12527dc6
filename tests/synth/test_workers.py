"""The generator forks its workers only from a process with one OS thread; beside native thread pools
(LightGBM's OpenMP, DuckDB's workers) a forked child can die at once, so it spawns instead."""

from __future__ import annotations

import numpy as np

from siyu.synth.generate import _single_threaded


def test_native_thread_pools_count_as_threads() -> None:
    import lightgbm as lgb

    x = np.random.default_rng(0).random((500, 3))
    lgb.train({"objective": "binary", "verbose": -1, "num_threads": 2}, lgb.Dataset(x, (x[:, 0] > 0.5).astype(int)), 3)
    assert not _single_threaded()  # OpenMP's pool stays alive after training; Python's count says 1
