"""Comment insights from the lake (评论洞察): reviews, customer-service chats and group messages, scored.

:func:`comment_insights` reads the texts that people left in the ``events`` view (a text property of
events such as ``review_submitted``, ``cs_consulted`` or ``group_message_sent``), scores each with the
sentiment model, and returns what an operations team asks for: every comment with its score and
label, the share of praise / neutral / complaint per period (and product), the top complaint and
praise keywords, optionally keyword topics, and one row per person, which it writes to the lake as
the ``comment_sentiment`` predictions that predictive tags read.

The query is written once in siyu's dialect and runs on DuckDB and Spark; event names, the JSON
paths and the dates are bound parameters, and property names must be plain identifiers.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import Params
from siyu.models.predictions import write_predictions
from siyu.models.text.keyword_clusters import KeywordTopics, cluster_keywords
from siyu.models.text.keywords import extract_keywords
from siyu.models.text.segment import Segmenter
from siyu.models.text.sentiment import LABELS, SentimentModel, labels_for
from siyu.warehouse.engine import Engine
from siyu.warehouse.engine.base import check_identifier
from siyu.warehouse.lake import Lake

#: Events that usually carry a person's own words: product reviews, 1:1 customer service, group chat.
DEFAULT_COMMENT_EVENTS = ("review_submitted", "cs_consulted", "group_message_sent")
PREDICTIONS_MODEL = "comment_sentiment"
Period = Literal["day", "week", "month"]
_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class CommentInsights:
    """``comments``: one_id, event, event_time, dt, [product], text, score, label (one row per comment);
    ``people``: the per-person table written as ``comment_sentiment`` predictions; ``sentiment_share``:
    period, [product], label, comments, share; ``keywords``: label, keyword, weight, doc_count, rank
    (top complaints under ``negative``, praises under ``positive``); ``topics``: keyword topics when
    asked for; ``predictions_path``: where the people table went, when a lake was given."""

    comments: pa.Table
    people: pa.Table
    sentiment_share: pa.Table
    keywords: pa.Table
    topics: KeywordTopics | None
    predictions_path: Path | None


def _check_property(name: str, field: str) -> str:
    if not isinstance(name, str) or not _PROPERTY.match(name):
        raise SiyuError(f"{field} {name!r} must be a property key of letters, digits and _", code="bad_property",
                        input_name=field)
    return name


def read_comments(engine: Engine, *, events: Sequence[str] = DEFAULT_COMMENT_EVENTS, text_property: str = "text",
                  product_property: str | None = None, start: date | None = None, end: date | None = None,
                  view: str = "events") -> pa.Table:
    """Comments from the ``events`` view: one_id, event, event_time, dt, [product], text.

    Only events named in ``events`` whose ``properties`` JSON has a non-empty ``text_property``, and
    whose business day ``dt`` is within ``[start, end]`` when given; sorted by person, then time.
    """
    if isinstance(events, str) or not events:
        raise SiyuError("events must be a non-empty list of event names", code="bad_events", input_name="events")
    for name in events:
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise SiyuError(f"event name {name!r} must be 1-100 characters", code="bad_events", input_name="events")
    p = Params()
    text_sql = f"json_extract_string(properties, {p.text('$.' + _check_property(text_property, 'text_property'))})"
    columns = ["one_id", "event", "event_time", "dt"]
    if product_property is not None:
        path = p.text("$." + _check_property(product_property, "product_property"))
        columns.append(f"json_extract_string(properties, {path}) AS product")
    columns.append(f"{text_sql} AS text")
    where = [f"event IN {p.text_list(list(events))}", "one_id IS NOT NULL",
             f"{text_sql} IS NOT NULL", f"trim({text_sql}) <> ''"]
    if start is not None:
        where.append(f"dt >= {p.day(start)}")
    if end is not None:
        where.append(f"dt <= {p.day(end)}")
    sql = (f"SELECT {', '.join(columns)} FROM {check_identifier(view)} WHERE {' AND '.join(where)} "
           "ORDER BY one_id, event_time, event, text")
    return engine.query(sql, p.values)


def period_of(day: date | datetime, period: Period) -> str:
    """``2026-03-05`` as its day (``2026-03-05``), ISO week (``2026-W10``) or month (``2026-03``)."""
    if isinstance(day, datetime):
        day = day.date()
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise SiyuError(f"period {period!r} must be 'day', 'week' or 'month'", code="bad_period", input_name="period")


def person_sentiment(comments: pa.Table, model: SentimentModel) -> pa.Table:
    """One row per person: comments, positive, neutral, negative, mean_score, negative_share,
    last_label (of the latest comment), label (of the mean score, with the model's band), last_comment_at."""
    ids = comments["one_id"].to_pylist()
    scores = np.asarray(comments["score"].to_pylist(), dtype=float)
    labels = comments["label"].to_pylist()
    times = comments["event_time"].to_pylist()
    rows: dict[str, list[int]] = defaultdict(list)
    for i, one_id in enumerate(ids):
        rows[one_id].append(i)
    people = sorted(rows)
    counts = [Counter(labels[i] for i in rows[p]) for p in people]
    mean = np.array([scores[rows[p]].mean() for p in people])
    latest = [max(rows[p], key=lambda i: (times[i], i)) for p in people]
    n = [len(rows[p]) for p in people]
    return pa.table({
        "one_id": pa.array(people, pa.string()),
        "comments": pa.array(n, pa.int64()),
        **{lab: pa.array([c[lab] for c in counts], pa.int64()) for lab in ("positive", "neutral", "negative")},
        "mean_score": pa.array(mean, pa.float64()),
        "negative_share": pa.array([c["negative"] / k for c, k in zip(counts, n, strict=True)], pa.float64()),
        "last_label": pa.array([labels[i] for i in latest], pa.string()),
        "label": pa.array(labels_for(mean, model.neutral_band).tolist() if people else [], pa.string()),
        "last_comment_at": pa.array([times[i] for i in latest], comments.schema.field("event_time").type),
    })


def sentiment_share(comments: pa.Table, period: Period = "month", by_product: bool = False) -> pa.Table:
    """Per period (and product): each label's comments and share of the group (all three labels listed)."""
    days = comments["dt"].to_pylist()
    labels = comments["label"].to_pylist()
    products = comments["product"].to_pylist() if by_product else [None] * len(days)
    groups: dict[tuple[str, str | None], Counter[str]] = defaultdict(Counter)
    for day, product, label in zip(days, products, labels, strict=True):
        groups[(period_of(day, period), product)][label] += 1
    out: dict[str, list[Any]] = {"period": [], "product": [], "label": [], "comments": [], "share": []}
    for (when, product), counts in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or "")):
        total = sum(counts.values())
        for label in LABELS:
            for key, value in zip(out, (when, product, label, counts[label], counts[label] / total), strict=True):
                out[key].append(value)
    columns = {"period": pa.array(out["period"], pa.string())}
    if by_product:
        columns["product"] = pa.array(out["product"], pa.string())
    columns.update(label=pa.array(out["label"], pa.string()), comments=pa.array(out["comments"], pa.int64()),
                   share=pa.array(out["share"], pa.float64()))
    return pa.table(columns)


