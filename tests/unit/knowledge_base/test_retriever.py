from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedder

from core.types import RetrievalFilters
from knowledge_base.indexes import KnowledgeBase
from knowledge_base.ingest import Ingestor
from knowledge_base.retriever import HybridRetriever

FILES = {
    "returns.md": "# Returns\n\nYou have 30 days from delivery to return an item.\n\n"
    "## Refunds\n\nRefunds go back to the original payment method within five business days.\n",
    "shipping.md": "# Shipping\n\nStandard shipping to Canada costs twelve dollars and takes seven days.\n\n"
    "## Express\n\nExpress delivery arrives in two days.\n",
    "gift.md": "# Gift Cards\n\nGift cards never expire and can be used online or in stores.\n",
    "faq.csv": "question,answer\nCan I return a gift card?,Gift cards cannot be returned or refunded.\n",
    "returns.zh.md": "# 退货政策\n\n您可以在收货后三十天内退货。\n",
    "catalog.csv": "sku,title,category,price,currency,stock,attributes,description\n"
    "NW-1,Trail Kettle,Camp Kitchen,39.00,USD,4,,A steel kettle for camp stoves.\n",
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("kb") / "store"
    root.mkdir()
    for name, text in FILES.items():
        (root / name).write_text(text, encoding="utf-8")
    index_dir = root.parent / "index"
    report = Ingestor(index_dir, HashEmbedder(), progress=False).ingest_paths([root])
    assert not report.failed
    return KnowledgeBase.load(index_dir, expected_dimension=256)


@pytest.fixture
def retriever(kb) -> HybridRetriever:
    return HybridRetriever(kb, HashEmbedder(), top_k=3, candidates=50)


def test_passage_sharing_the_querys_words_ranks_first(retriever):
    results = retriever.retrieve("how much does shipping to Canada cost")
    top = results[0].passage
    assert top.doc_id == "store/shipping.md"
    assert "Canada" in top.text
    assert results[0].dense_score > results[1].dense_score
    assert results[0].sparse_score > 0


@pytest.mark.parametrize(
    "query, doc_id, phrase",
    [
        ("when do refunds go back to my payment method", "store/returns.md", "Refunds go back"),
        ("do gift cards expire", "store/gift.md", "never expire"),
        ("express delivery", "store/shipping.md", "Express delivery"),
        ("trail kettle price", "store/catalog.csv", "Trail Kettle"),
        ("退货", "store/returns.zh.md", "退货"),
    ],
)
def test_each_query_finds_its_passage(retriever, query, doc_id, phrase):
    top = retriever.retrieve(query)[0].passage
    assert top.doc_id == doc_id and phrase in top.text


def test_results_are_sorted_and_limited_to_top_k(retriever, kb):
    results = retriever.retrieve("return refund gift card", top_k=4)
    assert len(results) == 4
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert len({r.passage.passage_id for r in results}) == 4
    assert len(retriever.retrieve("return refund gift card", top_k=100)) == len(kb)


def test_doc_type_filter_never_returns_filtered_out_passages(retriever):
    query = "can I return a gift card"
    unfiltered = retriever.retrieve(query)
    assert unfiltered[0].passage.doc_type == "faq"  # the filter below has something to remove
    results = retriever.retrieve(query, top_k=10, filters=RetrievalFilters(doc_types=("policy",)))
    assert results and all(r.passage.doc_type == "policy" for r in results)
    assert results[0].passage.doc_id in ("store/gift.md", "store/returns.md")


def test_language_filter_restricts_results(retriever):
    results = retriever.retrieve("return an item within 30 days", top_k=10, filters=RetrievalFilters(languages=("zh",)))
    assert [r.passage.doc_id for r in results] == ["store/returns.zh.md"]
    results = retriever.retrieve("退货", top_k=10, filters=RetrievalFilters(languages=("en",)))
    assert results and all(r.passage.language == "en" for r in results)


def test_combined_filters(retriever):
    results = retriever.retrieve("kettle", top_k=10, filters=RetrievalFilters(doc_types=("product", "faq"), languages=("en",)))
    assert {r.passage.doc_type for r in results} <= {"product", "faq"}
    assert results[0].passage.doc_type == "product"


def test_filter_matching_nothing_returns_empty(retriever):
    assert retriever.retrieve("kettle", filters=RetrievalFilters(doc_types=("article",))) == []
    assert retriever.retrieve("kettle", filters=RetrievalFilters(doc_types=("product",), languages=("zh",))) == []


def test_query_without_known_words_still_answers(retriever):
    assert len(retriever.retrieve("xyzzy plugh")) == 3
    assert len(retriever.retrieve("the of and")) == 3  # stopwords only: BM25 has no tokens


def test_retrieve_many_answers_each_query(retriever):
    first, second = retriever.retrieve_many(["shipping to Canada", "do gift cards expire"])
    assert first[0].passage.doc_id == "store/shipping.md"
    assert second[0].passage.doc_id == "store/gift.md"
    assert retriever.retrieve_many([]) == []


def test_empty_knowledge_base_returns_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    Ingestor(tmp_path / "index", HashEmbedder(), progress=False).ingest_paths([tmp_path / "empty"])
    kb = KnowledgeBase.load(tmp_path / "index")
    assert len(kb) == 0
    retriever = HybridRetriever(kb, HashEmbedder())
    assert retriever.retrieve("anything at all") == []
    assert retriever.retrieve("anything", filters=RetrievalFilters(doc_types=("faq",))) == []


def test_knowledge_base_emptied_by_deleting_every_file(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    (root / "a.md").write_text("# A\n\nSome text here.\n")
    ingestor = Ingestor(tmp_path / "index", HashEmbedder(), progress=False)
    ingestor.ingest_paths([root])
    (root / "a.md").unlink()
    assert ingestor.ingest_paths([root]).removed == ("store/a.md",)
    kb = KnowledgeBase.load(tmp_path / "index")
    assert len(kb) == len(kb.dense) == 0
    assert HybridRetriever(kb, HashEmbedder()).retrieve("some text") == []


class _ChineseSpace(HashEmbedder):
    """A second embedding space: the same hashing, shifted, so its vectors differ from the default's."""

    def __init__(self) -> None:
        super().__init__(model_name="fake-chinese")
        self.queries: list[str] = []

    def embed(self, texts, batch_size=None, progress=False):
        return np.roll(super().embed(texts), 7, axis=1)

    def embed_queries(self, texts):
        self.queries.extend(texts)
        return self.embed(texts)


def _routed_kb(tmp_path, files):
    from models.multilingual_embedder import LanguageRoutedEmbedder

    root = tmp_path / "store"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    routed = LanguageRoutedEmbedder(HashEmbedder(model_name="fake-default"), {"zh": _ChineseSpace()})
    Ingestor(tmp_path / "index", routed, progress=False).ingest_paths([root])
    kb = KnowledgeBase.load(tmp_path / "index", expected_dimension=256)
    assert kb.embedder_name == "fake-default + zh: fake-chinese"
    return kb, routed


def test_a_question_meets_only_passages_of_its_own_embedding_space(tmp_path):
    kb, routed = _routed_kb(tmp_path, FILES)
    retriever = HybridRetriever(kb, routed, top_k=10)
    chinese = retriever.retrieve("退货要多少天")
    assert chinese and {r.passage.language for r in chinese} == {"zh"}
    assert routed.by_language["zh"].queries == ["退货要多少天"]
    # The passage vector was made in the Chinese space: the query's cosine with it is real.
    assert chinese[0].dense_score > 0.3
    english = retriever.retrieve("how many days to return an item")
    assert english and "zh" not in {r.passage.language for r in english}
    filtered = retriever.retrieve("退货", filters=RetrievalFilters(languages=("zh",)))
    assert [r.passage.doc_id for r in filtered] == ["store/returns.zh.md"]


def test_a_language_without_passages_is_searched_in_the_default_space(tmp_path):
    kb, routed = _routed_kb(tmp_path, {k: v for k, v in FILES.items() if not k.endswith(".zh.md")})
    results = HybridRetriever(kb, routed, top_k=3).retrieve("礼品卡会过期吗")
    assert results and routed.by_language["zh"].queries == []


def test_a_space_may_weigh_dense_scores_its_own_way(tmp_path):
    kb, routed = _routed_kb(tmp_path, FILES)
    dense_only = HybridRetriever(kb, routed, top_k=3, space_dense_weights={"zh": 1.0})
    fused = dense_only.retrieve("退货要多少天")
    assert fused and all(r.passage.language == "zh" for r in fused)
    # Weight 1: the fused score is the standardised dense score alone, so the order is the dense order.
    assert [r.dense_score for r in fused] == sorted((r.dense_score for r in fused), reverse=True)
    assert dense_only.space_dense_weights == {"zh": 1.0} and dense_only.dense_weight == 0.5
