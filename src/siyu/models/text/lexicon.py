"""The word lists siyu ships for Chinese comments (评论词典): sentiment words, negations, degree adverbs,
the domain dictionary and stop words, read from ``siyu/models/text/data``.

All lists are plain UTF-8 text, one entry a line, ``#`` starts a comment, so a brand can copy and edit
them. Weighted lists are ``word<TAB>number``. Entries are normalised the way texts are (NFKC, lower
case, emoji variation selectors removed) so ``ＹＹＤＳ`` in a comment still matches ``yyds``.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from siyu.core.errors import SiyuError

DATA_DIR = Path(__file__).parent / "data"
_LOCK = threading.Lock()
_DEFAULT: Lexicon | None = None


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, no emoji variation selector (U+FE0F)."""
    return unicodedata.normalize("NFKC", text).lower().replace("\ufe0f", "")


def read_words(path: Path) -> list[str]:
    """The first field of every non-comment line of a word list (normalised)."""
    out = []
    for line in _lines(path):
        out.append(normalize(line.split("\t")[0].split(" ")[0]))
    return out


def read_weights(path: Path) -> dict[str, float]:
    """A ``word<TAB>number`` list as a mapping; a line without a number or with a bad one is an error."""
    out: dict[str, float] = {}
    for n, line in enumerate(_lines(path), 1):
        parts = line.split("\t")
        try:
            out[normalize(parts[0])] = float(parts[1])
        except (IndexError, ValueError):
            raise SiyuError(f"{path.name}: entry {n} ({line!r}) is not 'word<TAB>number'",
                            code="bad_word_list", input_name=path.name) from None
    return out


def _lines(path: Path) -> list[str]:
    if not path.exists():
        raise SiyuError(f"word list {path} does not exist", code="bad_word_list", input_name=str(path))
    text = path.read_text(encoding="utf-8")
    return [s for s in (raw.strip() for raw in text.splitlines()) if s and not s.startswith("#")]


@dataclass(frozen=True)
class Lexicon:
    """The sentiment lexicon (情感词典): polarity weights, negations (否定词) and degree adverbs (程度副词).

    ``sentiment`` maps a word to its polarity (> 0 praise, < 0 complaint); ``negations`` to the factor
    it applies to the next sentiment word (-1 flips, -0.5 flips and softens: 不太好); ``degrees`` to a
    multiplier (很 1.5, 有点 0.7). The mappings are read-only so a shared lexicon cannot be changed
    under another user's feet; :meth:`with_words` returns an extended copy.
    """

    sentiment: Mapping[str, float]
    negations: Mapping[str, float]
    degrees: Mapping[str, float]
    stop_words: frozenset[str] = field(default_factory=frozenset)
    domain_words: tuple[str, ...] = ()

    @classmethod
    def from_folder(cls, folder: Path = DATA_DIR) -> Lexicon:
        """Read ``sentiment_words.txt``, ``negations.txt``, ``degree_words.txt``, ``stopwords.txt`` and
        ``domain_words.txt`` from ``folder``."""
        return cls(
            sentiment=MappingProxyType(read_weights(folder / "sentiment_words.txt")),
            negations=MappingProxyType(read_weights(folder / "negations.txt")),
            degrees=MappingProxyType(read_weights(folder / "degree_words.txt")),
            stop_words=frozenset(read_words(folder / "stopwords.txt")),
            domain_words=tuple(read_words(folder / "domain_words.txt")),
        )

    def with_words(self, sentiment: Mapping[str, float] | None = None,
                   stop_words: frozenset[str] | set[str] | None = None,
                   domain_words: tuple[str, ...] | list[str] = ()) -> Lexicon:
        """A copy with extra sentiment words (weights override ours), stop words and domain words."""
        extra = {normalize(k): float(v) for k, v in (sentiment or {}).items()}
        return Lexicon(
            sentiment=MappingProxyType({**self.sentiment, **extra}),
            negations=self.negations,
            degrees=self.degrees,
            stop_words=self.stop_words | {normalize(w) for w in stop_words or ()},
            domain_words=(*self.domain_words, *(normalize(w) for w in domain_words)),
        )

    def dictionary_words(self) -> list[str]:
        """Every word the segmenter must keep whole: domain words and all lexicon entries."""
        words = [*self.domain_words, *self.sentiment, *self.negations, *self.degrees]
        return list(dict.fromkeys(w for w in words if w))


def default_lexicon() -> Lexicon:
    """The lexicon shipped in ``siyu/models/text/data`` (read once, shared read-only)."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = Lexicon.from_folder(DATA_DIR)
        return _DEFAULT
