"""A small synthetic world shared by the synth tests, and readers for its files."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from siyu.core.validation import Accepted, Rejected, validate_line
from siyu.synth import WorldSummary, generate_world

USERS, DAYS, SEED = 2000, 60, 11


@dataclass
class World:
    root: Path
    summary: WorldSummary
    accepted: list[Accepted]  # every valid line, duplicates included, GB18030 file last
    rejected: list[Rejected]
    defects: dict[str, Any]
    params: dict[str, Any]

    def entity(self, name: str) -> pa.Table:
        path = self.root / "entities" / name
        return ds.dataset(path).to_table() if path.is_dir() else pq.read_table(path.with_suffix(".parquet"))

    def truth(self, name: str) -> pa.Table:
        return pq.read_table(self.root / "truth" / f"{name}.parquet")


def part_lines(root: Path) -> list[bytes]:
    out: list[bytes] = []
    for path in sorted((root / "events").glob("part-*.jsonl.gz")):
        out.extend(line for line in gzip.decompress(path.read_bytes()).split(b"\n") if line)
    return out


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("synth") / "world"
    done: list[int] = []
    summary = generate_world(root, users=USERS, days=DAYS, seed=SEED, chunk_size=700, workers=1,
                             progress=done.append)
    assert done == [700, 1400, 2000]
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for line in part_lines(root):
        verdict = validate_line(line, max_bytes=32768)
        (accepted if isinstance(verdict, Accepted) else rejected).append(verdict)  # type: ignore[arg-type]
    gb_text = (root / "events" / "wecom-export-gb18030.jsonl").read_bytes().decode("gb18030")
    for line in gb_text.splitlines():
        verdict = validate_line(line, max_bytes=32768)
        assert isinstance(verdict, Accepted), verdict
        accepted.append(verdict)
    return World(root, summary, accepted, rejected,
                 json.loads((root / "truth" / "defects.json").read_text()),
                 json.loads((root / "truth" / "params.json").read_text()))
