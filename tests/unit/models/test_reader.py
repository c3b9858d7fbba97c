"""The extractive reader's span search, windowing and loading, with a tiny BERT built here from a
config (real tokenizer and model classes, random weights) and, where exact spans matter, logits
chosen by the test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import ModelLoadError
from models.reader import ExtractiveReader


class ChosenLogits(torch.nn.Module):
    """Stands in for the network: start logit high on `start_word`, end logit high on `end_word`,
    wherever they occur (question tokens included, to prove the mask)."""

    def __init__(self, tokenizer, start_word: str, end_word: str, null: float = -5.0):
        super().__init__()
        self.start_id = tokenizer.convert_tokens_to_ids(start_word)
        self.end_id = tokenizer.convert_tokens_to_ids(end_word)
        self.null = null

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        start = torch.where(input_ids == self.start_id, 10.0, 0.0)
        end = torch.where(input_ids == self.end_id, 10.0, 0.0)
        start[:, 0] = end[:, 0] = self.null / 2
        return type("Output", (), {"start_logits": start, "end_logits": end})()


def reader_with(tiny_checkpoint, start_word, end_word, **options) -> ExtractiveReader:
    reader = ExtractiveReader(tiny_checkpoint, **options)
    reader.warm_up()
    reader.model = ChosenLogits(reader.tokenizer, start_word, end_word)
    return reader


def test_a_checkpoint_directory_loads_and_reads(tiny_checkpoint):
    reader = ExtractiveReader(tiny_checkpoint, top_k=2)
    result = reader.run("how long do i have to return an item?", ["you have thirty days from delivery to return an item."])
    assert 1 <= len(result.answers) <= 2
    passage = "you have thirty days from delivery to return an item."
    for answer in result.answers:
        assert passage[answer.start:answer.end] == answer.text  # an exact quote
    assert abs(sum(a.probability for a in result.answers) + result.no_answer_probability) <= 1.0 + 1e-6


def test_the_span_is_mapped_back_to_characters(tiny_checkpoint):
    reader = reader_with(tiny_checkpoint, "thirty", "days")
    passage = "Returns: You have thirty days from delivery to return an item."
    best = reader.run("how many days do i have?", [passage]).best
    assert best.text == "thirty days" and passage[best.start:best.end] == "thirty days"
    assert best.probability > 0.9


def test_question_tokens_are_never_an_answer(tiny_checkpoint):
    # "thirty days" appears only in the question: the passage offers no such span.
    reader = reader_with(tiny_checkpoint, "thirty", "days")
    result = reader.run("thirty days?", ["refunds take five business days."])
    assert all("thirty" not in a.text for a in result.answers)


def test_answers_are_bounded_in_length(tiny_checkpoint):
    reader = reader_with(tiny_checkpoint, "you", "days", max_answer_tokens=3)
    result = reader.run("what?", ["you have thirty days from delivery."])
    assert all(len(a.text.split()) <= 3 for a in result.answers)
    assert "you have thirty days" not in [a.text for a in result.answers]


def test_long_passages_are_windowed_not_cut(tiny_checkpoint):
    reader = reader_with(tiny_checkpoint, "canada", "europe", max_seq_length=64, stride=16, max_question_tokens=16)
    filler = " ".join(["the warranty covers two years of defects."] * 80)  # ~640 tokens, ten windows or more
    passage = f"{filler} we ship canada europe . {filler}"
    best = reader.run("can we ship?", [passage]).best
    assert best.text == "canada europe" and passage[best.start:best.end] == "canada europe"


def test_top_k_passages_are_ranked_together(tiny_checkpoint):
    reader = reader_with(tiny_checkpoint, "five", "days")
    passages = ["the warranty covers two years.", "refunds take five business days.", "we ship canada."]
    result = reader.run("how long do refunds take?", passages)
    assert result.best.passage_index == 1 and result.best.text == "five business days"


def test_a_question_longer_than_the_window_is_read_in_parts(tiny_checkpoint):
    reader = reader_with(tiny_checkpoint, "thirty", "days", max_seq_length=64, max_question_tokens=16)
    question = " ".join(["what is the warranty"] * 30) + " how many days?"  # ~125 tokens
    best = reader.run(question, ["you have thirty days."]).best
    assert best.text == "thirty days"


def test_no_passages_means_no_answer(tiny_checkpoint):
    result = ExtractiveReader(tiny_checkpoint).run("anything?", ["", "  "])
    assert result.answers == () and result.no_answer_probability == 1.0


def test_a_batch_of_questions_in_one_pass(tiny_checkpoint):
    reader = reader_with(tiny_checkpoint, "five", "days")
    results = reader.run_many([("refunds?", ["refunds take five business days."]), ("nothing?", ["we ship canada."])])
    assert results[0].best.text == "five business days"
    assert all(a.text != "five business days" for a in results[1].answers)


def test_missing_or_corrupt_checkpoints_name_the_path(tmp_path, tiny_checkpoint):
    with pytest.raises(ModelLoadError, match=str(tmp_path / "nowhere")):
        ExtractiveReader(tmp_path / "nowhere").warm_up()
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_checkpoint / name).exists():
            (broken / name).write_bytes((tiny_checkpoint / name).read_bytes())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        ExtractiveReader(broken).warm_up()


def test_windows_read_in_length_buckets_score_as_when_read_alone(tiny_checkpoint, monkeypatch):
    import models.reader as reader_module

    items = [("refunds?", ["refunds take five business days.", " ".join(["we ship canada."] * 30)]),
             ("ship where?", ["we ship canada.", "refunds take five business days and we ship canada."])]
    reader = ExtractiveReader(tiny_checkpoint, max_seq_length=96, max_question_tokens=16)
    monkeypatch.setattr(reader_module, "READER_BATCH_TOKENS", 100_000)  # every window in one padded batch
    together = reader.run_many(items)
    monkeypatch.setattr(reader_module, "READER_BATCH_TOKENS", 1)  # every window alone, unpadded
    alone = reader.run_many(items)
    for a, b in zip(together, alone):
        assert [x.text for x in a.answers] == [x.text for x in b.answers]
        assert [x.score for x in a.answers] == pytest.approx([x.score for x in b.answers], abs=1e-4)
