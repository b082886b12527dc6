"""``generate_world``: run the chunks (in worker processes when there are several), then write the
shared entities, the GB18030 export and the truth files."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from siyu.synth.catalog import build_catalog
from siyu.synth.chunk import ChunkJob, ChunkResult, Context, run_chunk
from siyu.synth.config import ACQ_CHANNELS, ACQ_UNIT_COST, NPS_SCORE_P, DefectRates, TrueParams, WorldSummary
from siyu.synth.writer import concat_parquet, write_lines_gb18030, write_static_entities, write_table

GB_FILE = "wecom-export-gb18030.jsonl"
_CTX: Context | None = None


def _init_worker(ctx: Context) -> None:
    global _CTX
    _CTX = ctx


def _work(job: ChunkJob) -> ChunkResult:
    assert _CTX is not None
    return run_chunk(_CTX, job)


def _clean(out: Path) -> None:
    """Remove a previous world's files (only the ones this generator writes)."""
    patterns = ["events/part-*.jsonl.gz", f"events/{GB_FILE}", "entities/*.parquet",
                "entities/orders/part-*.parquet", "entities/order_items/part-*.parquet",
                "entities/customer_staff/part-*.parquet", "truth/*.parquet", "truth/*.json"]
    for pattern in patterns:
        for path in out.glob(pattern):
            path.unlink()
    shutil.rmtree(out / "truth" / "_parts", ignore_errors=True)


