"""The profile benchmark's report: one table of tag builds, segment sizes, real-time latency; console and markdown."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.run import GIB

BASELINE = "pandas"


def tag_seconds(r: dict[str, Any]) -> float | None:
    """Seconds of the tag step: the engines' ``tags`` (reads the lake, writes each level); pandas: read + evaluate
    + write ``tag_values``."""
    s = r.get("seconds")
    if not s:
        return None
    return s["load"] + s["evaluate"] + s["write"] if "evaluate" in s else s.get("tags")


def total_seconds(r: dict[str, Any]) -> float | None:
    s = r.get("seconds")
    return round(sum(s.values()), 3) if s else None


def _ratio(base: float | None, mine: float | None) -> str:
    if not (base and mine):
        return "–"
    x = base / mine
    return f"{x:.1f}×" if x >= 1 else f"{x:.2g}×"


def _f(x: float | None, fmt: str = "{:,.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def tag_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the tag-build table, one column per engine (console and markdown)."""
    engines = {e: r for e, r in results["engines"].items() if "seconds" in r}
    base = tag_seconds(engines.get(BASELINE, {}))
    header = ["", *engines]
    rows: list[list[str]] = []

    def row(label: str, fn: Any) -> None:
        rows.append([label, *[fn(e, r) for e, r in engines.items()]])

    row("facts s (RFM, lifecycle, tiers)", lambda e, r: "read from duckdb" if e == BASELINE
        else _f(r["seconds"].get("facts")))
    row("tags s", lambda e, r: _f(tag_seconds(r)))
    row("  pandas: read inputs / evaluate / write s", lambda e, r: " / ".join(
        _f(r["seconds"][k]) for k in ("load", "evaluate", "write")) if e == BASELINE else "")
    row("history + catalogue s", lambda e, r: _f(r["seconds"].get("history_and_catalogue")))
    row("total s", lambda e, r: _f(total_seconds(r)))
    row("tags built", lambda e, r: f"{r['built']:,}")
    row("tags/s", lambda e, r: _f(r["built"] / tag_seconds(r), "{:,.2f}") if tag_seconds(r) else "–")
    row("profile-tags/s", lambda e, r: _f(r["people"] * r["built"] / tag_seconds(r), "{:,.0f}")
        if tag_seconds(r) else "–")
    row(f"tags vs {BASELINE}", lambda e, r: "1×" if e == BASELINE else _ratio(base, tag_seconds(r)))
    row("tag_values rows", lambda e, r: f"{r['rows']:,}")
    row("engine start-up s", lambda e, r: _f(r.get("startup_seconds")))
    row("process wall s", lambda e, r: _f(r.get("wall_seconds")))
    row("peak RSS GiB", lambda e, r: _f(r["peak_rss_bytes"] / GIB, "{:.2f}"))
    return header, rows


