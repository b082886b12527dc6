"""Chinese word segmentation (中文分词) for comments: jieba with siyu's domain dictionary, emoji and stop words.

Each :class:`Segmenter` owns a private ``jieba.Tokenizer`` loaded with the domain dictionary and every
lexicon entry, so words such as 色号, 企微, 不耐烦 and 性价比高 stay whole. Nothing is added to jieba's
global tokenizer (``jieba.dt``), so one segmenter's words never leak into another's. A segmenter is
read-only once built, which makes it safe to share between threads; :func:`default_segmenter` builds
the shipped one once.

Before jieba sees a comment, siyu takes out what jieba would break: WeChat emoji codes (``[强]``,
``[微笑]``) and Unicode emoji (👍, ❤️, 👍🏻) become one token each; punctuation and whitespace end a
clause (分句), which negation and degree words do not cross.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import jieba

from siyu.models.text.lexicon import Lexicon, default_lexicon, normalize

#: WeChat's text emoji codes such as ``[强]`` and ``[捂脸]``, and Unicode emoji with their modifiers.
_SPECIAL = re.compile(
    r"(?P<wechat>\[[\u4e00-\u9fffa-z]{1,4}\])"
    r"|(?P<emoji>[\U0001F000-\U0001FAFF\u2600-\u27BF\u2300-\u23FF\u2B00-\u2BFF]"
    r"(?:[\U0001F3FB-\U0001F3FF]|\u200d[\U0001F000-\U0001FAFF\u2600-\u27BF])*)"
)
#: Characters jieba keeps inside one word (its ``re_han_default``); other dictionary words cannot be added.
_JIEBA_WORD = re.compile(r"^[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]+$")
_NUMBER = re.compile(r"^[\d.,%+\-:/]+$")
#: Quantities (数量词: 两天, 一个月, 三次, 一盒) say how much, not what about: never keywords.
_QUANTITY = re.compile(r"^[一二两三四五六七八九十几半百千万\d]+个?"
                       r"(天|周|月|年|次|遍|件|盒|瓶|支|片|单|块|元|毛|分|小时|分钟|星期|号|点|股|些|下|种|款|位|半|双|条|"
                       r"套|趟|步|倍|成|折)?$")
#: Marks that end a clause; other punctuation (quotes, brackets, @, #) is dropped without ending one.
CLAUSE_MARKS = frozenset(",.!?;:~…。！？；：，、\n\r\t ")
_BUILD_LOCK = threading.Lock()
_DEFAULT: Segmenter | None = None


class Clause(NamedTuple):
    """A run of tokens between clause marks, and the mark(s) that ended it (``""`` at the end of a text)."""

    tokens: tuple[str, ...]
    end: str


def _is_punctuation(token: str) -> bool:
    return all(ch in CLAUSE_MARKS or unicodedata.category(ch)[0] in "PZS" for ch in token)


class Segmenter:
    """Cuts comments into words with a private jieba tokenizer.

    ``lexicon`` supplies the domain dictionary, the sentiment/negation/degree words (kept whole) and
    the stop words; ``user_words`` adds a brand's own words (product lines, staff nicknames).
    """

    def __init__(self, lexicon: Lexicon | None = None, *, user_words: Iterable[str] = (), hmm: bool = True) -> None:
        self.lexicon = lexicon or default_lexicon()
        self.hmm = hmm
        logging.getLogger("jieba").setLevel(logging.WARNING)  # jieba prints its dictionary loading as INFO
        tokenizer = jieba.Tokenizer()
        with _BUILD_LOCK:
            tokenizer.initialize()
        for word in [*self.lexicon.dictionary_words(), *(normalize(w) for w in user_words)]:
            if _JIEBA_WORD.match(word) and len(word) > 1:
                tokenizer.add_word(word)  # no frequency: jieba suggests one just high enough to keep it whole
        self._tokenizer: Any = tokenizer
        self._sentiment = self.lexicon.sentiment
        self._negations = self.lexicon.negations
        self._skip = self.lexicon.stop_words | set(self.lexicon.degrees)

    def _pieces(self, text: str) -> Iterator[tuple[str, str]]:
        """``(kind, token)`` with kind ``word``, ``emoji`` or ``mark`` (clause marks and other punctuation)."""
        text = normalize(text)
        start = 0
        for m in _SPECIAL.finditer(text):
            yield from self._jieba(text[start:m.start()])
            yield "emoji", m.group(0)
            start = m.end()
        yield from self._jieba(text[start:])

    def _jieba(self, chunk: str) -> Iterator[tuple[str, str]]:
        if not chunk:
            return
        for token in self._tokenizer.cut(chunk, HMM=self.hmm):
            if _is_punctuation(token):
                yield "mark", token
            else:
                yield "word", token

    def cut(self, text: str) -> list[str]:
        """Every word and emoji of ``text`` in order (punctuation and whitespace dropped)."""
        return [tok for kind, tok in self._pieces(text) if kind != "mark"]

    def clauses(self, text: str) -> list[Clause]:
        """``text`` split into clauses at punctuation and whitespace; emoji stay in their clause."""
        out: list[Clause] = []
        tokens: list[str] = []
        end = ""
        for kind, tok in self._pieces(text):
            if kind == "mark":
                if any(ch in CLAUSE_MARKS for ch in tok):
                    end += tok
                continue
            if end:
                if tokens:
                    out.append(Clause(tuple(tokens), end))
                elif out:  # marks with nothing between them (。。) join the previous clause's end
                    out[-1] = Clause(out[-1].tokens, out[-1].end + end)
                tokens, end = [], ""
            tokens.append(tok)
        if tokens:
            out.append(Clause(tuple(tokens), end))
        elif end and out:
            out[-1] = Clause(out[-1].tokens, out[-1].end + end)
        return out

    def words(self, text: str) -> list[str]:
        """Content words for keywords and topics (关键词): no stop words, degree adverbs, emoji, numbers,
        quantities (两天, 一盒) or lone characters (unless the character is a sentiment word such as 贵 or 慢).

        A negation joins the sentiment word right after it (不贵, 没效果), so praise "价格不贵" does not
        count towards the complaint "贵"; a negation before anything else is dropped.
        """
        out: list[str] = []
        for clause in self.clauses(text):
            pending = ""
            for tok in clause.tokens:
                if tok in self._negations:
                    pending = tok
                    continue
                if pending and tok in self._sentiment:
                    out.append(pending + tok)
                elif self._is_content(tok):
                    out.append(tok)
                pending = ""
        return out

    def _is_content(self, token: str) -> bool:
        if token in self._skip or _NUMBER.match(token) or _QUANTITY.match(token) or _SPECIAL.fullmatch(token):
            return False
        return len(token) > 1 or token in self._sentiment


def default_segmenter() -> Segmenter:
    """The segmenter with siyu's shipped lexicon, built on first use (about a second) and shared."""
    global _DEFAULT
    with _BUILD_LOCK:
        built = _DEFAULT
    if built is None:
        built = Segmenter()
        with _BUILD_LOCK:
            if _DEFAULT is None:
                _DEFAULT = built
            built = _DEFAULT
    return built
