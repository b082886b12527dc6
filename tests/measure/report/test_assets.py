"""The vendored ECharts build: shipped in the package, unchanged, and recorded in VENDORED.md."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest

from siyu.core.errors import SiyuError
from siyu.measure.report import ECHARTS_VERSION
from siyu.measure.report.page import ECHARTS_FILE, asset_text

ASSETS = resources.files("siyu.measure.report") / "assets"
ROW = re.compile(r"^\| `(?P<file>[^`]+)` \|[^|]*\| (?P<version>[0-9.]+) \|[^|]*\| `(?P<sha>[0-9a-f]{64})` \|$")


def _vendored() -> dict[str, tuple[str, str]]:
    text = (ASSETS / "VENDORED.md").read_text(encoding="utf-8")
    return {m["file"]: (m["version"], m["sha"]) for line in text.splitlines() if (m := ROW.match(line))}


def test_vendored_md_lists_echarts_and_its_licenses() -> None:
    assert set(_vendored()) == {"echarts.min.js", "LICENSE", "NOTICE", "LICENSE-d3", "LICENSE-zrender"}


@pytest.mark.parametrize("name", ["echarts.min.js", "LICENSE", "NOTICE", "LICENSE-d3", "LICENSE-zrender"])
def test_shipped_file_matches_its_recorded_sha256(name: str) -> None:
    shipped = (ASSETS / name).read_bytes()  # through importlib.resources: what the installed package holds
    assert hashlib.sha256(shipped).hexdigest() == _vendored()[name][1]


def test_versions_agree() -> None:
    version, _ = _vendored()[ECHARTS_FILE]
    assert version == ECHARTS_VERSION
    assert f'version="{ECHARTS_VERSION}"' in asset_text(ECHARTS_FILE)  # the build says which release it is
    assert "Apache ECharts" in asset_text("NOTICE")
    assert "Apache License" in asset_text("LICENSE")


def test_page_assets_are_shipped_beside_echarts() -> None:
    for name in ("page.html", "report.css", "report.js"):
        assert (ASSETS / name).is_file(), name


@pytest.mark.parametrize("name", [ECHARTS_FILE, "report.js"])
def test_scripts_can_be_inlined(name: str) -> None:
    text = asset_text(name).lower()
    assert "</script" not in text and "<!--" not in text


def test_missing_asset_is_a_siyu_error() -> None:
    with pytest.raises(SiyuError) as err:
        asset_text("no-such-asset.js")
    assert err.value.code == "report_asset_missing"
