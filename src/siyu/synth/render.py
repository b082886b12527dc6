"""Turn a chunk's serialised bodies into JSON lines: ids, envelope times, and the planted defects.

Envelope timing: ``timestamp`` is the true time as the device saw it, ``sentAt`` is 0–30 s later and
``receivedAt`` 0.05–2 s after that. Clock-skewed events shift ``timestamp`` and ``sentAt`` by the same
10 min – 3 day offset (``receivedAt`` stays true, so ``receivedAt - (sentAt - timestamp)`` recovers the
true time); late arrivals are sent 1–48 h after ``timestamp``. A retried duplicate differs from its
original only in ``receivedAt`` (0–5 s later). Lines are written in true-time order, duplicates a few
hundred lines after their original, defective lines anywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import orjson

from siyu.synth import defects
from siyu.synth.batch import EventBatch
from siyu.synth.config import APP, CHINA_OFFSET_MS, DAY_MS, MP, OA, TABLET, DefectRates
from siyu.synth.world import uuid_bytes, uuid_matrix

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def to_ms(start_ms: int, t: np.ndarray) -> np.ndarray:
    """True epoch milliseconds of float day offsets (the one formula events and entities share)."""
    return start_ms + np.round(np.asarray(t, dtype=np.float64) * DAY_MS).astype(np.int64)


def _iso_digits(ms: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS.mmm`` (23 ASCII bytes per row) for epoch milliseconds, by array arithmetic."""
    n = len(ms)
    day = np.floor_divide(ms, DAY_MS)
    rem = ms - day * DAY_MS
    uniq, inv = np.unique(day, return_inverse=True)
    dates = np.frombuffer(np.datetime_as_string(uniq.astype("datetime64[D]")).astype("S10").tobytes(),
                          dtype=np.uint8).reshape(len(uniq), 10)
    buf = np.empty((n, 23), dtype=np.uint8)
    buf[:, :10] = dates[inv.ravel()]
    zero = ord("0")
    for col, value in ((11, rem // 3_600_000), (14, rem // 60_000 % 60), (17, rem // 1000 % 60)):
        buf[:, col] = zero + value // 10
        buf[:, col + 1] = zero + value % 10
    frac = rem % 1000
    buf[:, 20] = zero + frac // 100
    buf[:, 21] = zero + frac // 10 % 10
    buf[:, 22] = zero + frac % 10
    buf[:, 10] = ord("T")
    buf[:, 13] = buf[:, 16] = ord(":")
    buf[:, 19] = ord(".")
    return buf


def _ascii(text: bytes) -> np.ndarray:
    return np.frombuffer(text, dtype=np.uint8)


def envelope_tails(mids: np.ndarray, ts: np.ndarray, sent: np.ndarray, recv: np.ndarray,
                   local: np.ndarray) -> list[bytes]:
    """The end of each line: ``,"messageId":…,"timestamp":…,"sentAt":…,"receivedAt":…}``.

    Built as one fixed-width byte matrix (``timestamp`` in UTC ``Z`` or, where ``local``, China time
    ``+08:00``); ``mids`` is an ``(n, 36)`` matrix of UUID characters.
    """
    out: list[bytes] = [b""] * len(ts)
    for is_local in (False, True):
        rows = np.flatnonzero(local == is_local)
        if not len(rows):
            continue
        shown = ts[rows] + (CHINA_OFFSET_MS if is_local else 0)
        pieces = [_ascii(b',"messageId":"'), mids[rows], _ascii(b'","timestamp":"'), _iso_digits(shown),
                  _ascii(b"+08:00" if is_local else b"Z"), _ascii(b'","sentAt":"'), _iso_digits(sent[rows]),
                  _ascii(b'Z","receivedAt":"'), _iso_digits(recv[rows]), _ascii(b'Z"}')]
        width = sum(p.shape[-1] for p in pieces)
        buf = np.empty((len(rows), width), dtype=np.uint8)
        at = 0
        for p in pieces:
            buf[:, at:at + p.shape[-1]] = p
            at += p.shape[-1]
        for i, tail in zip(rows.tolist(), buf.view(f"S{width}").ravel().tolist(), strict=True):
            out[i] = tail
    return out


@dataclass
class Rendered:
    lines: list[bytes]
    gb_lines: list[bytes]
    counts: dict[str, int] = field(default_factory=dict)


def _roles(rng: np.random.Generator, n_files: int, device: np.ndarray, gb: np.ndarray,
           rates: DefectRates) -> np.ndarray:
    """0 clean, 1 duplicated, 2 clock skew, 3 late arrival — at most one per event."""
    role = np.zeros(len(gb), np.int8)
    cand = rng.permutation(np.flatnonzero(device & ~gb))
    k_skew = min(len(cand), int(rng.binomial(n_files, rates.clock_skew)))
    k_late = min(len(cand) - k_skew, int(rng.binomial(n_files, rates.late_arrivals)))
    role[cand[:k_skew]] = 2
    role[cand[k_skew:k_skew + k_late]] = 3
    free = np.flatnonzero((role == 0) & ~gb)
    k_dup = min(len(free), int(rng.binomial(n_files, rates.duplicate_deliveries)))
    role[rng.choice(free, size=k_dup, replace=False)] = 1
    return role


def _templates(rng: np.random.Generator, bodies: list[bytes], clean: np.ndarray, k_mal: int, k_miss: int,
               k_wrong: int) -> tuple[list[int], list[int], list[int]]:
    """Clean events to copy into defective lines; wrong-type copies need a required property."""
    if not len(clean):
        return [], [], []
    t_mal = rng.choice(clean, size=k_mal).tolist()
    t_miss = rng.choice(clean, size=k_miss).tolist()
    t_wrong: list[int] = []
    for i in rng.permutation(clean).tolist():
        if len(t_wrong) >= k_wrong:
            break
        if defects.property_template_ok(orjson.loads(bodies[i] + b"}")):
            t_wrong.append(i)
    return t_mal, t_miss, t_wrong


def render(batch: EventBatch, rng: np.random.Generator, py: random.Random, rates: DefectRates,
           start_ms: int) -> Rendered:
    """Complete the envelopes, plant defects and return the chunk's lines (and its GB18030 lines)."""
    t, surf, gb_ok = batch.arrays()
    bodies = batch.bodies
    n = len(t)
    device = np.isin(surf, (APP, MP, OA, TABLET))
    local = np.isin(surf, (MP, OA)) & (rng.random(n) < 0.5)
    gb = gb_ok & (rng.random(n) < rates.gb18030_share)
    n_files = int(n - gb.sum())
    role = _roles(rng, n_files, device, gb, rates)

    ts = to_ms(start_ms, t)
    sent = ts + rng.integers(0, 30_001, n)
    recv = sent + rng.integers(50, 2_001, n)
    skew = role == 2
    offset = rng.integers(10 * MINUTE_MS, 3 * 24 * HOUR_MS + 1, n) * np.where(rng.random(n) < 0.5, -1, 1)
    late = role == 3
    late_sent = ts + rng.integers(HOUR_MS, 48 * HOUR_MS + 1, n)
    sent = np.where(late, late_sent, sent)
    recv = np.where(late, late_sent + rng.integers(50, 2_001, n), recv)
    dup = np.flatnonzero(role == 1)
    retry = recv[dup] + np.where(rng.random(len(dup)) < 0.5, 0, rng.integers(1_000, 5_001, len(dup)))
    mids = uuid_matrix(rng, n)
    shown_ts = np.where(skew, ts + offset, ts)
    shown_sent = np.where(skew, sent + offset, sent)
    tails = envelope_tails(mids, shown_ts, shown_sent, recv, local)
    retry_tails = dict(zip(dup.tolist(), envelope_tails(mids[dup], shown_ts[dup], shown_sent[dup], retry,
                                                        local[dup]), strict=True))

    clean = np.flatnonzero((role == 0) & ~gb)
    k_mal = int(rng.binomial(n_files, rates.malformed_json))
    k_miss = int(rng.binomial(n_files, rates.missing_required_field))
    k_wrong = int(rng.binomial(n_files, rates.wrong_type))
    t_mal, t_miss, t_wrong = _templates(rng, bodies, clean, k_mal, k_miss, k_wrong)

    full = [b + tail for b, tail in zip(bodies, tails, strict=True)]
    order = np.argsort(t, kind="stable")
    in_files = order[~gb[order]]
    gb_lines = [full[i] for i in order[gb[order]].tolist()]
    rank = np.empty(n, np.int64)
    rank[in_files] = np.arange(len(in_files))
    dup_lines = [bodies[i] + retry_tails[i] for i in dup.tolist()]
    del bodies[:]  # the batch is spent; its bodies live on inside the lines

    new_ids = iter(m.decode() for m in uuid_bytes(rng, len(t_mal) + len(t_miss) + len(t_wrong)))
    bad = [defects.malformed(orjson.loads(full[i]), next(new_ids), py) for i in t_mal]
    bad += [orjson.dumps(defects.missing_required(orjson.loads(full[i]), next(new_ids), py)) for i in t_miss]
    bad += [orjson.dumps(defects.wrong_type(orjson.loads(full[i]), next(new_ids), py)) for i in t_wrong]

    # one pass over everything: valid lines by true time, each duplicate 1–300 lines after its original,
    # defective lines anywhere
    n_lines, n_dup = len(in_files), len(dup_lines)
    keys = np.concatenate([
        np.arange(n_lines, dtype=np.float64),
        rank[dup] + np.array([py.randint(1, 300) for _ in range(n_dup)], dtype=np.float64) + 0.5,
        rng.random(len(bad)) * max(1, n_lines),
    ])
    ids = np.concatenate([in_files, n + np.arange(n_dup), n + n_dup + np.arange(len(bad))])
    pool = full + dup_lines + bad
    del full
    out = [pool[j] for j in ids[np.argsort(keys, kind="stable")].tolist()]
    counts = {
        "duplicate_deliveries": n_dup, "malformed_json": len(t_mal), "missing_required_field": len(t_miss),
        "wrong_type": len(t_wrong), "clock_skew": int(skew.sum()), "late_arrivals": int(late.sum()),
        "gb18030_events": len(gb_lines), "valid_events": n, "lines": len(out),
    }
    return Rendered(out, gb_lines, counts)
