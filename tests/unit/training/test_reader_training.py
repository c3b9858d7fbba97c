"""Reader training: SQuAD loading, the split by article, window labels, and a short real training run
(tiny BERT from a config) that checkpoints, resumes and ships fp16 safetensors."""

from __future__ import annotations

import json

import pytest

from core.errors import DocumentError
from training.reader import (
    QAExample,
    ReaderTrainingConfig,
    build_windows,
    deduplicate,
    held_out_examples,
    load_qa_examples,
    split_by_title,
    title_is_held_out,
    train_reader,
)

CONTEXT = "you have thirty days from delivery to return an item. refunds take five business days."


def squad_file(tmp_path, name="squad.json", titles=("Returns", "Refunds", "Warranty", "Shipping")):
    articles = []
    for t, title in enumerate(titles):
        qas = [
            {"id": f"{t}-1", "question": "how many days do i have to return an item?",
             "answers": [{"text": "thirty days", "answer_start": CONTEXT.index("thirty days")}]},
            {"id": f"{t}-2", "question": "how long can refunds take?",
             "answers": [{"text": "five business days", "answer_start": CONTEXT.index("five business days")}]},
            {"id": f"{t}-3", "question": "what is the warranty?", "answers": [], "is_impossible": True},
            # A gold span that does not match its offset is dropped rather than taught.
            {"id": f"{t}-4", "question": "can we ship to canada?", "answers": [{"text": "canada", "answer_start": 3}]},
        ]
        # Each article's paragraph differs (the answers keep their offsets), so none is a duplicate.
        articles.append({"title": title, "paragraphs": [{"context": CONTEXT + " " * (t + 1) + title, "qas": qas}]})
    path = tmp_path / name
    path.write_text(json.dumps({"version": "v2.0", "data": articles}))
    return path


def test_loading_keeps_answers_and_unanswerables_and_drops_misaligned_spans(tmp_path):
    examples = load_qa_examples(squad_file(tmp_path))
    assert len(examples) == 12
    assert sum(e.is_impossible for e in examples) == 4
    first = examples[0]
    assert first.answers == (("thirty days", CONTEXT.index("thirty days")),) and first.title == "Returns"


@pytest.mark.parametrize("content, reason", [("{", "not a JSON file"), ('{"version": 1}', "SQuAD format"), ("[1, 2]", "SQuAD format")])
def test_a_file_that_is_not_squad_is_named_in_the_error(tmp_path, content, reason):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DocumentError) as error:
        load_qa_examples(path)
    assert reason in error.value.message and str(path) in error.value.message
    with pytest.raises(DocumentError, match="file not found"):
        load_qa_examples(tmp_path / "missing.json")


def test_the_split_is_by_title_stable_and_the_same_in_every_file():
    titles = [f"Article {i}" for i in range(200)]
    held = [t for t in titles if title_is_held_out(t, 0.2)]
    assert 20 <= len(held) <= 60
    assert held == [t for t in titles if title_is_held_out(t, 0.2)]
    examples = [QAExample(str(i), t, "q?", "c", (), True, f) for i, t in enumerate(titles) for f in ("v1", "v2")]
    train, held_out = split_by_title(examples, 0.2)
    assert {e.title for e in train}.isdisjoint({e.title for e in held_out})
    assert {e.title for e in held_out if e.source == "v1"} == {e.title for e in held_out if e.source == "v2"}


def test_a_question_repeated_across_files_is_trained_on_once():
    a = QAExample("1", "T", "q?", "ctx", (("x", 0),), False, "v1")
    b = QAExample("other-id", "T", "q?", "ctx", (("x", 0),), False, "v2")
    assert deduplicate([a, b]) == [a]


def test_window_labels_point_at_the_answer_tokens_or_at_cls(tiny_checkpoint, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    examples = load_qa_examples(squad_file(tmp_path))[:3]
    # Short windows with a stride: the paragraph is split, and only the window holding the answer points at it.
    windows = build_windows(tokenizer, examples, max_seq_length=24, stride=8, max_question_tokens=12)
    by_question: dict[str, list[dict]] = {}
    sample = 0
    for w in windows:
        text = tokenizer.decode(w["input_ids"])
        by_question.setdefault(text.split("[SEP]")[0], []).append(w)
    assert len(windows) > len(examples)
    for example, answer in zip(examples, ["thirty days", "five business days", None]):
        group = next(g for q, g in by_question.items() if example.question.split()[0] in q and example.question.split()[-1].rstrip("?") in q)
        labelled = [w for w in group if w["start_positions"] != 0]
        if answer is None:
            assert not labelled  # unanswerable: every window points at [CLS]
            continue
        assert labelled and any(w["start_positions"] == 0 for w in group)  # windows without it point at [CLS]
        for w in labelled:
            assert tokenizer.decode(w["input_ids"][w["start_positions"]: w["end_positions"] + 1]) == answer
        sample += 1
    assert sample == 2


def test_thinning_keeps_every_answer_window_and_every_unanswerable_one(tiny_checkpoint, tmp_path):
    from transformers import AutoTokenizer

    from training.reader import thin_negative_windows

    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    examples = load_qa_examples(squad_file(tmp_path))[:3]
    windows = build_windows(tokenizer, examples, max_seq_length=24, stride=8, max_question_tokens=12)
    assert thin_negative_windows(windows, examples, 1.0, 0) is windows
    none = thin_negative_windows(windows, examples, 0.0, 0)
    impossible = {i for i, e in enumerate(examples) if e.is_impossible}
    assert [w for w in windows if w["start_positions"] > 0] == [w for w in none if w["start_positions"] > 0]
    assert all(w["start_positions"] > 0 or w["example"] in impossible for w in none)
    assert any(w["example"] in impossible for w in none) and len(none) < len(windows)


def test_training_checkpoints_resumes_and_ships_fp16_with_its_record(tiny_checkpoint, tmp_path):
    from safetensors import safe_open

    files = [squad_file(tmp_path, "v1.json", titles=[f"Article {i}" for i in range(12)])]
    config = ReaderTrainingConfig(epochs=2, batch_size=4, learning_rate=5e-4, max_seq_length=48, stride=16,
                                  holdout_fraction=0.3, checkpoint_every=2)
    out = tmp_path / "reader"
    calls = []

    def interrupted(model_dir, held_out):
        calls.append(len(held_out))
        raise KeyboardInterrupt  # stopped during the first epoch's evaluation

    with pytest.raises(KeyboardInterrupt):
        train_reader(files, out, tiny_checkpoint, config, evaluate=interrupted, progress=False)
    state = json.loads((out / "work" / "state.json").read_text())
    assert state["step"] >= 2 and state["epoch"] == 0

    def evaluate(model_dir, held_out):
        calls.append(len(held_out))
        assert (model_dir / "config.json").is_file()
        return {"f1": 10.0 * len(calls)}

    meta = train_reader(files, out, tiny_checkpoint, config, evaluate=evaluate, progress=False)
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    assert meta["held_out_questions"] == calls[0] > 0 and meta["epoch"] == 2  # the better epoch is shipped
    assert not (out / "work").exists()
    with safe_open(out / "model.safetensors", "pt") as weights:
        assert {str(weights.get_tensor(k).dtype) for k in weights.keys()} == {"torch.float16"}
    assert held_out_examples(out, load_qa_examples(files[0]))  # the record says which articles were held out


def test_held_out_needs_the_training_record(tiny_checkpoint):
    with pytest.raises(DocumentError, match="held-out articles are unknown"):
        held_out_examples(tiny_checkpoint, [])
