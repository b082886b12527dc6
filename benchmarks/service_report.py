"""The service benchmark's report: one table (siyu · baseline · ratio) for the console and the markdown."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

MIB = 1024**2


def _f(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "–" if x is None else fmt.format(x)


def _lat(r: dict[str, Any]) -> str:
    lat = r.get("latency") or {}
    return f"{_f(lat.get('p50_ms'), '{:,.2f}')} / {_f(lat.get('p99_ms'), '{:,.2f}')}"


def _per(cpu: float | None, n: int | None, unit: int) -> float | None:
    """CPU milliseconds per ``unit`` items."""
    return cpu * 1000 * unit / n if cpu is not None and n else None


def _x(a: float | None, b: float | None) -> str:
    if not (a and b):
        return "–"
    x = a / b
    return f"{x:,.1f}×" if x >= 1 else f"{x:.2g}×"


def _mib(n: int | None) -> str:
    return "–" if not n else f"{n / MIB:,.0f} MiB"


def rows(results: dict[str, Any]) -> list[list[str]]:
    """``[measurement, siyu, baseline, siyu vs baseline]`` rows."""
    out: list[list[str]] = []
    p = results["params"]
    col = results.get("collector", {})
    siyu_c, floor_c = col.get("siyu", {}), col.get("floor", {})
    for shape, label in (("batch", f"/v1/batch ×{p['batch_size']}"), ("track", "/v1/track")):
        s, f = siyu_c.get(shape, {}), floor_c.get(shape, {})
        se, fe = s.get("events_per_s"), f.get("events_per_s")
        out.append([f"collector {label}, {p['connections']} conns: events/s", _f(se), _f(fe),
                    f"{se / fe:.1%} of the floor" if se and fe else "–"])
        out.append(["  request latency p50 / p99 ms", _lat(s), _lat(f), ""])
        out.append(["  events acknowledged (requests ok / sent)",
                    f"{s.get('events_acked', 0):,} ({s.get('requests_ok', 0):,} / {s.get('requests', 0):,})",
                    f"{f.get('events_acked', 0):,} ({f.get('requests_ok', 0):,} / {f.get('requests', 0):,})", ""])
        sc, fc = _per(s.get("server_cpu_seconds"), s.get("events_acked"), 1000), _per(
            f.get("server_cpu_seconds"), f.get("events_acked"), 1000)
        out.append(["  server CPU ms per 1,000 events", _f(sc, "{:,.1f}"), _f(fc, "{:,.1f}"),
                    f"{sc / fc:,.1f}× the floor's" if sc and fc else ""])
        out.append(["  server peak RSS", _mib(s.get("server_peak_rss_bytes")), _mib(f.get("server_peak_rss_bytes")),
                    ""])
    look = results.get("lookups", {})
    siyu_l, naive_l = look.get("siyu", {}), look.get("naive", {})
    for c in p["lookup_concurrency"]:
        s, n = siyu_l.get(f"c{c}", {}), naive_l.get(f"c{c}", {})
        sr, nr = s.get("requests_per_s"), n.get("requests_per_s")
        out.append([f"look-up by member_no, {c} conn{'s' if c > 1 else ''}: requests/s", _f(sr, "{:,.1f}"),
                    _f(nr, "{:,.1f}"), f"speed-up {_x(sr, nr)}" if sr and nr else "–"])
        sp, np_ = (s.get("latency") or {}).get("p50_ms"), (n.get("latency") or {}).get("p50_ms")
        out.append(["  latency p50 / p99 ms", _lat(s), _lat(n), f"p50 speed-up {_x(np_, sp)}" if sp and np_ else ""])
        sc, nc = _per(s.get("server_cpu_seconds"), s.get("requests_ok"), 1), _per(
            n.get("server_cpu_seconds"), n.get("requests_ok"), 1)
        out.append(["  server CPU ms per look-up", _f(sc, "{:,.2f}"), _f(nc, "{:,.2f}"), ""])
        out.append(["  server peak RSS", _mib(s.get("server_peak_rss_bytes")), _mib(n.get("server_peak_rss_bytes")),
                    ""])
    fr = results.get("freshness", {})
    if fr:
        bg = f", {fr['background_rate']:g} other events/s" if fr.get("background_rate") else ""
        out.append([f"event → queryable (timeline), drain every {fr['drain_interval_s']:g} s{bg}: p50 / max s",
                    f"{_f(fr.get('p50_s'), '{:,.2f}')} / {_f(fr.get('max_s'), '{:,.2f}')} "
                    f"({fr['seen']}/{fr['sent']} seen)", "", ""])
        out.append(["  serving snapshot rebuilt meanwhile", "yes" if fr.get("snapshot_rebuilt_during") else "no",
                    "", ""])
        out.append(["  server peak RSS", _mib(fr.get("server_peak_rss_bytes")), "", ""])
    for key, label in (("snapshot", "serving snapshot build"), ("snapshot_after_load", "snapshot rebuild after load")):
        sn = results.get(key, {})
        if "seconds" in sn:
            out.append([f"{label}: s / file size", f"{sn['seconds']:,.1f} s / {sn['bytes'] / MIB:,.1f} MiB", "", ""])
            out.append(["  peak RSS (its process)", _mib(sn.get("peak_rss_bytes")), "", ""])
        if "segment_store" in sn:
            st = sn["segment_store"]
            out.append(["  then the segment store: s / file size",
                        f"{st['seconds']:,.1f} s / {st['bytes'] / MIB:,.1f} MiB", "", ""])
    dr = results.get("drain", {})
    rep = dr.get("report") or {}
    if rep:
        steps = (rep.get("build") or {}).get("seconds") or {}
        out.append(["drain after the collector runs: events landed / drain s (process wall s)",
                    f"{rep.get('accepted', 0):,} / {_f(rep.get('seconds'), '{:,.1f}')} s "
                    f"({dr.get('wall_seconds', 0):,.1f} s)", "", ""])
        if steps:
            out.append(["  of which the incremental build s", f"{sum(steps.values()):,.1f}", "", ""])
        out.append(["  peak RSS (its process)", _mib(dr.get("peak_rss_bytes")), "", ""])
    ex = results.get("exactly_once", {})
    if ex:
        o, d = ex["ods"], ex["dwd"]
        out.append(["acknowledged events in ods exactly once",
                    f"{o['exactly_once']:,} of {o['acked']:,} ({'ok' if ex['ok'] else 'NOT OK'}): missing "
                    f"{o['missing']}, twice+ {o['more_than_once']}, unacknowledged {o['stored_not_acked']}", "", ""])
        out.append(["  … and in dwd", f"{d['exactly_once']:,} of {d['acked']:,}: missing {d['missing']}, "
                    f"twice+ {d['more_than_once']}", "", ""])
    return out


HEADER = ["measurement", "siyu serve", "baseline (same run)", "siyu vs baseline"]


def _intro(results: dict[str, Any]) -> str:
    m, p = results["machine"], results["params"]
    size = f"{results['profiles']:,} profiles" if results.get("profiles") else "?"
    return (f"{size} ({results['source_lake']}); {m['cpu_model']}, {m['cores_logical']} logical / "
            f"{m['cores_physical']} physical cores, {m['ram_gib']} GiB RAM, {m['os']}; Python {m['python']}, "
            f"duckdb {m['duckdb']}. Collector: {p['events']:,} batch events, {p['track_events']:,} single events, "
            f"{p['connections']} connections; look-ups: {p['lookups']:,} (naive {p['naive_lookups']:,}) per "
            f"concurrency over {results['sample']['member_no']:,} random member numbers; each measurement at most "
            f"{p['seconds']:g} s. Run {results['started']}.")


def print_results(console: Console, results: dict[str, Any]) -> None:
    console.rule("siyu service benchmark")
    console.print(_intro(results))
    t = Table(*HEADER, title="collector: baseline = bare uvicorn app answering {\"success\": true}; "
              "look-ups: baseline = DuckDB on the lake's Parquet per request")
    for r in rows(results):
        t.add_row(*r)
    console.print(t)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "### The service: collector, look-ups, freshness", "", _intro(results), "",
        "| " + " | ".join(HEADER) + " |", "|---|---:|---:|---:|",
        *["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows(results)], "",
        "Load from a separate process over loopback (keep-alive HTTP/1.1, closed loop per connection). Collector "
        "baseline: a bare ASGI app on the same uvicorn settings answering `{\"success\": true}` without parsing or "
        "storing (the HTTP floor). Look-up baseline: the same uvicorn, three DuckDB queries per request on "
        "`identity/nodes`, `ads/profiles` and `ads/tag_values` (no snapshot). siyu serve ran with `--no-drain` "
        "for the collector and look-ups, then `siyu collect drain` landed and built; freshness ran on a server "
        "with the loader on. Peak RSS and CPU are the server's whole process tree during that measurement "
        "(CPU: user + system seconds, all threads).",
    ]
    return "\n".join(lines) + "\n"