def comment_insights(engine: Engine, *, lake: Lake | None = None, events: Sequence[str] = DEFAULT_COMMENT_EVENTS,
                     text_property: str = "text", product_property: str | None = None, start: date | None = None,
                     end: date | None = None, period: Period = "month", model: SentimentModel | None = None,
                     top_k: int = 20, n_topics: int | None = None, segmenter: Segmenter | None = None,
                     view: str = "events") -> CommentInsights:
    """Read, score and summarise the comments in the lake (see the module docstring).

    ``model`` defaults to the shipped lexicon model; ``n_topics`` asks for keyword topics too (an
    error ``too_few_comments`` when the comments are too few to cluster; none when there are no
    comments). With ``lake``, the people table replaces ``models/comment_sentiment_predictions``.
    """
    period_of(date(2000, 1, 1), period)  # reject a bad period before reading anything
    model = model or SentimentModel.for_method()
    comments = read_comments(engine, events=events, text_property=text_property, product_property=product_property,
                             start=start, end=end, view=view)
    scored = model.score(comments["text"], segmenter)
    comments = comments.append_column("score", scored["score"]).append_column("label", scored["label"])
    people = person_sentiment(comments, model)
    keywords = extract_keywords(comments, by=["label"], top_k=top_k, segmenter=segmenter)
    topics = None
    if n_topics is not None and comments.num_rows:
        topics = cluster_keywords(comments, n_topics=n_topics, segmenter=segmenter)
    path = write_predictions(lake, PREDICTIONS_MODEL, people) if lake is not None else None
    return CommentInsights(comments=comments, people=people,
                           sentiment_share=sentiment_share(comments, period, by_product=product_property is not None),
                           keywords=keywords, topics=topics, predictions_path=path)
