"""How well the sentiment methods do (准确率评估) on the labelled sample siyu ships.

The sample (``data/labelled_comments.csv``, 480 texts written for siyu: product reviews, group-chat
comments and customer-service chat lines, each labelled negative / neutral / positive and with one
topic) is split in halves stratified by label × topic: ``tune`` (neutral bands are fitted there) and
``test`` (every number reported comes from there). Metrics are computed here from their definitions
(precision = TP / predicted, recall = TP / true, F1 their harmonic mean, 0 when undefined); the tests
check them against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from siyu.core.errors import SiyuError
from siyu.models.text.lexicon import DATA_DIR
from siyu.models.text.sentiment import LABELS, METHODS, Method, SentimentModel, labels_for, raw_scores, tune_band

SAMPLE_PATH = DATA_DIR / "labelled_comments.csv"
SAMPLE_COLUMNS = ("id", "text", "sentiment", "topic", "source", "product", "split")
#: A scorer maps texts to scores in [0, 1] (1 = praise), like :func:`~siyu.models.text.sentiment.raw_scores`.
Scorer = Callable[[list[str]], np.ndarray]


def load_labelled_sample(split: str | None = None) -> pa.Table:
    """The labelled sample (all columns text); ``split`` keeps ``"tune"`` or ``"test"`` rows only."""
    types = dict.fromkeys(SAMPLE_COLUMNS, pa.string())
    table = pacsv.read_csv(SAMPLE_PATH, convert_options=pacsv.ConvertOptions(
        column_types=types, strings_can_be_null=False, include_columns=list(SAMPLE_COLUMNS)))
    if split is not None:
        if split not in ("tune", "test"):
            raise SiyuError(f"split {split!r} must be 'tune' or 'test'", code="bad_split", input_name="split")
        table = table.filter(pc.equal(table["split"], split))
    return table


def accuracy(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray) -> float:
    """Share of predictions equal to the truth."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.size == 0:
        raise SiyuError(f"need as many predictions as true labels, got {t.size} and {p.size}",
                        code="bad_predictions", input_name="y_pred")
    return float(np.mean(t == p))


def classification_metrics(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray,
                           labels: Sequence[str] = LABELS) -> pa.Table:
    """Per label: ``precision``, ``recall``, ``f1``, ``support``; then a ``macro avg`` row (unweighted mean)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    accuracy(t, p)  # same checks
    rows: dict[str, list[object]] = {"label": [], "precision": [], "recall": [], "f1": [], "support": []}
    for lab in labels:
        tp = int(np.sum((t == lab) & (p == lab)))
        predicted, support = int(np.sum(p == lab)), int(np.sum(t == lab))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        for key, value in zip(rows, (lab, precision, recall, f1, support), strict=True):
            rows[key].append(value)
    for key in ("precision", "recall", "f1"):
        rows[key].append(float(np.mean(rows[key])))  # type: ignore[arg-type]
    rows["label"].append("macro avg")
    rows["support"].append(int(t.size))
    return pa.table({"label": pa.array(rows["label"], pa.string()),
                     **{k: pa.array(rows[k], pa.float64()) for k in ("precision", "recall", "f1")},
                     "support": pa.array(rows["support"], pa.int64())})


def confusion_table(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray,
                    labels: Sequence[str] = LABELS) -> pa.Table:
    """Counts with one row per true label and one column per predicted label (混淆矩阵)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    accuracy(t, p)
    cols: dict[str, pa.Array] = {"true_label": pa.array(list(labels), pa.string())}
    for pred in labels:
        cols[pred] = pa.array([int(np.sum((t == true) & (p == pred))) for true in labels], pa.int64())
    return pa.table(cols)


@dataclass(frozen=True)
class SentimentEvaluation:
    """``accuracy``: one row per method; ``per_class``: precision/recall/F1 per method and label;
    ``confusion``: per method and true label; ``by_source``: accuracy per method and text source;
    ``models``: each method with the band fitted on the tune split and its test metrics."""

    accuracy: pa.Table
    per_class: pa.Table
    confusion: pa.Table
    by_source: pa.Table
    models: dict[str, SentimentModel]

    def best_method(self) -> str:
        """The method with the highest test accuracy (the first listed on a tie)."""
        acc = self.accuracy.column("accuracy").to_pylist()
        return str(self.accuracy.column("method")[int(np.argmax(acc))].as_py())


def evaluate_sentiment(methods: Sequence[Method] = METHODS, *, scorers: Mapping[str, Scorer] | None = None,
                       sample: pa.Table | None = None) -> SentimentEvaluation:
    """Fit each method's neutral band on the ``tune`` split and measure it on the ``test`` split.

    ``scorers`` adds other scorers by name (a brand's own model, or a deliberately broken one in the
    tests); ``sample`` replaces the shipped sample (same columns: text, sentiment, source, split).
    ``binary_accuracy`` counts only texts labelled positive or negative and reads a score above 0.5
    as positive, below as negative (exactly 0.5, no opinion found, counts as wrong).
    """
    sample = sample if sample is not None else load_labelled_sample()
    named: dict[str, Scorer] = {m: (lambda texts, m=m: raw_scores(texts, m)) for m in methods}  # type: ignore[misc]
    named.update(scorers or {})
    split = np.asarray(sample["split"].to_pylist())
    texts = np.asarray(sample["text"].to_pylist(), dtype=object)
    truth = np.asarray(sample["sentiment"].to_pylist())
    source = np.asarray(sample["source"].to_pylist())
    tune, test = split == "tune", split == "test"
    if not tune.any() or not test.any():
        raise SiyuError("the sample needs rows in both the 'tune' and the 'test' split", code="bad_split",
                        input_name="sample")
    acc_rows: list[dict[str, object]] = []
    class_tables, confusion_tables, source_rows = [], [], []
    models: dict[str, SentimentModel] = {}
    for name, scorer in named.items():
        scores = np.asarray(scorer(texts.tolist()), dtype=float)
        band = tune_band(scores[tune], truth[tune].tolist())
        pred = labels_for(scores[test], band)
        y = truth[test]
        report = classification_metrics(y, pred)
        polar = y != "neutral"
        sign = np.where(scores[test] > 0.5, "positive", np.where(scores[test] < 0.5, "negative", "none"))
        row = {"method": name, "n_tune": int(tune.sum()), "n_test": int(test.sum()),
               "neutral_low": band[0], "neutral_high": band[1], "accuracy": accuracy(y, pred),
               "macro_f1": report["f1"][-1].as_py(), "binary_accuracy": accuracy(y[polar], sign[polar]),
               "binary_n": int(polar.sum())}
        acc_rows.append(row)
        class_tables.append(_with_method(report, name))
        confusion_tables.append(_with_method(confusion_table(y, pred), name))
        for src in sorted(set(source[test].tolist())):
            keep = source[test] == src
            source_rows.append({"method": name, "source": src, "n": int(keep.sum()),
                                "accuracy": accuracy(y[keep], pred[keep])})
        if name in METHODS:
            metrics = {k: float(row[k]) for k in ("accuracy", "macro_f1", "binary_accuracy", "n_test")}
            models[name] = SentimentModel(method=name, neutral_band=band, metrics=metrics)
    return SentimentEvaluation(accuracy=pa.Table.from_pylist(acc_rows), per_class=pa.concat_tables(class_tables),
                               confusion=pa.concat_tables(confusion_tables),
                               by_source=pa.Table.from_pylist(source_rows), models=models)


def _with_method(table: pa.Table, name: str) -> pa.Table:
    return table.add_column(0, "method", pa.array([name] * table.num_rows, pa.string()))
