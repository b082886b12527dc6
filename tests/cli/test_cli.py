"""The CLI end to end: synth → import → build → quality → identity explain / split, as a user types it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from siyu.cli.main import app
from siyu.warehouse.lake import Lake
from tests.warehouse.mini import msg, write_lines

runner = CliRunner()


def run(*args: str) -> str:
    """Standard output of a successful command (progress and notes go to standard error)."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_synth_import_build_quality(tmp_path: Path) -> None:
    world, lake = tmp_path / "world", tmp_path / "lake"
    run("synth", "--users", "600", "--days", "30", "--seed", "5", "--out", str(world))
    assert (world / "truth" / "identities.parquet").exists()
    imported = json.loads(run("import", str(world), "--lake", str(lake), "--json"))
    planted = json.loads((world / "truth" / "defects.json").read_text())
    assert imported["quarantine_by_reason"].get("malformed_json", 0) == planted["malformed_json"]
    built = json.loads(run("build", "--lake", str(lake), "--json"))
    assert built["rows"]["dwd.events"] == planted["valid_events"]
    report = json.loads(run("quality", "--lake", str(lake), "--json"))
    assert report["duplicates"]["rows"] == planted["duplicate_deliveries"]
    assert "no alerts" in runner.invoke(app, ["quality", "--lake", str(lake)]).output


def test_quality_fail_on_alert_exits_nonzero(tmp_path: Path) -> None:
    rows = [msg(f"q{i}", 1, user_id=f"u{i}") for i in range(10)]
    rows += [b'{"type":"track","event":"order_paid","messageId":"x%d","userId":"u","timestamp":"2026-01-01T00:00:00Z",'
             b'"properties":{"amount":1,"currency":"CNY"}}' % i for i in range(3)]
    write_lines(tmp_path / "src" / "events" / "a.jsonl", rows)
    run("import", str(tmp_path / "src"), "--lake", str(tmp_path / "lake"))
    run("build", "--lake", str(tmp_path / "lake"))
    result = runner.invoke(app, ["quality", "--lake", str(tmp_path / "lake"), "--fail-on-alert"])
    assert result.exit_code == 1
    assert "order_paid.properties.order_id missing in 100.0%" in result.output


def test_identity_explain_and_split(tmp_path: Path) -> None:
    # A family iPad: one device, two people, linked only through it (one phone, one user id).
    write_lines(tmp_path / "src" / "events" / "a.jsonl", [
        msg("s1", 1, type_="identify", event=None, user_id="mum", anonymous_id="ipad-anon"),
        msg("s2", 2, device_id="ipad", anonymous_id="ipad-anon"),
        msg("s3", 3, device_id="ipad", phone="13900000001"),
    ])
    lake = tmp_path / "lake"
    run("import", str(tmp_path / "src"), "--lake", str(lake))
    run("build", "--lake", str(lake))
    info = json.loads(run("identity", "explain", "phone:13900000001", "--lake", str(lake), "--json"))
    assert "user_id:mum" in info["members"] and len(info["links"]) >= 2
    assert all(link["evidence"] in {"s1", "s2", "s3"} for link in info["links"])
    before = info["one_id"]
    out = run("identity", "split", "user_id:mum", "phone:13900000001", "--lake", str(lake), "--note", "family iPad")
    assert "blocked" in out
    mum = json.loads(run("identity", "explain", "user_id:mum", "--lake", str(lake), "--json"))
    phone = json.loads(run("identity", "explain", "phone:13900000001", "--lake", str(lake), "--json"))
    assert mum["one_id"] == before != phone["one_id"]  # the seed's side keeps the id
    assert any(r["rule"] == "blocked" for r in mum["refused_links"] + phone["refused_links"])
    events = pq.read_table(Lake(lake).files("dwd", "events"), columns=["message_id", "one_id"]).to_pylist()
    owner = {e["message_id"]: e["one_id"] for e in events}
    assert owner["s3"] == phone["one_id"] and owner["s1"] == before  # moved rows were rewritten


def test_errors_are_clear_and_not_tracebacks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["identity", "explain", "nonsense", "--lake", str(tmp_path)])
    assert result.exit_code == 2 and "TYPE:VALUE" in result.output
    result = runner.invoke(app, ["import", str(tmp_path / "missing"), "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["build", "--lake", str(tmp_path), "--engine", "oracle"])
    assert result.exit_code == 2 and "unknown engine" in result.output


def test_demo_runs_small(tmp_path: Path) -> None:
    out = run("demo", "--users", "500", "--days", "20", "--out", str(tmp_path / "demo"))
    assert "OneID pairwise precision" in out and "found /" in out and "planted" in out
    assert "report:" in out and (tmp_path / "demo" / "report.html").stat().st_size > 100_000  # ECharts inside


def test_quality_per_load_counts_redeliveries_from_earlier_loads(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    write_lines(tmp_path / "one" / "events" / "a.jsonl", [msg(f"r{i}", 1, user_id="u1") for i in range(5)])
    run("import", str(tmp_path / "one"), "--lake", lake)
    # the second load re-delivers two messages of the first (a retry) plus one new message
    write_lines(tmp_path / "two" / "events" / "b.jsonl", [msg("r0", 1, user_id="u1"), msg("r1", 1, user_id="u1"),
                                                          msg("n1", 2, user_id="u1")])
    run("import", str(tmp_path / "two"), "--lake", lake)
    run("build", "--lake", lake)
    latest = json.loads(run("quality", "--lake", lake, "--batch", "latest", "--json"))
    assert latest["accepted_rows"] == 3 and latest["duplicates"]["rows"] == 2
    everything = json.loads(run("quality", "--lake", lake, "--json"))
    assert everything["accepted_rows"] == 8 and everything["duplicates"]["rows"] == 2
    bad = runner.invoke(app, ["quality", "--lake", lake, "--batch", "nope"])
    assert bad.exit_code == 2 and "no import batch" in bad.output
