"""Chinese comment analysis (中文评论分析): segmentation, keywords, keyword topics and sentiment for product
reviews (商品评论), community comments (社群) and customer-service chats (客服对话). Runs offline: jieba
and SnowNLP ship their dictionaries and model, and siyu ships its lexicon and a labelled sample.

    >>> from siyu.models.text import score_sentiment, extract_keywords
    >>> score_sentiment(["发货太慢了", "面膜很好用，会回购"]).column("label").to_pylist()
    ['negative', 'positive']

See docs/comments.md for the methods, the measured accuracy and the limits.
"""

from siyu.models.text.evaluate import (
    SentimentEvaluation,
    classification_metrics,
    confusion_table,
    evaluate_sentiment,
    load_labelled_sample,
)
from siyu.models.text.insights import CommentInsights, comment_insights, read_comments
from siyu.models.text.keyword_clusters import KeywordTopics, assign_topics, cluster_keywords
from siyu.models.text.keywords import extract_keywords
from siyu.models.text.lexicon import Lexicon, default_lexicon
from siyu.models.text.segment import Segmenter, default_segmenter
from siyu.models.text.sentiment import DEFAULT_METHOD, METHODS, SentimentModel, score_sentiment

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "CommentInsights",
    "KeywordTopics",
    "Lexicon",
    "Segmenter",
    "SentimentEvaluation",
    "SentimentModel",
    "assign_topics",
    "classification_metrics",
    "cluster_keywords",
    "comment_insights",
    "confusion_table",
    "default_lexicon",
    "default_segmenter",
    "evaluate_sentiment",
    "extract_keywords",
    "load_labelled_sample",
    "read_comments",
    "score_sentiment",
]
