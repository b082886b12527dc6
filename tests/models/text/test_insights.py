"""Comment insights from the events view, on DuckDB and Spark, with a hand-built events table."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from siyu.core.errors import SiyuError
from siyu.models.predictions import read_predictions
from siyu.models.text.insights import comment_insights, period_of, read_comments
from siyu.models.text.sentiment import score_sentiment
from siyu.warehouse.engine import Engine
from siyu.warehouse.lake import Lake
from tests.measure.measure_reference import events_table


def _props(**values: object) -> dict[str, str]:
    return {"properties": json.dumps(values, ensure_ascii=False)}


ROWS = [
    ("u1", "review_submitted", "2026-03-02 10:00", _props(text="物流太慢了，等了一周😡", sku_name="面膜")),
    ("u1", "cs_consulted", "2026-03-05 09:30", _props(text="请问什么时候发货？")),
    ("u1", "review_submitted", "2026-04-01 20:00", _props(text="面膜很好用，会回购", sku_name="面膜")),
    ("u2", "group_message_sent", "2026-03-10 12:00", _props(text="客服态度很差，不耐烦")),
    ("u2", "group_message_sent", "2026-03-11 12:00", _props(text="  ")),            # blank: not a comment
    ("u2", "group_joined", "2026-03-10 11:59", _props(text="不算评论")),             # not a comment event
    ("u3", "review_submitted", "2026-02-27 08:00", _props(text="包装精致，很满意", sku_name="精华")),
    ("u3", "review_submitted", "2026-02-28 08:00", _props(rating=5)),               # no text property
    (None, "review_submitted", "2026-03-03 08:00", _props(text="没有 one_id 的评论")),
    ("u4", "comment_posted", "2026-03-04 08:00", _props(content="发货很快，点赞")),
]
EXPECTED = [  # (one_id, text, label), sorted by person then time
    ("u1", "物流太慢了，等了一周😡", "negative"),
    ("u1", "请问什么时候发货？", "neutral"),
    ("u1", "面膜很好用，会回购", "positive"),
    ("u2", "客服态度很差，不耐烦", "negative"),
    ("u3", "包装精致，很满意", "positive"),
]


@pytest.fixture
def events(engine: Engine) -> Engine:
    engine.register_arrow("events", events_table(ROWS))
    return engine


def test_reads_comment_events_with_text(events: Engine) -> None:
    got = read_comments(events)
    pairs = list(zip(got["one_id"].to_pylist(), got["text"].to_pylist(), strict=True))
    assert pairs == [(o, t) for o, t, _ in EXPECTED]
    assert got["dt"].to_pylist()[0] == date(2026, 3, 2)


def test_event_names_property_and_dates_are_arguments(events: Engine) -> None:
    got = read_comments(events, events=["comment_posted"], text_property="content")
    assert got["text"].to_pylist() == ["发货很快，点赞"]
    march = read_comments(events, start=date(2026, 3, 1), end=date(2026, 3, 31), product_property="sku_name")
    assert march["text"].to_pylist() == ["物流太慢了，等了一周😡", "请问什么时候发货？", "客服态度很差，不耐烦"]
    assert march["product"].to_pylist() == ["面膜", None, None]
    assert read_comments(events, events=["x' OR '1'='1"]).num_rows == 0  # bound, never pasted into SQL


def test_insights_score_summarise_and_write_predictions(events: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lake = Lake(tmp_path / "lake")
    got = comment_insights(events, lake=lake, product_property="sku_name")
    comments = got.comments
    assert comments["label"].to_pylist() == [lab for _, _, lab in EXPECTED]
    direct = score_sentiment([t for _, t, _ in EXPECTED])
    assert comments["score"].to_pylist() == pytest.approx(direct["score"].to_pylist())

    people = {r["one_id"]: r for r in got.people.to_pylist()}
    assert sorted(people) == ["u1", "u2", "u3"]
    u1 = people["u1"]
    assert (u1["comments"], u1["positive"], u1["neutral"], u1["negative"]) == (3, 1, 1, 1)
    assert u1["mean_score"] == pytest.approx(np.mean(direct["score"].to_pylist()[:3]))
    assert u1["negative_share"] == pytest.approx(1 / 3)
    assert u1["last_label"] == "positive"
    assert people["u2"]["label"] == "negative" and people["u3"]["label"] == "positive"

    stored = read_predictions(lake, "comment_sentiment")
    assert stored is not None and stored.sort_by("one_id").to_pylist() == got.people.sort_by("one_id").to_pylist()
    assert got.predictions_path is not None and got.predictions_path.exists()

    share = {(r["period"], r["product"], r["label"]): (r["comments"], r["share"])
             for r in got.sentiment_share.to_pylist()}
    assert share[("2026-03", None, "negative")] == (1, pytest.approx(1 / 2))  # u1's complaint has a product
    assert share[("2026-03", "面膜", "negative")] == (1, 1.0)
    assert share[("2026-02", "精华", "positive")] == (1, 1.0)
    assert share[("2026-04", "面膜", "positive")] == (1, 1.0)
    assert len(share) == 3 * 4  # four (period, product) groups, every label listed

    complaints = [r["keyword"] for r in got.keywords.to_pylist() if r["label"] == "negative"]
    assert "太慢" in complaints and "不耐烦" in complaints


def test_share_by_week_without_products(events: Engine) -> None:
    got = comment_insights(events, period="week", events=["review_submitted"])
    rows = got.sentiment_share.to_pylist()
    assert "product" not in got.sentiment_share.column_names
    assert [(r["period"], r["label"], r["comments"]) for r in rows if r["comments"]] == [
        ("2026-W09", "positive", 1), ("2026-W10", "negative", 1), ("2026-W14", "positive", 1)]


def test_no_comments_gives_empty_tables(events: Engine) -> None:
    got = comment_insights(events, events=["never_sent"], n_topics=3)
    assert got.comments.num_rows == got.people.num_rows == got.sentiment_share.num_rows == 0
    assert got.topics is None and got.predictions_path is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"text_property": "text') OR 1=1 --"}, "text_property"),
    ({"product_property": "a.b"}, "product_property"),
    ({"events": []}, "events"),
    ({"events": "review_submitted"}, "events"),
    ({"period": "quarter"}, "period"),
])
def test_bad_arguments_name_the_input(events: Engine, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SiyuError) as err:
        comment_insights(events, **kwargs)
    assert err.value.input_name == field


def test_period_of() -> None:
    assert period_of(date(2026, 3, 5), "day") == "2026-03-05"
    assert period_of(date(2026, 3, 5), "week") == "2026-W10"
    assert period_of(date(2027, 1, 1), "week") == "2026-W53"
    assert period_of(date(2026, 3, 5), "month") == "2026-03"
