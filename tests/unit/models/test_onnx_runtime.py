"""ONNX Runtime for the encoders: the exported graph gives PyTorch's answers, is exported once per
checkpoint into the cache, and a machine without onnxruntime falls back to PyTorch."""

from __future__ import annotations

import pytest

from models import onnx_runtime
from models.reader import ExtractiveReader

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

QUESTION = "how many days do i have to return an item?"
PASSAGES = ["you have thirty days from delivery to return an item.", "refunds take five business days.",
            "the warranty covers two years of defects."]


@pytest.fixture
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_ONNX_CACHE", str(tmp_path / "onnx"))
    return tmp_path / "onnx"


def test_the_onnx_reader_reads_as_pytorch_does(tiny_checkpoint, onnx_cache):
    torch_reader = ExtractiveReader(tiny_checkpoint, runtime="torch", max_seq_length=96, max_question_tokens=16)
    onnx_reader = ExtractiveReader(tiny_checkpoint, runtime="onnx", max_seq_length=96, max_question_tokens=16)
    onnx_reader.warm_up()
    assert onnx_reader.runtime == "onnx" and onnx_reader.runtime_note is None
    items = [(QUESTION, PASSAGES), ("what does the warranty cover?", PASSAGES[2:]), ("hi", PASSAGES[:1])]
    for expected, got in zip(torch_reader.run_many(items), onnx_reader.run_many(items)):
        assert [(a.text, a.passage_index, a.start) for a in got.answers] == [(a.text, a.passage_index, a.start) for a in expected.answers]
        for a, b in zip(got.answers, expected.answers):
            assert a.score == pytest.approx(b.score, abs=1e-3)
        assert got.no_answer_score == pytest.approx(expected.no_answer_score, abs=1e-3)


def test_a_checkpoint_is_exported_once_and_again_when_it_changes(tiny_checkpoint, onnx_cache, tmp_path):
    import shutil

    first = onnx_runtime.export(tiny_checkpoint, "question-answering")
    stamp = first.stat().st_mtime_ns
    assert onnx_runtime.export(tiny_checkpoint, "question-answering") == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in onnx_cache.glob("*.partial*")] == []  # nothing half-written is left behind
    changed = tmp_path / "changed"
    shutil.copytree(tiny_checkpoint, changed)
    (changed / "config.json").write_text((changed / "config.json").read_text().replace('"hidden_act"', '"hidden_act_"'))
    assert onnx_runtime.exported_path(changed, "question-answering") != first


def test_without_onnxruntime_the_reader_runs_on_pytorch_and_says_why(tiny_checkpoint, onnx_cache, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "runtime_available", lambda: "onnxruntime is not installed")
    reader = ExtractiveReader(tiny_checkpoint, runtime="onnx", max_seq_length=96, max_question_tokens=16)
    reader.warm_up()
    assert reader.runtime == "torch" and "onnxruntime is not installed" in reader.runtime_note
    assert reader.run(QUESTION, PASSAGES).answers


def test_a_broken_onnx_file_is_a_model_load_error_naming_it(tmp_path):
    from core.errors import ModelLoadError

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="broken.onnx"):
        onnx_runtime.OnnxSession(broken)


def test_length_buckets_group_similar_lengths():
    assert onnx_runtime.length_buckets([3, 50, 4, 48, 10], 2) == [[1, 3], [4, 2], [0]]


def test_an_unwritable_cache_falls_back_to_pytorch(tiny_checkpoint, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("BOT_ONNX_CACHE", str(blocker / "onnx"))
    reader = ExtractiveReader(tiny_checkpoint, runtime="onnx", max_seq_length=96, max_question_tokens=16)
    reader.warm_up()
    assert reader.runtime == "torch" and "cannot write the ONNX cache" in reader.runtime_note


def test_an_int8_graph_is_made_from_the_float_one_checked_and_cached_apart(tiny_checkpoint, onnx_cache):
    import numpy as np

    exact = onnx_runtime.export(tiny_checkpoint, "question-answering")
    int8 = onnx_runtime.export(tiny_checkpoint, "question-answering", int8=True)
    assert int8 != exact and int8.name.endswith("-int8-fused.onnx")
    assert onnx_runtime.export(tiny_checkpoint, "question-answering", int8=True) == int8
    feed = {"input_ids": np.array([[2, 7, 9, 3, 11, 12, 3]]), "attention_mask": np.ones((1, 7), dtype=np.int64)}
    a, b = onnx_runtime.OnnxSession(exact).run(feed)[0], onnx_runtime.OnnxSession(int8).run(feed)[0]
    assert onnx_runtime._cosine(a[0], b[0]) > onnx_runtime.INT8_MIN_COSINE


def test_a_bert_checkpoint_is_quantised_from_onnx_runtimes_fused_graph(tiny_checkpoint, onnx_cache):
    import onnx

    int8 = onnx.load(str(onnx_runtime.export(tiny_checkpoint, "question-answering", int8=True)))
    operators = {node.op_type for node in int8.graph.node}
    # One fused, quantised attention per layer instead of the exporter's dozen small operators.
    assert "QAttention" in operators and "SkipLayerNormalization" in operators
    assert not any(p.name.endswith((".torchscript", ".fused")) for p in onnx_cache.iterdir())


def test_an_int8_encoder_too_far_from_pytorch_is_refused(tiny_checkpoint, onnx_cache, monkeypatch):
    from core.errors import ModelLoadError

    monkeypatch.setattr(onnx_runtime, "INT8_MIN_COSINE", 1.01)  # no quantised graph is this close
    with pytest.raises(ModelLoadError, match="int8 ONNX graph .* too far from PyTorch"):
        onnx_runtime.export(tiny_checkpoint, "encoder", int8=True)
    assert not onnx_runtime.exported_path(tiny_checkpoint, "encoder", int8=True).exists()


def test_an_int8_reader_that_moves_the_answer_is_refused(tiny_checkpoint, onnx_cache, monkeypatch):
    from core.errors import ModelLoadError

    monkeypatch.setattr(onnx_runtime, "INT8_MAX_LOGIT_GAP", -1.0)  # even an exact pick fails this
    with pytest.raises(ModelLoadError, match="scores PyTorch's answer token"):
        onnx_runtime.export(tiny_checkpoint, "question-answering", int8=True)
    assert not onnx_runtime.exported_path(tiny_checkpoint, "question-answering", int8=True).exists()
