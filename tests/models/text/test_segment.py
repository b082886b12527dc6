"""Segmentation: domain words stay whole, emoji and punctuation are handled, nothing leaks between segmenters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jieba
import pytest

from siyu.core.errors import SiyuError
from siyu.models.text.lexicon import Lexicon, default_lexicon, normalize, read_weights
from siyu.models.text.segment import Segmenter, default_segmenter


@pytest.fixture(scope="module")
def seg() -> Segmenter:
    return default_segmenter()


@pytest.mark.parametrize("word", ["私域", "企微", "导购", "小程序", "精华", "面膜", "色号", "过敏", "发货", "客服",
                                  "起球", "卡粉", "搓泥", "敏感肌", "不耐烦", "性价比高", "智商税", "一问三不知"])
def test_domain_and_lexicon_words_stay_whole(seg: Segmenter, word: str) -> None:
    assert word in seg.cut(f"这次的{word}我想说一下")


#: Words jieba's own dictionary breaks (小/程序, 色/号, 敏感/肌…): the domain dictionary is what keeps them.
SPLIT_BY_PLAIN_JIEBA = ["小程序", "色号", "搓泥", "敏感肌", "性价比高", "智商税", "跑绒", "泵头", "防尘袋", "已读不回"]


@pytest.mark.parametrize("word", SPLIT_BY_PLAIN_JIEBA)
def test_words_plain_jieba_breaks_stay_whole(seg: Segmenter, word: str) -> None:
    text = f"这次的{word}我想说一下"
    assert word not in jieba.Tokenizer().lcut(text)
    assert word in seg.cut(text)


def test_emoji_and_wechat_codes_are_single_tokens(seg: Segmenter) -> None:
    assert seg.cut("好看❤️👍🏻[强]真的") == ["好看", "❤", "👍🏻", "[强]", "真的"]


def test_full_width_text_is_normalised(seg: Segmenter) -> None:
    assert seg.cut("ＹＹＤＳ！") == ["yyds"]
    assert normalize("Ａ醇，") == "a醇,"


def test_clauses_split_at_punctuation_and_keep_the_mark(seg: Segmenter) -> None:
    clauses = seg.clauses("物流很快，包装不错！！请问还有货吗？")
    assert [c.tokens for c in clauses] == [("物流", "很快"), ("包装", "不错"), ("请问", "还有", "货", "吗")]
    assert [c.end for c in clauses] == [",", "!!", "?"]
    assert seg.clauses("") == []
    assert seg.clauses("，，。") == []


def test_words_drop_stop_words_numbers_quantities_and_join_negations(seg: Segmenter) -> None:
    assert seg.words("价格不贵，等了两天，买了3瓶") == ["价格", "不贵"]
    assert seg.words("我觉得这个面膜的效果一般") == ["面膜", "效果", "一般"]
    assert seg.words("东西好用就是贵") == ["好用", "贵"]  # a lone sentiment character is a keyword; a lone 的 is not


def test_segmenters_do_not_leak_words_into_each_other_or_into_jieba() -> None:
    brand = Segmenter(user_words=["玻色因精华乳"])
    other = Segmenter()
    text = "玻色因精华乳很好用"
    assert "玻色因精华乳" in brand.cut(text)
    assert "玻色因精华乳" not in other.cut(text)
    assert "玻色因精华乳" not in jieba.lcut(text)
    assert "玻色因精华乳" not in jieba.dt.FREQ


def test_segmenter_is_safe_to_share_between_threads(seg: Segmenter) -> None:
    texts = [f"第{i}次买了，面膜很服帖，物流也快，就是客服回复有点慢" for i in range(200)]
    expected = [seg.cut(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(seg.cut, texts))
    assert got == expected


def test_lexicon_is_read_only_and_extendable() -> None:
    lex = default_lexicon()
    with pytest.raises(TypeError):
        lex.sentiment["好"] = -1  # type: ignore[index]
    more = lex.with_words({"踩坑": -1.5}, stop_words={"宝宝"})
    assert more.sentiment["踩坑"] == -1.5 and "踩坑" not in lex.sentiment
    assert "宝宝" in more.stop_words and "宝宝" not in lex.stop_words


def test_bad_word_list_names_the_file_and_entry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sentiment_words.txt"
    path.write_text("# comment\n好\t1\n坏\n", encoding="utf-8")
    with pytest.raises(SiyuError, match=r"sentiment_words.txt: entry 2") as err:
        read_weights(path)
    assert err.value.code == "bad_word_list"
    with pytest.raises(SiyuError, match="does not exist"):
        Lexicon.from_folder(tmp_path / "missing")
