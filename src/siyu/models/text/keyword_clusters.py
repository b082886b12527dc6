"""Keyword clustering (关键词聚类): group the frequent words of comments into topics (话题) by co-occurrence.

Words that are used in the same comments belong together: 发货, 快递 and 物流 turn up in the same
texts, 客服, 回复 and 态度 in others. The method, in three published steps:

1. **Co-occurrence.** For the ``vocabulary_size`` words in the most texts (at least
   ``min_doc_count``), count the texts holding both the word and each context word (every word in
   two or more texts).
2. **PPMI vectors.** Each word becomes its row of positive pointwise mutual information with the
   context words, with context-distribution smoothing α = 0.75 (Levy, Goldberg & Dagan, "Improving
   distributional similarity with lessons learned from word embeddings", TACL 2015):
   ``PPMI(w, c) = max(0, ln(P(w, c) / (P(w) · P_α(c))))``.
3. **Communities.** Words are nodes of a graph weighted by the cosine of their vectors, cut into
   ``n_topics`` groups by spectral clustering (Ng, Jordan & Weiss, NIPS 2001; scikit-learn's).

A topic is named by its strongest words (``下单/物流/发货``): those most similar to the topic's other
words, weighted by ``ln(1 + texts holding the word)`` so a central but rare word does not name it. On the shipped sample
(480 short texts, six labelled topics) the words that characterise one topic land together with an
adjusted Rand index of about 0.3 (random grouping: 0): fine for a first look at a few hundred
comments, better with thousands (docs/comments.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import sparse
from sklearn.cluster import SpectralClustering

from siyu.core.errors import SiyuError
from siyu.models.text.keywords import comment_table, document_words
from siyu.models.text.segment import Segmenter

CONTEXT_SMOOTHING = 0.75


@dataclass(frozen=True)
class KeywordTopics:
    """``keywords``: keyword, topic_id, topic, doc_count, affinity (mean similarity to its topic's words),
    strongest first within a topic; ``topics``: topic_id, topic (name), keywords (list, strongest
    first), n_keywords, doc_count (texts holding any of its words). Topic 0 covers the most texts."""

    keywords: pa.Table
    topics: pa.Table

    def topic_of(self) -> dict[str, int]:
        """keyword → topic_id."""
        return dict(zip(self.keywords["keyword"].to_pylist(), self.keywords["topic_id"].to_pylist(), strict=True))


def ppmi_vectors(docs: Sequence[Sequence[str]], vocabulary: Sequence[str], min_context_docs: int = 2,
                 alpha: float = CONTEXT_SMOOTHING) -> np.ndarray:
    """Rows of PPMI between each vocabulary word and the context words, from text-level co-occurrence."""
    df = Counter(w for words in docs for w in set(words))
    context = sorted(w for w, c in df.items() if c >= min_context_docs)
    v_index = {w: i for i, w in enumerate(vocabulary)}
    c_index = {w: i for i, w in enumerate(context)}
    v_rows, v_cols, c_rows, c_cols = [], [], [], []
    for r, words in enumerate(docs):
        for w in set(words):
            if w in v_index:
                v_rows.append(r)
                v_cols.append(v_index[w])
            if w in c_index:
                c_rows.append(r)
                c_cols.append(c_index[w])
    n = len(docs)
    xv = sparse.csr_matrix((np.ones(len(v_rows)), (v_rows, v_cols)), shape=(n, len(vocabulary)))
    xc = sparse.csr_matrix((np.ones(len(c_rows)), (c_rows, c_cols)), shape=(n, len(context)))
    counts = np.asarray((xv.T @ xc).todense(), dtype=float)
    for w, i in v_index.items():  # a word is not its own context
        if w in c_index:
            counts[i, c_index[w]] = 0.0
    total = counts.sum()
    if total == 0:
        return np.zeros((len(vocabulary), len(context)))
    p_word = counts.sum(axis=1, keepdims=True) / total
    smoothed = counts.sum(axis=0, keepdims=True) ** alpha
    p_context = smoothed / smoothed.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts / total / (p_word * p_context))
    return np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)


def cluster_keywords(comments: pa.Table | Sequence[str | None], *, text: str = "text", n_topics: int = 6,
                     vocabulary_size: int = 100, min_doc_count: int = 3, name_words: int = 3,
                     segmenter: Segmenter | None = None, seed: int = 0) -> KeywordTopics:
    """Group the comments' frequent words into ``n_topics`` topics (see the module docstring).

    Words that share no text with any context word cannot be placed and are left out.
    """
    if n_topics < 2 or vocabulary_size < n_topics or min_doc_count < 1 or name_words < 1:
        raise SiyuError(f"need n_topics ≥ 2 (got {n_topics}), vocabulary_size ≥ n_topics (got {vocabulary_size}), "
                        f"min_doc_count ≥ 1 and name_words ≥ 1", code="bad_topic_settings", input_name="n_topics")
    table = comment_table(comments, text)
    docs = document_words(table[text].to_pylist(), segmenter)
    df = Counter(w for words in docs for w in set(words))
    ranked = sorted((w for w, c in df.items() if c >= min_doc_count), key=lambda w: (-df[w], w))
    vocabulary = ranked[:vocabulary_size]
    vectors = ppmi_vectors(docs, vocabulary)
    norms = np.linalg.norm(vectors, axis=1)
    keep = norms > 0
    words = [w for w, k in zip(vocabulary, keep, strict=True) if k]
    if len(words) <= n_topics:
        raise SiyuError(f"only {len(words)} words occur in {min_doc_count}+ comments together with others; "
                        f"{n_topics} topics need more comments or a lower min_doc_count",
                        code="too_few_comments", input_name="comments")
    unit = vectors[keep] / norms[keep, None]
    similarity = np.clip(unit @ unit.T, 0.0, None)
    labels = SpectralClustering(n_clusters=n_topics, affinity="precomputed", random_state=seed,
                                n_init=10).fit_predict(similarity)
    return _tables(words, labels, similarity, docs, df, name_words)


def _tables(words: list[str], labels: np.ndarray, similarity: np.ndarray, docs: list[list[str]],
            df: Counter[str], name_words: int) -> KeywordTopics:
    members = {k: np.flatnonzero(labels == k) for k in np.unique(labels)}
    coverage = {k: sum(1 for d in docs if any(words[i] in d for i in idx)) for k, idx in members.items()}
    order = sorted(members, key=lambda k: (-coverage[k], min(words[i] for i in members[k])))
    kw: dict[str, list[object]] = {"keyword": [], "topic_id": [], "topic": [], "doc_count": [], "affinity": []}
    tp: dict[str, list[object]] = {"topic_id": [], "topic": [], "keywords": [], "n_keywords": [], "doc_count": []}
    for topic_id, k in enumerate(order):
        idx = members[k]
        sims = similarity[np.ix_(idx, idx)]
        affinity = (sims.sum(axis=1) - 1.0) / max(len(idx) - 1, 1)  # mean cosine to the other members
        # central and frequent first: mean similarity to the topic's other words × ln(1 + texts holding it)
        strength = affinity * np.log1p([df[words[i]] for i in idx])
        ranked = sorted(range(len(idx)), key=lambda j: (-strength[j], words[idx[j]]))
        name = "/".join(words[idx[j]] for j in ranked[:name_words])
        for j in ranked:
            kw["keyword"].append(words[idx[j]])
            kw["topic_id"].append(topic_id)
            kw["topic"].append(name)
            kw["doc_count"].append(df[words[idx[j]]])
            kw["affinity"].append(float(affinity[j]))
        tp["topic_id"].append(topic_id)
        tp["topic"].append(name)
        tp["keywords"].append([words[idx[j]] for j in ranked])
        tp["n_keywords"].append(len(idx))
        tp["doc_count"].append(coverage[k])
    keywords = pa.table({"keyword": pa.array(kw["keyword"], pa.string()),
                         "topic_id": pa.array(kw["topic_id"], pa.int64()),
                         "topic": pa.array(kw["topic"], pa.string()),
                         "doc_count": pa.array(kw["doc_count"], pa.int64()),
                         "affinity": pa.array(kw["affinity"], pa.float64())})
    topics = pa.table({"topic_id": pa.array(tp["topic_id"], pa.int64()), "topic": pa.array(tp["topic"], pa.string()),
                       "keywords": pa.array(tp["keywords"], pa.list_(pa.string())),
                       "n_keywords": pa.array(tp["n_keywords"], pa.int64()),
                       "doc_count": pa.array(tp["doc_count"], pa.int64())})
    return KeywordTopics(keywords=keywords, topics=topics)


def assign_topics(comments: pa.Table | Sequence[str | None], topics: KeywordTopics, *, text: str = "text",
                  segmenter: Segmenter | None = None) -> pa.Table:
    """Per comment, in order: ``topic_id`` and ``topic`` holding most of its words (ties: lower id), or
    nulls when it has none of the topics' words."""
    table = comment_table(comments, text)
    topic_of = topics.topic_of()
    names = dict(zip(topics.topics["topic_id"].to_pylist(), topics.topics["topic"].to_pylist(), strict=True))
    ids: list[int | None] = []
    for words in document_words(table[text].to_pylist(), segmenter):
        hits = Counter(topic_of[w] for w in words if w in topic_of)
        ids.append(min(hits, key=lambda t: (-hits[t], t)) if hits else None)
    return pa.table({"topic_id": pa.array(ids, pa.int64()),
                     "topic": pa.array([None if i is None else names[i] for i in ids], pa.string())})
