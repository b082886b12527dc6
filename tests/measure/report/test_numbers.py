"""How numbers read in the report (hand-worked expectations)."""

from __future__ import annotations

import pytest

from siyu.measure.report import numbers as num


@pytest.mark.parametrize(("value", "text"), [
    (None, "–"), (0, "0"), (1234567, "1,234,567"), (1234567.0, "1,234,567"), (98765.4, "98,765"),
    (12.345, "12.35"), (23.40, "23.4"), (4.0001, "4"), (-3.1, "-3.1"), (0.01234, "0.0123"), (-0.5, "-0.5"),
])
def test_number(value: float | None, text: str) -> None:
    assert num.number(value) == text


def test_percentages() -> None:
    assert num.percent(0.4567) == "45.7%" and num.percent(None) == "–" and num.percent(1 / 3, 2) == "33.33%"
    assert num.signed_percent(0.12) == "+12.0%" and num.signed_percent(-0.034) == "-3.4%"
    assert num.signed_number(1.8) == "+1.8" and num.signed_number(-1.8) == "-1.8" and num.signed_number(0) == "0"
    assert num.pct_value(0.12345) == 12.35 and num.pct_value(None) is None
