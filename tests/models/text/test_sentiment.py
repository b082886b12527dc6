"""Sentiment: behaviour on hand-labelled phrases, metrics against scikit-learn, and accuracy on the held-out
half of the labelled sample with thresholds a broken scorer fails."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from siyu.core.errors import SiyuError
from siyu.models.text.evaluate import (
    SentimentEvaluation,
    accuracy,
    classification_metrics,
    confusion_table,
    evaluate_sentiment,
    load_labelled_sample,
)
from siyu.models.text.lexicon_scorer import LexiconScorer
from siyu.models.text.sentiment import (
    DEFAULT_BANDS,
    DEFAULT_METHOD,
    LABELS,
    SentimentModel,
    labels_for,
    raw_scores,
    score_sentiment,
    tune_band,
)

#: Measured on the test split (234 texts): lexicon 0.897, SnowNLP 0.543 (3 classes); binary 0.872 / 0.763.
#: The bars sit about four standard errors (√(p(1−p)/234) ≈ 0.02–0.03) below the measured values.
LEXICON_BAR = 0.80
SNOWNLP_BAR = 0.45
SNOWNLP_BINARY_BAR = 0.70


@pytest.fixture(scope="module")
def evaluation() -> SentimentEvaluation:
    rng = np.random.default_rng(7)
    return evaluate_sentiment(scorers={
        "inverted_lexicon": lambda texts: 1.0 - raw_scores(texts, "lexicon"),
        "coin_flip": lambda texts: rng.random(len(texts)),
    })


def _row(evaluation: SentimentEvaluation, method: str) -> dict:  # type: ignore[type-arg]
    return next(r for r in evaluation.accuracy.to_pylist() if r["method"] == method)


# --- behaviour ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "label"), [
    ("物流太慢了，等了一个星期😡", "negative"),
    ("面膜很好用，会回购的[强]", "positive"),
    ("请问什么时候发货？", "neutral"),
    ("价格不贵", "positive"),                      # negation flips a complaint word
    ("没有想象中好用", "negative"),                 # negation a few words before the praise
    ("客服没有不耐烦", "positive"),                 # double negation
    ("质量不错，就是物流太慢了", "negative"),        # the clause after the turn carries the point
    ("虽然价格不便宜，但是物有所值", "positive"),
    ("这个会过敏吗？", "neutral"),                  # a question, not a complaint
    ("好慢啊", "negative"),                         # 好 as a degree adverb
    ("包装也好", "positive"),                       # jieba's 也好 still carries 好
    ("收到了，还没用", "neutral"),
])
def test_labels_of_hand_labelled_phrases(text: str, label: str) -> None:
    assert score_sentiment([text]).column("label").to_pylist() == [label]


def test_degree_and_hedged_negation_move_the_score() -> None:
    scorer = LexiconScorer()
    assert scorer.polarity("很好") > scorer.polarity("好") > scorer.polarity("有点好") > 0
    assert scorer.polarity("不好") < scorer.polarity("不太好") < 0
    assert scorer.polarity("非常差") < scorer.polarity("差") < 0


def test_missing_texts_are_neutral_and_repeats_score_alike() -> None:
    got = score_sentiment(pa.array(["质量很差", None, "", "质量很差"]))
    scores = got.column("score").to_pylist()
    assert scores[1] == scores[2] == 0.5 and scores[0] == scores[3] < 0.5
    assert got.column("label").to_pylist() == ["negative", "neutral", "neutral", "negative"]
    with pytest.raises(SiyuError, match="not one string"):
        score_sentiment("质量很差")  # type: ignore[arg-type]


def test_snownlp_method_is_snownlps_own_score() -> None:
    from snownlp import SnowNLP

    texts = ["物流太慢了", "质量很好，很满意", "请问有货吗"]
    assert raw_scores(texts, "snownlp") == pytest.approx([SnowNLP(t).sentiments for t in texts])


# --- metrics against scikit-learn ------------------------------------------------------------------------------

def test_metrics_match_sklearn_on_random_labels() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(LABELS, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.choice(LABELS, 300))
    report = classification_metrics(y, p).to_pylist()
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y, p, labels=list(LABELS), zero_division=0)
    assert [r["precision"] for r in report[:3]] == pytest.approx(prec)
    assert [r["recall"] for r in report[:3]] == pytest.approx(rec)
    assert [r["f1"] for r in report[:3]] == pytest.approx(f1)
    assert [r["support"] for r in report[:3]] == list(sup)
    assert report[3]["f1"] == pytest.approx(skm.f1_score(y, p, labels=list(LABELS), average="macro"))
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))
    conf = confusion_table(y, p)
    assert np.array([conf[lab].to_pylist() for lab in LABELS]).T.tolist() == \
        skm.confusion_matrix(y, p, labels=list(LABELS)).tolist()


def test_metrics_when_a_class_is_never_predicted() -> None:
    report = classification_metrics(["positive", "negative"], ["positive", "positive"]).to_pylist()
    assert report[0]["precision"] == 0.0 and report[0]["f1"] == 0.0  # negative: never predicted
    with pytest.raises(SiyuError, match="as many predictions"):
        accuracy(["positive"], [])


def test_reported_test_metrics_match_sklearn(evaluation: SentimentEvaluation) -> None:
    sample = load_labelled_sample("test")
    y = np.asarray(sample["sentiment"].to_pylist())
    model = evaluation.models["lexicon"]
    pred = model.score(sample["text"]).column("label").to_numpy(zero_copy_only=False)
    row = _row(evaluation, "lexicon")
    assert row["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert row["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    conf = [r for r in evaluation.confusion.to_pylist() if r["method"] == "lexicon"]
    assert [[r[lab] for lab in LABELS] for r in conf] == skm.confusion_matrix(y, pred, labels=list(LABELS)).tolist()


# --- accuracy on the held-out half ------------------------------------------------------------------------------

def test_lexicon_accuracy_on_the_test_split(evaluation: SentimentEvaluation) -> None:
    row = _row(evaluation, "lexicon")
    assert row["n_test"] == 234 and row["n_tune"] == 246
    assert row["accuracy"] >= LEXICON_BAR
    assert row["macro_f1"] >= LEXICON_BAR
    per_class = [r for r in evaluation.per_class.to_pylist() if r["method"] == "lexicon" and r["label"] in LABELS]
    assert min(r["f1"] for r in per_class) >= 0.75


def test_snownlp_accuracy_on_the_test_split(evaluation: SentimentEvaluation) -> None:
    row = _row(evaluation, "snownlp")
    assert row["accuracy"] >= SNOWNLP_BAR
    assert row["binary_accuracy"] >= SNOWNLP_BINARY_BAR


def test_broken_scorers_fail_the_bar(evaluation: SentimentEvaluation) -> None:
    inverted, coin = _row(evaluation, "inverted_lexicon"), _row(evaluation, "coin_flip")
    assert inverted["accuracy"] < LEXICON_BAR and coin["accuracy"] < LEXICON_BAR
    assert inverted["binary_accuracy"] < 0.2 and coin["binary_accuracy"] < SNOWNLP_BINARY_BAR


def test_the_default_method_is_the_most_accurate(evaluation: SentimentEvaluation) -> None:
    shipped = evaluation.accuracy.filter(pa.compute.is_in(evaluation.accuracy["method"],
                                                          pa.array(["lexicon", "snownlp"])))
    assert SentimentEvaluation(shipped, evaluation.per_class, evaluation.confusion, evaluation.by_source,
                               evaluation.models).best_method() == DEFAULT_METHOD


@pytest.mark.parametrize("method", ["lexicon", "snownlp"])
def test_shipped_bands_are_the_ones_fitted_on_the_tune_split(evaluation: SentimentEvaluation, method: str) -> None:
    assert evaluation.models[method].neutral_band == pytest.approx(DEFAULT_BANDS[method])
    tune = load_labelled_sample("tune")
    fitted = SentimentModel.fit(tune["text"].to_pylist(), tune["sentiment"].to_pylist(), method)  # type: ignore[arg-type]
    assert fitted.neutral_band == pytest.approx(DEFAULT_BANDS[method])


# --- the band search -------------------------------------------------------------------------------------------

def test_tune_band_finds_the_best_band_by_brute_force() -> None:
    rng = np.random.default_rng(11)
    y = rng.choice(LABELS, 60)
    scores = np.round(np.clip(np.select([y == "negative", y == "positive"], [0.3, 0.7], 0.5)
                              + rng.normal(0, 0.15, 60), 0, 1), 2)
    band = tune_band(scores, y.tolist())
    best = max(np.mean(labels_for(scores, (lo, hi)) == y)
               for lo, hi in itertools.product(np.linspace(-0.005, 1.005, 203), repeat=2) if lo <= hi)
    assert np.mean(labels_for(scores, band) == y) == pytest.approx(best)
    with pytest.raises(SiyuError, match="unknown sentiment labels"):
        tune_band(scores[:2], ["good", "bad"])


# --- the model as the registry sees it -------------------------------------------------------------------------

def test_model_saves_as_json_and_loads_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = SentimentModel("snownlp", (0.2, 0.4), {"accuracy": 0.5})
    model.save(tmp_path / "m")
    body = json.loads((tmp_path / "m" / "sentiment_model.json").read_text(encoding="utf-8"))
    assert body["params"] == {"method": "snownlp", "neutral_low": 0.2, "neutral_high": 0.4}
    loaded = SentimentModel.load(tmp_path / "m")
    assert loaded == model and loaded.params == model.params and loaded.metrics == {"accuracy": 0.5}
    (tmp_path / "m" / "sentiment_model.json").write_text("{", encoding="utf-8")
    with pytest.raises(SiyuError) as err:
        SentimentModel.load(tmp_path / "m")
    assert err.value.code == "bad_model_file"


@pytest.mark.parametrize(("kwargs", "code"), [({"method": "bert"}, "bad_sentiment_method"),
                                              ({"neutral_band": (0.6, 0.4)}, "bad_neutral_band"),
                                              ({"neutral_band": (-0.1, 0.4)}, "bad_neutral_band")])
def test_bad_models_are_refused(kwargs: dict, code: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SiyuError) as err:
        SentimentModel(**kwargs)
    assert err.value.code == code


def test_fit_needs_matching_labels() -> None:
    with pytest.raises(SiyuError, match="as many labels"):
        SentimentModel.fit(["好"], [])
    fitted = SentimentModel.fit(["很好用", "太差了", "请问有货吗"], ["positive", "negative", "neutral"])
    assert fitted.metrics["fit_accuracy"] == 1.0
