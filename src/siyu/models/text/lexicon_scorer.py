"""Lexicon sentiment (词典法情感分析): sentiment words weighted by negation and degree adverbs, clause by clause.

The method is the classic one for Chinese reviews built on HowNet-style word lists: within a clause
(分句), each sentiment word's polarity is multiplied by the negations (否定词) and degree adverbs
(程度副词) met since the previous sentiment word; clauses are summed. Two discourse rules follow the
same literature: the clauses before a turn (转折: 但是, 不过, 就是…) count half, because Chinese puts
the point after the turn; a question (…吗？) counts at 0.1, because "会过敏吗" asks rather than
complains (0.1 was the best of 0, 0.1, 0.2, 0.3 and 0.5 on the sample's tune split; 0 tied). The
sum ``s`` becomes a score ``1 / (1 + e^(-s))`` in (0, 1); 0.5 means no opinion found.

References: Dong & Dong, *HowNet and the Computation of Meaning* (2006) for the word lists and degree
levels; Taboada et al., "Lexicon-based methods for sentiment analysis", Computational Linguistics 37(2),
2011, for the negation/intensifier arithmetic and the discourse (adversative) weighting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from siyu.models.text.lexicon import Lexicon
from siyu.models.text.segment import Clause, Segmenter, default_segmenter

#: Words that open the clause carrying the writer's point (转折连词); the clauses before them count half.
ADVERSATIVES = frozenset({"但是", "但", "可是", "不过", "然而", "就是", "只是", "却", "可", "结果", "反而"})
#: Words that open a concession (让步); the clause they open counts half.
CONCESSIVES = frozenset({"虽然", "虽说", "尽管", "虽"})
#: Sentence-final particles of a question (疑问语气词) and question words (疑问词): a clause with one asks.
QUESTION_PARTICLES = frozenset({"吗", "么", "嘛"})
QUESTION_WORDS = frozenset({"几", "多少", "多久", "什么", "哪", "哪个", "哪里", "哪款", "会不会", "能不能", "是不是",
                            "有没有", "可不可以", "要不要"})
BEFORE_TURN_WEIGHT = 0.5
CONCESSION_WEIGHT = 0.5
QUESTION_WEIGHT = 0.1
#: 好 before a sentiment word is a degree adverb (好慢, 好贵), not praise; before 几/多/久 a quantity (好几天).
GOOD_AS_DEGREE = 1.3
_GOOD_QUANTITY = ("几", "多", "久", "些")
_TRAILING_PARTICLES = "了啦啊呀吧哦哈"
#: Adverbs jieba glues to a one-character sentiment word (也好, 都好, 更好): they do not change it.
_GLUED_ADVERBS = {"也": 1.0, "都": 1.0, "就": 1.0, "又": 1.0, "更": 1.2}


def is_question(clause: Clause) -> bool:
    """A question mark, a final 吗/么, a question word (几次, 多少, 哪个…) or an A-not-A form (会不会, 能/不能)."""
    tokens = clause.tokens
    if "?" in clause.end or tokens[-1] in QUESTION_PARTICLES:
        return True
    if any(t in QUESTION_WORDS or t.startswith("几") for t in tokens):
        return True
    return any(b in (f"不{a}", f"没{a}") for a, b in pairwise(tokens))


class LexiconScorer:
    """Scores texts with a :class:`~siyu.models.text.lexicon.Lexicon`; read-only once built (thread-safe)."""

    def __init__(self, segmenter: Segmenter | None = None) -> None:
        self.segmenter = segmenter or default_segmenter()
        self.lexicon: Lexicon = self.segmenter.lexicon
        self._token_cache: dict[str, tuple[float, float | None]] = {}

    def polarity(self, text: str) -> float:
        """The summed, weighted polarity ``s`` of ``text`` (> 0 praise, < 0 complaint, 0 none found)."""
        clauses = self.segmenter.clauses(text)
        weights = [1.0] * len(clauses)
        values = [0.0] * len(clauses)
        for i, clause in enumerate(clauses):
            values[i] = self._clause_value(clause)
            first = clause.tokens[0]
            if first in ADVERSATIVES or (first.startswith("但") and len(first) == 2):
                for j in range(i):
                    weights[j] *= BEFORE_TURN_WEIGHT
            if first in CONCESSIVES:
                weights[i] *= CONCESSION_WEIGHT
            if is_question(clause):
                weights[i] *= QUESTION_WEIGHT
        return float(sum(w * v for w, v in zip(weights, values, strict=True)))

    def scores(self, texts: Sequence[str | None]) -> np.ndarray:
        """Score in (0, 1) per text (``1 / (1 + e^(-s))``); a missing or empty text scores 0.5."""
        memo: dict[str, float] = {}
        out = np.full(len(texts), 0.5)
        for i, text in enumerate(texts):
            if not text:
                continue
            s = memo.get(text)
            if s is None:
                s = memo[text] = self.polarity(text)
            out[i] = 1.0 / (1.0 + math.exp(-s))
        return out

    def _clause_value(self, clause: Clause) -> float:
        tokens = clause.tokens
        sentiment, negations, degrees = self.lexicon.sentiment, self.lexicon.negations, self.lexicon.degrees
        factor, value = 1.0, 0.0
        for k, tok in enumerate(tokens):
            nxt = tokens[k + 1] if k + 1 < len(tokens) else None
            if tok == "好" and nxt is not None:
                if nxt.startswith(_GOOD_QUANTITY):
                    continue
                if self._analyse(nxt)[1] is not None:
                    factor *= GOOD_AS_DEGREE
                    continue
            if tok in negations:
                factor *= negations[tok]
                continue
            if tok in degrees:
                factor *= degrees[tok]
                continue
            prefix, weight = self._analyse(tok) if tok not in sentiment else (1.0, sentiment[tok])
            if weight is not None:
                value += factor * prefix * weight
                factor = 1.0
        return value

    def _analyse(self, token: str) -> tuple[float, float | None]:
        """``(prefix factor, polarity)`` of a token jieba did not split: 不太好 → (-0.5, 1), 超赞 → (1.8, 1.2).

        Tries the whole token, then a trailing particle removed (好看啦), then a negation/degree prefix
        followed by an analysable rest, then the longest sentiment word that ends it (服务周到 → 周到).
        ``(1, None)`` when the token carries no sentiment.
        """
        got = self._token_cache.get(token)
        if got is not None:
            return got
        result: tuple[float, float | None] = (1.0, None)
        lex = self.lexicon
        if token in lex.sentiment:
            result = (1.0, lex.sentiment[token])
        elif len(token) > 1 and token[-1] in _TRAILING_PARTICLES and token[:-1] in lex.sentiment:
            result = (1.0, lex.sentiment[token[:-1]])
        else:
            for cut in range(min(len(token) - 1, 4), 0, -1):
                head, rest = token[:cut], token[cut:]
                mult = lex.negations.get(head, lex.degrees.get(head, _GLUED_ADVERBS.get(head)))
                if head == "好":
                    mult = GOOD_AS_DEGREE
                if mult is None:
                    continue
                inner_factor, inner = self._analyse(rest)
                if inner is not None:
                    result = (mult * inner_factor, inner)
                    break
            else:
                for cut in range(1, len(token) - 1):
                    if token[cut:] in lex.sentiment:
                        result = (1.0, lex.sentiment[token[cut:]])
                        break
        self._token_cache[token] = result  # a benign race: two threads compute the same value
        return result
