"""Keywords of a set of comments (关键词提取): TF-IDF and TextRank, optionally per product, period or sentiment.

Both methods read the content words of :meth:`Segmenter.words` (stop words, numbers, emoji and degree
adverbs out; a negation glued to its sentiment word: 不贵, 没效果).

**TF-IDF** (词频-逆文档频率). For a group ``G`` of texts (all texts when there is no ``by``):
``tf(w, G) = count of w in G / number of words in G`` (jieba's definition) and
``weight = tf(w, G) · idf(w)``. The IDF is, by default, computed from the comments themselves
(``idf="corpus"``) as ``idf(w) = ln((1 + N) / (1 + df(w))) + 1`` with ``N`` texts of which ``df(w)``
hold ``w`` (the smoothed form of Salton & Buckley 1988, as in scikit-learn). We prefer it to jieba's
shipped IDF because that one was counted on general news text: it knows nothing of 色号 or 起球 (they
get its median) and calls 物流 rare, where in a brand's own comments what matters is which words stand
out *among these comments*. ``idf="general"`` uses jieba's table instead, for a handful of texts where
corpus counts mean little.

**TextRank** (Mihalcea & Tarau, "TextRank: Bringing Order into Texts", EMNLP 2004): words are nodes,
two words within ``window`` positions of each other in one text are joined by an edge weighted by
how often that happens, and the weight is the word's PageRank (Brin & Page 1998) on that graph with
damping 0.85: ``x = (1 − d)/n + d · (M x + dangling/n)``, the scores summing to 1 per group.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from scipy import sparse

from siyu.core.errors import SiyuError
from siyu.models.text.segment import Segmenter, default_segmenter

KeywordMethod = Literal["tfidf", "textrank"]
IdfSource = Literal["corpus", "general"]
_GENERAL_IDF: tuple[dict[str, float], float] | None = None
_IDF_LOCK = threading.Lock()


def comment_table(comments: pa.Table | Sequence[str | None], text: str = "text",
                  by: Sequence[str] = ()) -> pa.Table:
    """``comments`` as a table with column ``text`` (and the ``by`` columns), checked."""
    if not isinstance(comments, pa.Table):
        if isinstance(comments, str):
            raise SiyuError("comments must be a table or a list of texts, not one string", code="bad_texts",
                            input_name="comments")
        return pa.table({text: pa.array(list(comments), pa.string())})
    missing = [c for c in (text, *by) if c not in comments.column_names]
    if missing:
        raise SiyuError(f"comments have no column {missing[0]!r} (columns: {', '.join(comments.column_names)})",
                        code="bad_texts", input_name=missing[0])
    return comments


def document_words(texts: Sequence[str | None], segmenter: Segmenter | None = None) -> list[list[str]]:
    """The content words of each text (an empty list for a missing text)."""
    seg = segmenter or default_segmenter()
    memo: dict[str, list[str]] = {}
    out: list[list[str]] = []
    for t in texts:
        if not t:
            out.append([])
            continue
        words = memo.get(t)
        if words is None:
            words = memo[t] = seg.words(t)
        out.append(words)
    return out


def corpus_idf(docs: Sequence[Sequence[str]]) -> dict[str, float]:
    """``ln((1 + N) / (1 + df)) + 1`` for every word of ``docs`` (``N`` documents, ``df`` holding the word)."""
    df: Counter[str] = Counter()
    for words in docs:
        df.update(set(words))
    n = len(docs)
    return {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}


def general_idf() -> tuple[dict[str, float], float]:
    """jieba's shipped IDF table and its median (jieba's value for words it does not know); read once."""
    global _GENERAL_IDF
    with _IDF_LOCK:
        if _GENERAL_IDF is None:
            import jieba.analyse

            path = Path(jieba.analyse.__file__).parent / "idf.txt"
            table: dict[str, float] = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                word, _, value = line.strip().partition(" ")
                if value:
                    table[word] = float(value)
            _GENERAL_IDF = (table, float(np.median(list(table.values()))))
        return _GENERAL_IDF


def pagerank(weights: sparse.spmatrix | np.ndarray, damping: float = 0.85, tol: float = 1e-12,
             max_iter: int = 1000) -> np.ndarray:
    """PageRank of a weighted graph by power iteration; ``weights[j, i]`` is the weight of edge j → i.

    A node without out-edges (dangling) spreads its score evenly, as in networkx. Scores sum to 1.
    """
    w = sparse.csr_matrix(weights, dtype=float)
    n = w.shape[0]
    if n == 0:
        return np.zeros(0)
    if not 0.0 < damping < 1.0:
        raise SiyuError(f"damping {damping} must be between 0 and 1", code="bad_damping", input_name="damping")
    out_strength = np.asarray(w.sum(axis=1)).ravel()
    dangling = out_strength == 0
    inv = np.divide(1.0, out_strength, out=np.zeros(n), where=~dangling)
    transition = (sparse.diags(inv) @ w).T.tocsr()  # column j: where j's score goes
    x = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        nxt = damping * (transition @ x + x[dangling].sum() / n) + (1.0 - damping) / n
        if np.abs(nxt - x).sum() < n * tol:
            return np.asarray(nxt / nxt.sum())
        x = nxt
    return np.asarray(x / x.sum())


def _textrank(docs: list[list[str]], window: int, damping: float) -> dict[str, float]:
    index: dict[str, int] = {}
    edges: Counter[tuple[int, int]] = Counter()
    for words in docs:
        ids = [index.setdefault(w, len(index)) for w in words]
        for i, a in enumerate(ids):
            for b in ids[i + 1:i + window]:
                if a != b:
                    edges[(min(a, b), max(a, b))] += 1
    n = len(index)
    if n == 0:
        return {}
    if edges:
        rows, cols = zip(*edges, strict=True)
        vals = list(edges.values())
        w = sparse.coo_matrix((vals + vals, (rows + cols, cols + rows)), shape=(n, n))
    else:
        w = sparse.coo_matrix((n, n))
    scores = pagerank(w, damping)
    return {word: float(scores[i]) for word, i in index.items()}


def extract_keywords(comments: pa.Table | Sequence[str | None], *, text: str = "text", by: Sequence[str] = (),
                     method: KeywordMethod = "tfidf", top_k: int = 20, idf: IdfSource = "corpus",
                     window: int = 5, damping: float = 0.85, min_doc_count: int = 1,
                     segmenter: Segmenter | None = None) -> pa.Table:
    """Top ``top_k`` keywords per group of ``by`` columns (e.g. ``product``, ``period``, ``label``).

    Returns the ``by`` columns, then ``keyword``, ``weight`` (TF-IDF or TextRank score), ``doc_count``
    (texts of the group holding the word) and ``rank`` (1 = strongest), groups in order of first
    appearance. Words in fewer than ``min_doc_count`` texts of their group are left out.

    >>> extract_keywords(["物流太慢了", "物流很快", "包装破损"], top_k=1).column("keyword").to_pylist()
    ['物流']
    """
    if method not in ("tfidf", "textrank"):
        raise SiyuError(f"unknown keyword method {method!r}: use 'tfidf' or 'textrank'", code="bad_keyword_method",
                        input_name="method")
    if idf not in ("corpus", "general"):
        raise SiyuError(f"unknown idf {idf!r}: use 'corpus' or 'general'", code="bad_keyword_method",
                        input_name="idf")
    if top_k < 1 or window < 2 or min_doc_count < 1:
        raise SiyuError(f"top_k ({top_k}) and min_doc_count ({min_doc_count}) must be ≥ 1 and window ({window}) ≥ 2",
                        code="bad_keyword_method", input_name="top_k")
    table = comment_table(comments, text, by)
    docs = document_words(table[text].to_pylist(), segmenter)
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    keys = list(zip(*(table[c].to_pylist() for c in by), strict=True)) if by else [()] * table.num_rows
    for i, key in enumerate(keys):
        groups[key].append(i)
    if method == "tfidf":
        known, fallback = (corpus_idf(docs), 1.0) if idf == "corpus" else general_idf()
    out: dict[str, list[Any]] = {c: [] for c in (*by, "keyword", "weight", "doc_count", "rank")}
    for key, rows in groups.items():
        group_docs = [docs[i] for i in rows]
        doc_count: Counter[str] = Counter()
        for words in group_docs:
            doc_count.update(set(words))
        if method == "tfidf":
            counts = Counter(w for words in group_docs for w in words)
            total = sum(counts.values())
            weights = {w: c / total * known.get(w, fallback) for w, c in counts.items()}
        else:
            weights = _textrank(group_docs, window, damping)
        ranked = sorted((w for w in weights if doc_count[w] >= min_doc_count), key=lambda w: (-weights[w], w))
        for rank, word in enumerate(ranked[:top_k], 1):
            for col, value in zip(by, key, strict=True):
                out[col].append(value)
            out["keyword"].append(word)
            out["weight"].append(weights[word])
            out["doc_count"].append(doc_count[word])
            out["rank"].append(rank)
    return pa.table({**{c: pa.array(out[c], table.schema.field(c).type) for c in by},
                     "keyword": pa.array(out["keyword"], pa.string()),
                     "weight": pa.array(out["weight"], pa.float64()),
                     "doc_count": pa.array(out["doc_count"], pa.int64()),
                     "rank": pa.array(out["rank"], pa.int64())})
