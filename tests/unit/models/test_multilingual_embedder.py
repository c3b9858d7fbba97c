from __future__ import annotations

import numpy as np
import pytest
from fakes import HashEmbedder

from core.errors import ModelLoadError
from models.multilingual_embedder import DEFAULT_SPACE, LanguageRoutedEmbedder


class QueryPrefixingEmbedder(HashEmbedder):
    """An asymmetric fake (like E5): questions are embedded apart from passages."""

    def __init__(self, dimension: int = 256) -> None:
        super().__init__(dimension, model_name="fake-e5")
        self.queries: list[str] = []

    def embed_queries(self, texts):
        self.queries.extend(texts)
        return self.embed(["query: " + t for t in texts])


def test_each_passage_is_embedded_by_its_languages_embedder():
    default, chinese = HashEmbedder(model_name="fake-minilm"), QueryPrefixingEmbedder()
    routed = LanguageRoutedEmbedder(default, {"zh": chinese})
    vectors = routed.embed_passages(["returns within 30 days", "三十天内退货", "livraison gratuite"], ["en", "zh", "fr"])
    assert vectors.shape == (3, 256)
    assert default.embedded == ["returns within 30 days", "livraison gratuite"]
    assert chinese.embedded == ["三十天内退货"]
    assert np.allclose(vectors[1], chinese.embed(["三十天内退货"])[0])


def test_questions_use_their_spaces_query_side():
    default, chinese = HashEmbedder(), QueryPrefixingEmbedder()
    routed = LanguageRoutedEmbedder(default, {"zh": chinese})
    routed.embed_queries(["可以退货吗"], "zh")
    routed.embed_queries(["can I return it"], None)
    assert chinese.queries == ["可以退货吗"]
    assert default.embedded == ["can I return it"]
    assert routed.space("zh") == "zh" and routed.space("en") == DEFAULT_SPACE and routed.space(None) == DEFAULT_SPACE
    assert routed.embed_queries([], "zh").shape == (0, 256)


def test_the_index_records_every_spaces_model():
    assert LanguageRoutedEmbedder(HashEmbedder(model_name="a")).model_name == "a"
    assert LanguageRoutedEmbedder(HashEmbedder(model_name="a"), {"zh": HashEmbedder(model_name="b")}).model_name == "a + zh: b"


def test_spaces_of_different_widths_cannot_share_an_index():
    routed = LanguageRoutedEmbedder(HashEmbedder(dimension=256), {"zh": HashEmbedder(dimension=128)})
    with pytest.raises(ModelLoadError, match="cannot share an index"):
        routed.warm_up()
