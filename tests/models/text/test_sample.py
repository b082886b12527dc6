"""The labelled sample siyu ships: size, balance, a stratified split and varied texts."""

from __future__ import annotations

from collections import Counter

from siyu.models.text.evaluate import SAMPLE_COLUMNS, load_labelled_sample
from siyu.models.text.sentiment import LABELS

TOPICS = {"物流", "质量", "价格", "服务", "效果", "包装"}


def test_size_columns_and_ids() -> None:
    sample = load_labelled_sample()
    assert sample.column_names == list(SAMPLE_COLUMNS)
    assert sample.num_rows >= 400
    ids, texts = sample["id"].to_pylist(), sample["text"].to_pylist()
    assert len(set(ids)) == len(ids) and len(set(texts)) == len(texts)
    assert all(t.strip() for t in texts)


def test_classes_topics_and_sources_are_balanced() -> None:
    sample = load_labelled_sample()
    n = sample.num_rows
    labels = Counter(sample["sentiment"].to_pylist())
    assert set(labels) == set(LABELS) and all(abs(c - n / 3) <= 0.05 * n for c in labels.values())
    topics = Counter(sample["topic"].to_pylist())
    assert set(topics) == TOPICS and min(topics.values()) >= 60
    sources = Counter(sample["source"].to_pylist())
    assert set(sources) == {"review", "group_chat", "cs_chat"} and min(sources.values()) >= 80


def test_split_is_stratified_by_label_and_topic() -> None:
    sample = load_labelled_sample()
    tune = Counter(zip(load_labelled_sample("tune")["sentiment"].to_pylist(),
                       load_labelled_sample("tune")["topic"].to_pylist(), strict=True))
    test = Counter(zip(load_labelled_sample("test")["sentiment"].to_pylist(),
                       load_labelled_sample("test")["topic"].to_pylist(), strict=True))
    assert sum(tune.values()) + sum(test.values()) == sample.num_rows
    assert set(tune) == set(test) and all(abs(tune[k] - test[k]) <= 1 for k in tune)


def test_texts_vary_in_length_and_style() -> None:
    texts = load_labelled_sample()["text"].to_pylist()
    lengths = sorted(len(t) for t in texts)
    assert lengths[0] <= 6 and lengths[-1] >= 60
    joined = "".join(texts)
    for marker in ("😡", "[强]", "[微笑]", "yyds", "绝绝子", "没有想象中", "不太", "？", "但是"):
        assert marker in joined
