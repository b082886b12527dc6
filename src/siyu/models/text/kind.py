"""Comment sentiment as a registered model (模型注册): what ``siyu models train comment_sentiment`` runs.

"Training" fits the sentiment method's neutral band on the shipped labelled sample's ``tune`` split and
measures it on the ``test`` split (the evidence the registry records); scoring reads the comments of
the last ``lookback_days`` from the lake and writes one row per person (``comment_sentiment``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from siyu.core.errors import SiyuError
from siyu.models.text.evaluate import evaluate_sentiment
from siyu.models.text.insights import DEFAULT_COMMENT_EVENTS, comment_insights, read_comments
from siyu.models.text.sentiment import Method, SentimentModel
from siyu.warehouse.engine import Engine


class CommentSentimentConfig(BaseModel):
    """Which events carry comments, in which property, and how far back to read them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method = "lexicon"
    events: tuple[str, ...] = DEFAULT_COMMENT_EVENTS
    text_property: str = "text"
    product_property: str | None = None
    lookback_days: int = Field(default=90, ge=1, le=3650)


@dataclass
class CommentSentiment:
    model: SentimentModel
    config: CommentSentimentConfig
    as_of: date
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        return {**self.model.params, "events": list(self.config.events), "lookback_days": self.config.lookback_days}

    @classmethod
    def train(cls, engine: Engine, as_of: date, config: CommentSentimentConfig) -> CommentSentiment:
        evaluation = evaluate_sentiment((config.method,))
        row = evaluation.accuracy.to_pylist()[0]
        metrics = {k: float(v) for k, v in row.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        trained = cls(evaluation.models[config.method], config, as_of, metrics)
        c = config
        comments = read_comments(engine, events=c.events, text_property=c.text_property,
                                 product_property=c.product_property, start=trained._start(as_of), end=as_of)
        metrics["comments_in_window"] = float(comments.num_rows)  # counted, not scored: scoring is predict's job
        return trained

    def _start(self, as_of: date) -> date:
        return as_of - timedelta(days=self.config.lookback_days - 1)

    def _insights(self, engine: Engine, as_of: date) -> Any:
        return comment_insights(engine, events=self.config.events, text_property=self.config.text_property,
                                product_property=self.config.product_property, start=self._start(as_of),
                                end=as_of, model=self.model)

    def score(self, engine: Engine, as_of: date) -> pa.Table:
        people = self._insights(engine, as_of).people
        return people.append_column("as_of", pa.array([as_of] * people.num_rows, pa.date32()))

    def drift_columns(self, engine: Engine, as_of: date) -> dict[str, np.ndarray]:
        people = self._insights(engine, as_of).people
        return {"mean_score": people.column("mean_score").to_numpy(), "comments": people.column("comments").to_numpy()}

    def save(self, folder: Path) -> None:
        self.model.save(folder / "sentiment")
        doc = {"config": self.config.model_dump(mode="json"), "as_of": self.as_of.isoformat(), "metrics": self.metrics}
        (folder / "comment_sentiment.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Self:
        try:
            doc = json.loads((folder / "comment_sentiment.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SiyuError(f"cannot load a comment-sentiment model from {folder}: {exc}",
                            code="bad_model_file") from None
        return cls(SentimentModel.load(folder / "sentiment"), CommentSentimentConfig.model_validate(doc["config"]),
                   date.fromisoformat(doc["as_of"]), doc["metrics"])
