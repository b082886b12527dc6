"""Keyword topics: the labelled topics of the sample and a corpus with planted topics, scored with sklearn's ARI."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score

from siyu.core.errors import SiyuError
from siyu.models.text.evaluate import load_labelled_sample
from siyu.models.text.keyword_clusters import KeywordTopics, assign_topics, cluster_keywords, ppmi_vectors
from siyu.models.text.segment import default_segmenter

#: Measured on the sample with seeds 0-4: ARI 0.37-0.39, purity 0.55-0.59 over 44 characteristic words.
#: Random grouping of the same words (200 shuffles): ARI 0.00 ± 0.035 (max 0.14), purity 0.36 on average.
ARI_BAR = 0.25
PURITY_BAR = 0.5

PLANTED = {
    "物流": ["物流", "快递", "发货", "签收", "驿站", "顺丰", "揽收", "派送"],
    "服务": ["客服", "售后", "导购", "顾问", "回复", "态度", "咨询", "投诉"],
    "包装": ["包装", "礼盒", "盒子", "泵头", "塑封", "纸袋", "外盒", "防尘袋"],
    "质量": ["面料", "做工", "线头", "版型", "拉链", "尺码", "袖口", "领口"],
    "价格": ["价格", "优惠券", "满减", "积分", "折扣", "会员价", "差价", "定金"],
}
GENERIC = ["喜欢", "推荐", "满意", "失望", "不错", "好评", "差评", "开心"]


def characteristic_words(min_docs: int = 4, min_share: float = 0.7) -> dict[str, str]:
    """Words in ≥ ``min_docs`` sample texts, ≥ ``min_share`` of them under one topic label → that label."""
    sample = load_labelled_sample()
    seg = default_segmenter()
    by_word: dict[str, Counter[str]] = defaultdict(Counter)
    for text, topic in zip(sample["text"].to_pylist(), sample["topic"].to_pylist(), strict=True):
        for w in set(seg.words(text)):
            by_word[w][topic] += 1
    out = {}
    for w, c in by_word.items():
        topic, n = c.most_common(1)[0]
        if c.total() >= min_docs and n / c.total() >= min_share:
            out[w] = topic
    return out


def ari_and_purity(truth: dict[str, str], found: dict[str, int]) -> tuple[float, float, int]:
    words = [w for w in truth if w in found]
    clusters: dict[int, Counter[str]] = defaultdict(Counter)
    for w in words:
        clusters[found[w]][truth[w]] += 1
    purity = sum(c.most_common(1)[0][1] for c in clusters.values()) / len(words)
    return adjusted_rand_score([truth[w] for w in words], [found[w] for w in words]), purity, len(words)


@pytest.fixture(scope="module")
def sample_topics() -> KeywordTopics:
    return cluster_keywords(load_labelled_sample(), n_topics=6)


def test_labelled_topics_mostly_land_together(sample_topics: KeywordTopics) -> None:
    truth = characteristic_words()
    ari, purity, n = ari_and_purity(truth, sample_topics.topic_of())
    assert n >= 35 and len(set(truth.values())) == 6
    assert ari >= ARI_BAR
    assert purity >= PURITY_BAR


@pytest.mark.parametrize("seed", [1, 2])
def test_other_seeds_clear_the_bar_too(seed: int) -> None:
    topics = cluster_keywords(load_labelled_sample(), seed=seed)
    ari, purity, _ = ari_and_purity(characteristic_words(), topics.topic_of())
    assert ari >= ARI_BAR and purity >= PURITY_BAR


def test_a_shuffled_grouping_fails_the_bar(sample_topics: KeywordTopics) -> None:
    truth = characteristic_words()
    found = sample_topics.topic_of()
    rng = np.random.default_rng(0)
    words = list(found)
    scores = []
    for _ in range(20):
        shuffled = dict(zip(words, rng.permutation([found[w] for w in words]), strict=True))
        scores.append(ari_and_purity(truth, shuffled)[:2])
    assert max(a for a, _ in scores) < ARI_BAR
    assert np.mean([p for _, p in scores]) < PURITY_BAR


def test_topic_tables_agree(sample_topics: KeywordTopics) -> None:
    topics = sample_topics.topics.to_pylist()
    keywords = sample_topics.keywords.to_pylist()
    assert [t["topic_id"] for t in topics] == list(range(6))
    assert [t["doc_count"] for t in topics] == sorted((t["doc_count"] for t in topics), reverse=True)
    for t in topics:
        mine = [k for k in keywords if k["topic_id"] == t["topic_id"]]
        assert [k["keyword"] for k in mine] == t["keywords"] and t["n_keywords"] == len(mine)
        assert t["topic"] == "/".join(t["keywords"][:3])
        strength = [k["affinity"] * math.log(1 + k["doc_count"]) for k in mine]
        assert strength == sorted(strength, reverse=True)
    assert len({k["keyword"] for k in keywords}) == len(keywords)


def _planted_corpus(n: int = 900, seed: int = 5) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    names = list(PLANTED)
    texts, labels = [], []
    for _ in range(n):
        topic = names[rng.integers(len(names))]
        words = [*rng.choice(PLANTED[topic], 3, replace=False), *rng.choice(GENERIC, rng.integers(1, 3), replace=False)]
        rng.shuffle(words)
        texts.append("，".join(words))
        labels.append(topic)
    return texts, labels


def test_planted_topics_are_recovered() -> None:
    texts, labels = _planted_corpus()
    topics = cluster_keywords(texts, n_topics=5)
    truth = {w: t for t, words in PLANTED.items() for w in words}
    ari, purity, n = ari_and_purity(truth, topics.topic_of())
    assert n == 40 and ari >= 0.9 and purity >= 0.95
    assigned = assign_topics(texts, topics).column("topic_id").to_pylist()
    assert adjusted_rand_score(labels, assigned) >= 0.9


def test_assign_topics_marks_texts_without_topic_words() -> None:
    texts, _ = _planted_corpus(300)
    topics = cluster_keywords(texts, n_topics=5)
    got = assign_topics(pa.table({"text": ["快递，顺丰，驿站", "今天天气", None]}), topics).to_pylist()
    assert got[0]["topic_id"] == topics.topic_of()["快递"] and got[0]["topic"] is not None
    assert got[1] == {"topic_id": None, "topic": None} and got[2] == {"topic_id": None, "topic": None}


def test_ppmi_by_hand() -> None:
    # texts {a,b}, {a,b}, {a,c}, {b,c}; context words a, b, c (each in 2+ texts); alpha = 1 for the hand sums
    docs = [["a", "b"], ["a", "b"], ["a", "c"], ["b", "c"]]
    got = ppmi_vectors(docs, ["a", "b"], alpha=1.0)
    # co-occurrence counts (word × context): a: [0, 2, 1], b: [2, 0, 1]; total 6
    # P(a)=P(b)=1/2, P(context a)=2/6, b=2/6, c=2/6 → PMI(a,b)=ln((2/6)/(1/2·1/3))=ln 2, PMI(a,c)=ln(1/2)<0 → 0
    assert got == pytest.approx(np.array([[0, np.log(2), 0], [np.log(2), 0, 0]]))


def test_too_few_comments_and_bad_settings() -> None:
    with pytest.raises(SiyuError) as err:
        cluster_keywords(["物流很快", "包装很好"], n_topics=3, min_doc_count=1)
    assert err.value.code == "too_few_comments"
    with pytest.raises(SiyuError) as err:
        cluster_keywords(["物流很快"], n_topics=1)
    assert err.value.code == "bad_topic_settings"