def segment_rows(seg: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per rule: from the lake, and (when timed) from the segment store."""
    header = ["segment", "rule", "size", "lake first s", "lake median s", "lake max s"]
    store = seg.get("store", {}).get("rules", {})
    if store:
        header += ["store first s", "store median s", "store max s"]
    rows = []
    for name, r in seg["rules"].items():
        row = [name, f"`{r['rule']}`", f"{r['size']:,}", f"{r['first_s']:.3f}", f"{r['median_s']:.3f}",
               f"{r['max_s']:.3f}"]
        if name in store:
            st = store[name]
            row += [f"{st['first_s']:.3f}", f"**{st['median_s']:.3f}**", f"{st['max_s']:.3f}"]
        rows.append(row)
    return header, rows


def store_line(seg: dict[str, Any]) -> str:
    st = seg.get("store")
    if not st:
        return ""
    return (f"Segment store (what `siyu serve` sizes from): built in {st['build_seconds']:,.1f} s, "
            f"{st['bytes'] / GIB:.2f} GiB on disk, opened in {st['open_seconds']:.2f} s; sizes equal the lake's: "
            f"{'yes' if st['sizes_match_lake'] else 'NO'}.")


def realtime_line(rt: dict[str, Any]) -> str:
    lat = rt["latency"]
    return (f"{rt['events']:,} events for {rt['people']:,} people over {rt['rules']} incremental segments: "
            f"p50 {lat['p50_us']:,.0f} µs, p95 {lat['p95_us']:,.0f} µs, **p99 {lat['p99_us']:,.0f} µs**, "
            f"p99.9 {lat['p999_us']:,.0f} µs, max {lat['max_us']:,.0f} µs; {rt['events_per_s']:,} events/s on one "
            f"core ({rt['entered']:,} segment entries, {rt['left']:,} exits). States loaded from the lake in "
            f"{rt['load_seconds']:.1f} s ({rt['history_rows']:,} history rows), first placement (refresh) "
            f"{rt['refresh_seconds']:.1f} s.")


def comparison_line(name: str, c: dict[str, Any]) -> str:
    verdict = "identical" if c["identical"] else "DIFFERENT"
    return (f"Same tags, {name}: **{verdict}** — {c['rows'][0]:,} vs {c['rows'][1]:,} rows, {c['tags'][0]} vs "
            f"{c['tags'][1]} tags with holders; only in {name.split()[0]}: {c['only_mine']:,}, only in duckdb: "
            f"{c['only_ref']:,}, value differs: {c['value_differs']:,}, score differs > 1e-6: {c['score_differs']:,} "
            f"(largest score gap {c['max_score_gap']:.2g}).")


def _md_table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """A markdown table; the first ``left`` columns are text (left-aligned), the rest numbers."""
    align = ["---"] * left + ["---:"] * (len(header) - left)
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|", *["| " + " | ".join(r) + " |" for r in rows]]


def _size(results: dict[str, Any]) -> str:
    p = results["params"]
    people = next((r["people"] for r in results["engines"].values() if "people" in r), None)
    world = f"{p['users']:,} users × {p['days']} days, " if p.get("users") else ""
    return f"{world}{people:,} profiles" if people else world.rstrip(", ")


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    ts = results["tag_set"]
    lines = [f"### Profiles: {ts['tags']} tags, segment size, real-time — {_size(results)}", "",
             f"Machine: {m['cpu_model']}, {m['cores_logical']} logical / {m['cores_physical']} physical cores, "
             f"{m['ram_gib']} GiB RAM, {m['os']}. Python {m['python']}, duckdb {m['duckdb']}, pyspark {m['pyspark']} "
             f"({m['java']}), pandas {m['pandas']}, pyarrow {m['pyarrow']}. Run {results['started']}, siyu source "
             f"{results.get('siyu_source', '?')}" + (f" → {results['siyu_source_at_end']} (changed during the run)"
                                                    if results.get("siyu_source_at_end") else "") + ". Lake: "
             f"`{results['source_lake']}`, as of {results.get('as_of', '?')}.", "",
             *([f"Lake built in this run: world {results['world']['seconds']:,.0f} s "
                f"({results['world']['valid_events']:,} events), import {results['import']['seconds']:,.0f} s, "
                f"DuckDB warehouse build {results['warehouse_build']['total_seconds']:,.0f} s.", ""]
               if results.get("warehouse_build") else []),
             f"Tag set: {ts['tags']} tags ({', '.join(f'{n} {k}' for k, n in ts['kinds'].items())}), generated by "
             "`benchmarks/tag_set.py` into `OUT/tags/`; no predictive tags (they need model output tables).", ""]
    if results["engines"]:
        lines += ["#### Building the tags (`build_tags(..., full=True)`)", "", *_md_table(*tag_rows(results)), "",
                  "Each build in its own process on its own hard-linked copy of the lake. profile-tags/s = profiles × "
                  f"tags / tags seconds; 'vs {BASELINE}' = {BASELINE} tags seconds / engine tags seconds. Peak RSS "
                  f"sums the process and its children (Spark's JVM), sampled every {results['sample_interval']} s."
                  + (f" Spark settings: `{' '.join(results['params']['spark_conf'])}`."
                     if "spark" in results["engines"] and results["params"].get("spark_conf") else "")]
        for name, c in results.get("comparisons", {}).items():
            lines += ["", comparison_line(name, c)]
    if results.get("segments", {}).get("rules"):
        seg = results["segments"]
        lines += ["", f"#### Segment size on DuckDB ({seg['people']:,} profiles; warm: median and max of "
                      f"{seg['repeats']} runs after a first one)", "", *_md_table(*segment_rows(seg), left=2)]
        if seg.get("store"):
            lines += ["", store_line(seg)]
    if results.get("realtime", {}).get("latency"):
        lines += ["", "#### Real-time evaluation per event (`SegmentWatcher.on_event`)", "",
                  realtime_line(results["realtime"])]
    for part, r in results.get("failed", {}).items():
        lines += ["", f"**{part} failed** (exit {r.get('exit_code')}); see `{r.get('log')}`."]
    return "\n".join(lines) + "\n"


def print_results(console: Console, results: dict[str, Any]) -> None:
    console.rule(f"siyu profile benchmark — {_size(results)}")
    if results["engines"]:
        header, rows = tag_rows(results)
        t = Table(*header, title=f"{results['tag_set']['tags']} tags, full build")
        for r in rows:
            t.add_row(*r)
        console.print(t)
    for name, c in results.get("comparisons", {}).items():
        colour = "green" if c["identical"] else "red"
        console.print(f"[{colour}]{comparison_line(name, c)}[/]")
    if results.get("segments", {}).get("rules"):
        header, rows = segment_rows(results["segments"])
        t = Table(*header, title="segment_size on DuckDB (seconds)")
        for r in rows:
            t.add_row(*[c.strip("`*") for c in r])
        console.print(t)
        if results["segments"].get("store"):
            console.print(store_line(results["segments"]))
    if results.get("realtime", {}).get("latency"):
        console.print(realtime_line(results["realtime"]).replace("**", ""))
    for part, r in results.get("failed", {}).items():
        console.print(f"[red]{part} failed[/] (exit {r.get('exit_code')}), see {r.get('log')}")