def _single_threaded() -> bool:
    """True when this process has one OS thread. Python's thread count misses native pools (OpenMP from
    LightGBM or scikit-learn, DuckDB's workers), and a child forked beside them can die at once."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: trust Python's count
        return threading.active_count() == 1


def _results(ctx: Context, jobs: list[ChunkJob], workers: int) -> Iterator[ChunkResult]:
    workers = min(workers, len(jobs))
    if workers <= 1:
        for job in jobs:
            yield run_chunk(ctx, job)
        return
    # fork needs no re-import of the caller's __main__ and starts fast, but is only safe without threads
    fork_ok = "fork" in multiprocessing.get_all_start_methods() and _single_threaded()
    mp = multiprocessing.get_context("fork" if fork_ok else "spawn")
    with ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker, initargs=(ctx,)) as pool:
        yield from pool.map(_work, jobs)


def generate_world(out_dir: Path, *, users: int = 20_000, days: int = 180, seed: int = 7,
                   start: date = date(2026, 1, 1), defects: DefectRates | None = None,
                   progress: Callable[[int], None] | None = None, workers: int | None = None,
                   chunk_size: int = 5_000, params: TrueParams | None = None) -> WorldSummary:
    """Write a synthetic private-domain world with planted ground truth under ``out_dir``.

    Deterministic: equal arguments give byte-identical files, whatever ``workers`` is (default: the
    CPU count, at most 4). Memory stays flat (one chunk of ``chunk_size`` persons per worker, ~300 MB);
    ``progress(n)`` gets the number of persons done after each chunk. Worker processes are forked when
    the caller has no other threads and spawned otherwise; spawning re-imports the caller's
    ``__main__``, so scripts must call this under ``if __name__ == "__main__":``. Files of an earlier
    world in ``out_dir`` are replaced (only the files this generator writes are touched).
    ``params`` overrides the true process parameters (:class:`TrueParams`).
    """
    if not 1 <= users <= 10**7:
        raise ValueError("users must be within 1..10,000,000")
    if days < 1:
        raise ValueError("days must be at least 1")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    rates = defects or DefectRates()
    tp = params or TrueParams()
    n_chunks = (users + chunk_size - 1) // chunk_size
    seeds = np.random.SeedSequence(seed).spawn(n_chunks + 1)
    crng = np.random.default_rng(seeds[0])
    salts = tuple(int(x) for x in crng.integers(0, 10**9, 3))
    cat = build_catalog(crng, users, days)
    origin = datetime(start.year, start.month, start.day, tzinfo=timezone(timedelta(hours=8)))
    start_ms = int(origin.timestamp() * 1000)
    ctx = Context(out_dir=out, users=users, days=days, start_ms=start_ms,
                  dates=[(start + timedelta(days=d)).strftime("%Y%m%d") for d in range(days)],
                  catalog=cat, params=tp, rates=rates, salts=(salts[0], salts[1], salts[2]),
                  width=max(6, len(str(users))))
    jobs = [ChunkJob(k, k * chunk_size, min(chunk_size, users - k * chunk_size), seeds[k + 1])
            for k in range(n_chunks)]
    n_workers = workers if workers is not None else min(os.cpu_count() or 1, 4)

    summary = WorldSummary(out_dir=out, users=users, days=days, seed=seed)
    totals: dict[str, int] = {}
    touches = [0] * len(cat.campaigns)
    acquired = np.zeros((len(ACQ_CHANNELS), days), dtype=np.int64)
    ab = {"eligible": 0.0, "treatment": 0.0, "ate_sum": 0.0}
    gb_lines: list[bytes] = []
    done = tablet_persons = 0
    for res in _results(ctx, jobs, n_workers):
        for key, value in res.counts.items():
            totals[key] = totals.get(key, 0) + value
        touches = [a + b for a, b in zip(touches, res.touches, strict=True)]
        acquired += np.asarray(res.acquired, dtype=np.int64).reshape(acquired.shape)
        for key in ab:
            ab[key] += res.ab[key]
        gb_lines.extend(res.gb_lines)
        summary.orders += res.orders
        summary.identifiers += res.identifiers
        summary.files.extend(res.files)
        tablet_persons += res.tablet_persons
        done += res.n
        if progress is not None:
            progress(done)

    gb_count = write_lines_gb18030(out / "events" / GB_FILE, gb_lines)
    summary.files.append(f"events/{GB_FILE}")
    for path in write_static_entities(out / "entities", cat, start_ms, start, touches, acquired):
        summary.files.append(str(path.relative_to(out)))
    parts = out / "truth" / "_parts"
    write_table(parts / "identities-tablets.parquet", pa.table({
        "identifier_type": pa.array(["device_id"] * len(cat.tablets), pa.string()),
        "identifier_value": pa.array([t.device_id for t in cat.tablets], pa.string()),
        "person_id": pa.array([None] * len(cat.tablets), pa.string())}))
    concat_parquet([*sorted(parts.glob("identities-part-*.parquet")), parts / "identities-tablets.parquet"],
                   out / "truth" / "identities.parquet")
    summary.persons = concat_parquet(sorted(parts.glob("persons-part-*.parquet")), out / "truth" / "persons.parquet")
    shutil.rmtree(parts, ignore_errors=True)
    summary.identifiers += len(cat.tablets)

    summary.defects = {
        "duplicate_deliveries": totals.get("duplicate_deliveries", 0),
        "malformed_json": totals.get("malformed_json", 0),
        "missing_required_field": totals.get("missing_required_field", 0),
        "wrong_type": totals.get("wrong_type", 0),
        "clock_skew": totals.get("clock_skew", 0),
        "late_arrivals": totals.get("late_arrivals", 0),
        "gb18030_files": 1,
        "gb18030_events": gb_count,
        "shared_devices": len(cat.tablets),
        "shared_device_persons": tablet_persons,
        "valid_events": totals.get("valid_events", 0),
    }
    summary.valid_events = summary.defects["valid_events"]
    summary.lines_written = totals.get("lines", 0) + gb_count
    _write_json(out / "truth" / "defects.json", {**summary.defects, "lines_written": summary.lines_written})
    _write_json(out / "truth" / "params.json", _params(ctx, touches, ab, seed, start, acquired))
    summary.files += ["truth/identities.parquet", "truth/persons.parquet", "truth/params.json", "truth/defects.json"]
    return summary


def _write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _params(ctx: Context, touches: list[int], ab: dict[str, float], seed: int, start: date,
            acquired: np.ndarray) -> dict[str, object]:
    tp, cat = ctx.params, ctx.catalog
    abc = cat.ab_campaign
    window_start = start + timedelta(days=abc.send_day)
    return {
        "seed": seed, "users": ctx.users, "days": ctx.days, "start": start.isoformat(),
        "time_origin": datetime.fromtimestamp(ctx.start_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
        "bg_nbd": {"r": tp.r, "alpha": tp.alpha, "a": tp.a, "b": tp.b, "time_unit": "day"},
        "gamma_gamma": {"p": tp.p_gg, "q": tp.q, "gamma": tp.gamma, "currency": "CNY"},
        "campaigns": [{
            "campaign_id": c.campaign_id, "name": c.name, "channel": c.channel,
            "send_date": (start + timedelta(days=c.send_day)).isoformat(), "effect": c.effect,
            "effect_definition": "purchase rate x (1 + effect) for effect_days after each delivered message",
            "effect_days": tp.effect_days, "audience_frac": c.audience_frac, "touched": k,
            "coupon_value": c.coupon_value, "is_ab_test": c.is_ab_test,
        } for c, k in zip(cat.campaigns, touches, strict=True)],
        "acquisition_cost": {
            "unit_cost": dict(zip(ACQ_CHANNELS, ACQ_UNIT_COST, strict=True)),
            "acquired": dict(zip(ACQ_CHANNELS, acquired.sum(axis=1).tolist(), strict=True)),
            "definition": "spend entity rows with purpose 'acquisition' book unit_cost per person acquired that "
                          "day; acquired counts persons whose acquisition time falls inside the window",
        },
        "nps": {
            "planted": round(100 * (sum(NPS_SCORE_P[9:]) - sum(NPS_SCORE_P[:7])), 9),
            "score_p": list(NPS_SCORE_P),
            "definition": "survey_answered (survey_type nps) the day after a surveyed order; scores drawn from score_p",
        },
        "ab_test": {
            "campaign_id": abc.campaign_id, "lift": tp.ab_lift,
            "true_ate": round(ab["ate_sum"] / ab["eligible"], 12) if ab["eligible"] else None,
            "eligible": int(ab["eligible"]), "treatment": int(ab["treatment"]),
            "control": int(ab["eligible"] - ab["treatment"]),
            "window_start": window_start.isoformat(),
            "window_end": (window_start + timedelta(days=tp.effect_days)).isoformat(),
            "definition": ("conversion = at least one order_paid with paid_at in [window_start, window_end) "
                           "China time; eligible = identified WeCom contacts at window_start within a random "
                           "half of all persons, split 50/50; per-person absolute lift = min(lift, 1 - baseline "
                           "probability); true_ate is its mean over the eligible audience"),
        },
        "process": {k: v for k, v in asdict(tp).items()
                    if k not in ("r", "alpha", "a", "b", "p_gg", "q", "gamma", "ab_lift")},
        "store_tablets": [{"device_id": t.device_id, "store_id": cat.store_ids[t.store], "persons": len(t.persons)}
                          for t in cat.tablets],
        "conventions": {
            "customer_staff_state": "bind:<userId> is a personalised member-binding QR code (links the "
                                    "WeCom contact to that user id); other states are channel codes",
            "connector_anonymous_ids": "official-account and WeCom events use the openid / external_userid "
                                       "as anonymousId",
            "orders_openid": "<app_id>:<openid> of the mini program",
        },
    }
