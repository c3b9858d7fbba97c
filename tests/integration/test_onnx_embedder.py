"""The shipped embedder (all-MiniLM-L6-v2) through ONNX Runtime gives sentence-transformers' vectors."""

from __future__ import annotations

import numpy as np
import pytest

from models.embedder import SentenceTransformerEmbedder

pytestmark = pytest.mark.integration
pytest.importorskip("onnxruntime")

TEXTS = ["How many days do I have to return an item?", "hi", "我要找人工客服", "Do you ship to Canada? " * 60,
         "Laptops, phones and tablets come with a 2-year Northwind Store Warranty from delivery."]


def test_onnx_vectors_equal_sentence_transformers_vectors():
    onnx = SentenceTransformerEmbedder(runtime="onnx", cache_size=0)
    torch = SentenceTransformerEmbedder(runtime="torch", cache_size=0)
    onnx.warm_up()
    assert onnx.runtime == "onnx", onnx.runtime_note
    a, b = onnx.embed(TEXTS), torch.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and onnx.dimension == torch.dimension == 384
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.9999  # the same vectors, long (truncated) texts included
    # Order and batching do not change a text's vector.
    assert np.allclose(onnx.embed(TEXTS[::-1])[::-1], a, atol=1e-5)


def test_int8_vectors_stay_close_to_float_ones_and_are_named_apart():
    """int8 weights change vectors slightly (SQuAD-open recall within 0.1 point, README), so an index
    records them under another name and is embedded again when the runtime changes."""
    int8 = SentenceTransformerEmbedder(runtime="onnx-int8", cache_size=0)
    exact = SentenceTransformerEmbedder(runtime="onnx", cache_size=0)
    int8.warm_up()
    exact.warm_up()
    assert int8.runtime == "onnx-int8", int8.runtime_note
    assert int8.model_name == "all-MiniLM-L6-v2 (int8)" and exact.model_name == "all-MiniLM-L6-v2"
    a, b = int8.embed(TEXTS), exact.embed(TEXTS)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.97 and cosine.max() < 0.99999  # close, and really the quantised graph
