"""Keywords: TF-IDF weights worked by hand on three documents, TextRank against closed-form PageRank."""

from __future__ import annotations

import math
from pathlib import Path

import jieba.analyse
import numpy as np
import pyarrow as pa
import pytest

from siyu.core.errors import SiyuError
from siyu.models.text.keywords import corpus_idf, extract_keywords, pagerank
from siyu.models.text.segment import default_segmenter

DOCS = ["物流很快，包装精致", "物流太慢", "包装破损，物流太慢"]
D = 0.85


def test_the_three_documents_segment_as_the_hand_calculation_assumes() -> None:
    seg = default_segmenter()
    assert [seg.words(t) for t in DOCS] == [["物流", "很快", "包装", "精致"], ["物流", "太慢"],
                                            ["包装", "破损", "物流", "太慢"]]


def test_tfidf_weights_by_hand() -> None:
    # N = 3 documents; df: 物流 3, 包装 2, 太慢 2, 很快 1, 精致 1, 破损 1; idf = ln((1+N)/(1+df)) + 1
    idf3, idf2, idf1 = 1.0, math.log(4 / 3) + 1, math.log(2) + 1
    # all ten words together: 物流 3, 包装 2, 太慢 2, the rest 1
    got = extract_keywords(DOCS, top_k=10)
    assert got.column("keyword").to_pylist() == ["物流", "包装", "太慢", "很快", "破损", "精致"]  # ties: by word
    assert got.column("weight").to_pylist() == pytest.approx(
        [3 / 10 * idf3, 2 / 10 * idf2, 2 / 10 * idf2, 1 / 10 * idf1, 1 / 10 * idf1, 1 / 10 * idf1])
    assert got.column("doc_count").to_pylist() == [3, 2, 2, 1, 1, 1]
    assert got.column("rank").to_pylist() == [1, 2, 3, 4, 5, 6]


def test_tfidf_by_group_uses_the_corpus_idf_and_the_group_tf() -> None:
    table = pa.table({"text": DOCS, "product": ["面膜", "面膜", "精华"]})
    got = extract_keywords(table, by=["product"], top_k=2).to_pylist()
    idf3, idf1, idf2 = 1.0, math.log(2) + 1, math.log(4 / 3) + 1
    # 面膜: 物流 2, 很快 1, 包装 1, 精致 1, 太慢 1 (6 words); 精华: 包装, 破损, 物流, 太慢 (4 words)
    assert [(r["product"], r["keyword"]) for r in got] == [("面膜", "物流"), ("面膜", "很快"), ("精华", "破损"),
                                                          ("精华", "包装")]
    assert [r["weight"] for r in got] == pytest.approx([2 / 6 * idf3, 1 / 6 * idf1, 1 / 4 * idf1, 1 / 4 * idf2])
    assert [r["doc_count"] for r in got] == [2, 1, 1, 1]


def test_corpus_idf_formula() -> None:
    idf = corpus_idf([["a", "b"], ["a"], ["a", "c", "c"]])
    assert idf == pytest.approx({"a": 1.0, "b": math.log(2) + 1, "c": math.log(2) + 1})


def test_general_idf_is_jiebas_table() -> None:
    table = {}
    for line in (Path(jieba.analyse.__file__).parent / "idf.txt").read_text(encoding="utf-8").splitlines():
        word, value = line.split(" ")
        table[word] = float(value)
    got = {r["keyword"]: r["weight"] for r in extract_keywords(DOCS, idf="general", top_k=10).to_pylist()}
    assert got["物流"] == pytest.approx(3 / 10 * table["物流"])
    assert got["包装"] == pytest.approx(2 / 10 * table["包装"])
    assert got["太慢"] == pytest.approx(2 / 10 * table["太慢"])
    unknown = extract_keywords(["色号不对，卡粉"], idf="general").to_pylist()  # neither word is in jieba's table
    assert "色号" not in table and "卡粉" not in table
    median = float(np.median(list(table.values())))
    assert {r["keyword"]: r["weight"] for r in unknown} == pytest.approx({"色号": median / 2, "卡粉": median / 2})


def test_min_doc_count_and_empty_texts() -> None:
    got = extract_keywords([*DOCS, None, ""], min_doc_count=2)
    assert got.column("keyword").to_pylist() == ["物流", "包装", "太慢"]
    empty = extract_keywords(pa.table({"text": pa.array([], pa.string()), "g": pa.array([], pa.int64())}), by=["g"])
    assert empty.num_rows == 0 and empty.schema.field("g").type == pa.int64()


def test_pagerank_star_closed_form() -> None:
    # star: centre c, three leaves l; c = (1-d)/4 + 3·d·l, l = (1-d)/4 + d·c/3 → c = (1+3d) / (4(1+d))
    w = np.array([[0, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]])
    centre = (1 + 3 * D) / (4 * (1 + D))
    assert pagerank(w, D) == pytest.approx([centre, *[(1 - centre) / 3] * 3], abs=1e-10)


def test_pagerank_dangling_node_by_hand() -> None:
    # A–B joined, C alone (spreads its score evenly): x_C = (1-d)/(3-d), x_A = x_B = (1 - x_C)/2
    w = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]])
    c = (1 - D) / (3 - D)
    assert pagerank(w, D) == pytest.approx([(1 - c) / 2, (1 - c) / 2, c], abs=1e-10)


def test_pagerank_weighted_graph_solves_the_linear_system() -> None:
    w = np.array([[0, 3, 1, 0], [3, 0, 2, 1], [1, 2, 0, 4], [0, 1, 4, 0]], dtype=float)
    transition = (w / w.sum(axis=1, keepdims=True)).T
    exact = np.linalg.solve(np.eye(4) - D * transition, np.full(4, (1 - D) / 4))
    assert pagerank(w, D) == pytest.approx(exact, abs=1e-10)
    with pytest.raises(SiyuError, match="damping"):
        pagerank(w, 1.0)


def test_textrank_on_a_path_and_a_complete_graph() -> None:
    # window 2 joins neighbours only: 物流–很快–包装–精致 is a path; middle m = ((1-d)/4 + d/2) / (1 + d/2)
    got = {r["keyword"]: r["weight"] for r in extract_keywords([DOCS[0]], method="textrank", window=2).to_pylist()}
    middle = ((1 - D) / 4 + D / 2) / (1 + D / 2)
    assert got == pytest.approx({"很快": middle, "包装": middle, "物流": 0.5 - middle, "精致": 0.5 - middle})
    # window 5 joins all four: every word 1/4
    got = {r["keyword"]: r["weight"] for r in extract_keywords([DOCS[0]], method="textrank").to_pylist()}
    assert got == pytest.approx(dict.fromkeys(got, 0.25)) and len(got) == 4


def test_textrank_favours_the_hub_word() -> None:
    got = extract_keywords(DOCS, method="textrank", top_k=1).to_pylist()
    assert got[0]["keyword"] == "物流" and got[0]["doc_count"] == 3


@pytest.mark.parametrize(("kwargs", "field"), [({"method": "lda"}, "method"), ({"idf": "news"}, "idf"),
                                               ({"top_k": 0}, "top_k"), ({"by": ["product"]}, "product")])
def test_bad_arguments_name_the_input(kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SiyuError) as err:
        extract_keywords(pa.table({"text": DOCS}), **kwargs)
    assert err.value.input_name == field
    with pytest.raises(SiyuError, match="not one string"):
        extract_keywords("物流很快")  # type: ignore[arg-type]
