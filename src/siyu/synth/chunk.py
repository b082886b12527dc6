"""One chunk of persons end to end: people → campaigns → purchases → links → events → files.

A chunk depends only on the shared :class:`Context` and its own ``SeedSequence`` child, so chunks can
run in any process in any order and still give byte-identical files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from siyu.synth.batch import EventBatch
from siyu.synth.behaviour import emit_interactions
from siyu.synth.catalog import Catalog
from siyu.synth.config import ACQ_CHANNELS, DefectRates, TrueParams
from siyu.synth.identity import Stamper
from siyu.synth.lifecycle import Lifecycle
from siyu.synth.links import give_mp_to_early_buyers, plan_links, truth_rows
from siyu.synth.purchases import Orders, Touches, campaign_touches, choose_order_channels, simulate_orders
from siyu.synth.render import render
from siyu.synth.world import People, draw_people
from siyu.synth.writer import entity_table, ts_array, write_lines_gz, write_table


@dataclass
class Context:
    """Everything shared by all chunks (sent once to each worker)."""

    out_dir: Path
    users: int
    days: int
    start_ms: int
    dates: list[str]
    catalog: Catalog
    params: TrueParams
    rates: DefectRates
    salts: tuple[int, int, int]
    width: int


@dataclass
class ChunkJob:
    index: int
    lo: int
    n: int
    seed: np.random.SeedSequence


@dataclass
class ChunkResult:
    index: int
    n: int
    counts: dict[str, int]
    gb_lines: list[bytes]
    touches: list[int]
    orders: int
    identifiers: int
    tablet_persons: int
    ab: dict[str, float] = field(default_factory=dict)
    acquired: list[list[int]] = field(default_factory=list)  # [channel][day] persons acquired in the window
    files: list[str] = field(default_factory=list)


def part_name(index: int) -> str:
    return f"part-{index:05d}"


def run_chunk(ctx: Context, job: ChunkJob) -> ChunkResult:
    """Generate and write one chunk; return its counts for the summary and the truth files."""
    cat, tp = ctx.catalog, ctx.params
    rng = np.random.default_rng(job.seed)
    py = random.Random(int(job.seed.generate_state(2, dtype=np.uint64)[0]))
    pe = draw_people(rng, job.lo, job.n, ctx.days, cat, tp, ctx.salts, ctx.width)
    touches = campaign_touches(rng, pe, cat, tp)
    orders = simulate_orders(rng, pe, touches, cat, tp)
    pe.drop_t = orders.drop_t
    pe.dis_t = np.minimum(orders.drop_t, pe.lapse_t)
    give_mp_to_early_buyers(rng, pe, orders)
    choose_order_channels(rng, pe, orders)
    mp_person = np.bincount(orders.person[orders.channel == 2], minlength=pe.n) > 0
    plan_links(rng, pe, orders, mp_person)

    stamper = Stamper(pe, cat, rng.integers(0, 4, pe.n).tolist())
    batch = EventBatch()
    rows = Lifecycle(pe, cat, tp, stamper, py, batch, job.index, ctx.dates).run(orders, touches)
    emit_interactions(rng, pe, cat, tp, stamper, batch, job.index)
    out = render(batch, rng, py, ctx.rates, ctx.start_ms)

    root, name = ctx.out_dir, part_name(job.index)
    files = [root / "events" / f"{name}.jsonl.gz"]
    write_lines_gz(files[0], out.lines)
    assignments = _assignments(pe, cat, touches)
    for entity, cols in (("orders", rows.orders), ("order_items", rows.items), ("customer_staff", rows.customer_staff),
                         ("experiment_assignments", assignments)):
        path = root / "entities" / entity / f"{name}.parquet"
        write_table(path, entity_table(entity, cols, ctx.start_ms))
        files.append(path)
    types, values, owners = truth_rows(pe)
    write_table(root / "truth" / "_parts" / f"identities-{name}.parquet", pa.table({
        "identifier_type": pa.array(types, pa.string()), "identifier_value": pa.array(values, pa.string()),
        "person_id": pa.array(owners, pa.string())}))
    write_table(root / "truth" / "_parts" / f"persons-{name}.parquet", _persons_table(ctx, pe, orders, touches))

    in_test = touches.ab_group > 0
    ab = {"eligible": float(in_test.sum()), "treatment": float((touches.ab_group == 2).sum()),
          "ate_sum": float(np.minimum(tp.ab_lift, 1.0 - orders.ab_p0[in_test]).sum())}
    return ChunkResult(
        index=job.index, n=job.n, counts=out.counts, gb_lines=out.gb_lines,
        touches=np.bincount(touches.campaign, minlength=len(cat.campaigns)).tolist(),
        orders=len(orders.person), identifiers=len(types), tablet_persons=int((pe.tablet >= 0).sum()),
        ab=ab, acquired=_acquired(pe, ctx.days), files=[str(f.relative_to(root)) for f in files])


def _assignments(pe: People, cat: Catalog, touches: Touches) -> dict[str, list[Any]]:
    """The A/B tool's export: who was assigned to which variant of the A/B campaign, by WeCom contact id
    (the eligible audience are identified WeCom contacts), assigned at the start of the send day."""
    idx = np.flatnonzero(touches.ab_group > 0)
    ab = cat.ab_campaign
    return {"experiment_id": [ab.campaign_id] * len(idx), "unit_type": ["wecom_external_userid"] * len(idx),
            "unit_value": [pe.ext[i] for i in idx.tolist()],
            "variant": ["treatment" if touches.ab_group[i] == 2 else "control" for i in idx.tolist()],
            "assigned_at": [float(ab.send_day)] * len(idx)}


def _acquired(pe: People, days: int) -> list[list[int]]:
    """Persons acquired in the window, per acquisition channel and day (for the spend entity)."""
    inside = (pe.acq >= 0) & (pe.acq < days)
    counts = np.zeros((len(ACQ_CHANNELS), days), dtype=np.int64)
    np.add.at(counts, (pe.channel[inside], pe.acq[inside].astype(np.int64)), 1)
    return counts.tolist()


def _persons_table(ctx: Context, pe: People, orders: Orders, touches: Touches) -> pa.Table:
    n = pe.n
    days = float(ctx.days)
    n_orders = np.bincount(orders.person, minlength=n)
    n_inc = np.bincount(orders.person[orders.incremental], minlength=n)
    spend = np.round(np.bincount(orders.person, weights=orders.amount, minlength=n), 2)
    drop = np.where(orders.drop_t < days, orders.drop_t, np.nan)
    dis = np.where(pe.dis_t < days, pe.dis_t, np.nan)
    reg = np.where(pe.registered, pe.reg_t, np.nan)
    ab = np.array([None, "control", "treatment"], dtype=object)[touches.ab_group]
    cat = ctx.catalog
    return pa.table({
        "person_id": pa.array(pe.pid, pa.string()),
        "acquisition_channel": pa.array([ACQ_CHANNELS[c] for c in pe.channel.tolist()], pa.string()),
        "acquired_at": ts_array(ctx.start_ms, pe.acq.tolist()),
        "anonymous_only": pa.array(pe.anon_only),
        "registered_at": ts_array(ctx.start_ms, reg.tolist()),
        "lambda": pa.array(pe.lam, pa.float64(), from_pandas=True),
        "p": pa.array(pe.p, pa.float64(), from_pandas=True),
        "nu": pa.array(pe.nu, pa.float64(), from_pandas=True),
        "dropout_at": ts_array(ctx.start_ms, drop.tolist()),
        "disengaged_at": ts_array(ctx.start_ms, dis.tolist()),
        "ab_group": pa.array(ab.tolist(), pa.string()),
        "n_orders": pa.array(n_orders, pa.int32()),
        "n_orders_incremental": pa.array(n_inc, pa.int32()),
        "n_orders_before_start": pa.array(orders.n_before, pa.int32()),
        "total_spend": pa.array(spend, pa.float64()),
        "boost_days": pa.array(np.round(orders.boost_days, 6), pa.float64()),
        "entity_link": pa.array(pe.entity_link, pa.string()),
        "home_store_id": pa.array([cat.store_ids[s] for s in pe.home_store.tolist()], pa.string()),
        "owner_staff_id": pa.array([cat.staff_ids[s] if s >= 0 else None for s in pe.owner.tolist()], pa.string()),
    })
