"""Sentiment of Chinese comments (情感分析): a score in [0, 1] and a label per text, by one of two methods.

- ``lexicon`` (词典法, the default): siyu's HowNet-style word lists with negation, degree, turn and
  question handling (:mod:`siyu.models.text.lexicon_scorer`).
- ``snownlp``: SnowNLP's shipped naive Bayes model, trained by its author on online shopping reviews
  (商品评论, books and goods), run through SnowNLP's own segmenter, exactly as ``SnowNLP(text).sentiments``.

A score is turned into a label with a neutral band (中性区间) ``[low, high]``: below ``low`` negative,
above ``high`` positive, inside neutral. Each method's band was tuned on the ``tune`` half of the
labelled sample (:func:`SentimentModel.fit`); accuracy is reported on the ``test`` half
(:mod:`siyu.models.text.evaluate`, docs/comments.md). The default method is the one with the higher
measured test accuracy: lexicon 0.897 against SnowNLP 0.543 (three classes, 234 test texts); on
praise-vs-complaint alone 0.872 against 0.763. The lexicon and the sample share an author, so its
number is optimistic for other brands' texts: see docs/comments.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pyarrow as pa

from siyu.core.errors import SiyuError
from siyu.models.text.lexicon_scorer import LexiconScorer
from siyu.models.text.segment import Segmenter

Method = Literal["lexicon", "snownlp"]
METHODS: tuple[Method, ...] = ("lexicon", "snownlp")
DEFAULT_METHOD: Method = "lexicon"
LABELS = ("negative", "neutral", "positive")
#: Neutral bands found by :meth:`SentimentModel.fit` on the sample's ``tune`` split (a test re-derives them).
DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "lexicon": (0.446472, 0.550957),
    "snownlp": (0.130946, 0.379691),
}
_FILE = "sentiment_model.json"


def _texts(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> list[str | None]:
    if isinstance(texts, pa.Array | pa.ChunkedArray):
        return [None if v is None else str(v) for v in texts.to_pylist()]
    if isinstance(texts, str):
        raise SiyuError("texts must be a sequence of strings, not one string", code="bad_texts", input_name="texts")
    return [None if v is None else str(v) for v in texts]


def raw_scores(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray, method: Method = DEFAULT_METHOD,
               segmenter: Segmenter | None = None) -> np.ndarray:
    """The method's score in [0, 1] per text (0.5 for a missing or empty text), before any band.

    ``segmenter`` (lexicon only) brings a brand's own lexicon or words. Repeated texts are scored once.
    """
    items = _texts(texts)
    if method == "lexicon":
        return LexiconScorer(segmenter).scores(items)
    if method == "snownlp":
        return _snownlp_scores(items)
    raise SiyuError(f"unknown sentiment method {method!r}: use one of {', '.join(METHODS)}",
                    code="bad_sentiment_method", input_name="method")


def _snownlp_scores(texts: list[str | None]) -> np.ndarray:
    from snownlp import sentiment as snow  # imported on use: it loads three models (about two seconds)

    memo: dict[str, float] = {}
    out = np.full(len(texts), 0.5)
    for i, text in enumerate(texts):
        if text and text.strip():
            got = memo.get(text)
            if got is None:
                got = memo[text] = float(snow.classify(text))
            out[i] = got
    return out


def labels_for(scores: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """``negative`` below ``band[0]``, ``positive`` above ``band[1]``, ``neutral`` in between (inclusive)."""
    low, high = band
    return np.where(scores < low, "negative", np.where(scores > high, "positive", "neutral"))


def tune_band(scores: np.ndarray, labels: Sequence[str]) -> tuple[float, float]:
    """The neutral band with the highest accuracy on ``(scores, labels)``, searched exhaustively.

    Every cut between two distinct scores is tried for ``low`` and for ``high`` (``low ≤ high``); a
    band sits half-way between the scores it separates, rounded to 6 decimals. Ties go to the
    narrowest band, then to the lowest. Labels must be negative / neutral / positive.
    """
    y = np.asarray(labels)
    unknown = set(y.tolist()) - set(LABELS)
    if unknown:
        raise SiyuError(f"unknown sentiment labels {sorted(unknown)}: use {', '.join(LABELS)}",
                        code="bad_sentiment_labels", input_name="labels")
    values = np.unique(np.concatenate([scores, [0.5]]))
    cuts = np.concatenate([[values[0] - 1e-3], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-3]])
    # counts of each class strictly below each cut (scores never equal a cut)
    below = {lab: np.searchsorted(np.sort(scores[y == lab]), cuts) for lab in LABELS}
    total = {lab: int((y == lab).sum()) for lab in LABELS}
    lo = cuts[:, None]
    hi = cuts[None, :]
    correct = (below["negative"][:, None] + (below["neutral"][None, :] - below["neutral"][:, None])
               + (total["positive"] - below["positive"][None, :]))
    correct = np.where(hi >= lo, correct, -1)
    best = correct.max()
    candidates = np.argwhere(correct == best)
    widths = cuts[candidates[:, 1]] - cuts[candidates[:, 0]]
    order = np.lexsort((cuts[candidates[:, 0]], widths))
    i, j = candidates[order[0]]
    return round(float(cuts[i]), 6), round(float(cuts[j]), 6)


@dataclass
class SentimentModel:
    """A sentiment method with its neutral band; saved as JSON (no pickle) for the model registry.

    ``params`` are the hyper-parameters (method, band); ``metrics`` what the last evaluation measured.
    """

    method: Method = DEFAULT_METHOD
    neutral_band: tuple[float, float] = DEFAULT_BANDS[DEFAULT_METHOD]
    metrics: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SiyuError(f"unknown sentiment method {self.method!r}: use one of {', '.join(METHODS)}",
                            code="bad_sentiment_method", input_name="method")
        low, high = (float(v) for v in self.neutral_band)
        if not 0.0 <= low <= high <= 1.0 or math.isnan(low + high):
            raise SiyuError(f"neutral_band {self.neutral_band!r} must be 0 ≤ low ≤ high ≤ 1",
                            code="bad_neutral_band", input_name="neutral_band")
        self.neutral_band = (low, high)

    @classmethod
    def for_method(cls, method: Method = DEFAULT_METHOD) -> SentimentModel:
        """The method with its shipped band (tuned on the sample's ``tune`` split)."""
        if method not in DEFAULT_BANDS:
            raise SiyuError(f"unknown sentiment method {method!r}: use one of {', '.join(METHODS)}",
                            code="bad_sentiment_method", input_name="method")
        return cls(method=method, neutral_band=DEFAULT_BANDS[method])

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], method: Method = DEFAULT_METHOD,
            segmenter: Segmenter | None = None) -> SentimentModel:
        """Tune the neutral band on labelled texts (e.g. a brand's own 200 hand-labelled comments).

        ``metrics`` gets the accuracy on these same texts as ``fit_accuracy``: measure on other texts
        (:func:`siyu.models.text.evaluate.evaluate_model`) before trusting it.
        """
        if len(texts) != len(labels) or not texts:
            raise SiyuError(f"fit needs as many labels as texts, got {len(texts)} texts and {len(labels)} labels",
                            code="bad_sentiment_labels", input_name="labels")
        scores = raw_scores(texts, method, segmenter)
        band = tune_band(scores, labels)
        accuracy = float(np.mean(labels_for(scores, band) == np.asarray(labels)))
        return cls(method=method, neutral_band=band, metrics={"fit_accuracy": accuracy, "fit_n": float(len(texts))})

    @property
    def params(self) -> dict[str, Any]:
        return {"method": self.method, "neutral_low": self.neutral_band[0], "neutral_high": self.neutral_band[1]}

    def score(self, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray,
              segmenter: Segmenter | None = None) -> pa.Table:
        """One row per text, in order: ``score`` (float, 1 = praise) and ``label`` (negative/neutral/positive).

        A missing or empty text scores 0.5 and is neutral.
        """
        scores = raw_scores(texts, self.method, segmenter)
        return pa.table({"score": pa.array(scores, pa.float64()),
                         "label": pa.array(labels_for(scores, self.neutral_band).tolist(), pa.string())})

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        body = {"kind": "comment_sentiment", "params": self.params, "metrics": self.metrics}
        (folder / _FILE).write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Self:
        path = folder / _FILE
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            params = body["params"]
            return cls(method=params["method"], neutral_band=(params["neutral_low"], params["neutral_high"]),
                       metrics={k: float(v) for k, v in body.get("metrics", {}).items()})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SiyuError(f"cannot load a sentiment model from {path}: {exc}", code="bad_model_file",
                            input_name=str(path)) from None


def score_sentiment(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray, method: Method | None = None,
                    model: SentimentModel | None = None, segmenter: Segmenter | None = None) -> pa.Table:
    """Score and label texts with ``model``, or with ``method``'s shipped band (default: lexicon).

    >>> score_sentiment(["物流太慢了", "质量很好，会回购"]).column("label").to_pylist()
    ['negative', 'positive']
    """
    if model is None:
        model = SentimentModel.for_method(method or DEFAULT_METHOD)
    elif method is not None and method != model.method:
        raise SiyuError(f"method {method!r} differs from the model's {model.method!r}: pass one of them",
                        code="bad_sentiment_method", input_name="method")
    return model.score(texts, segmenter)
