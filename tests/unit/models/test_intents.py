from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from fakes import HashEmbedder

from core.errors import BadRequest, ModelLoadError
from models.intents import (
    DEFAULT_INTENT_MODEL,
    BitextExample,
    CharNgrams,
    IntentClassifier,
    IntentModel,
    classification_figures,
    evaluate_intents,
    is_held_out,
    iter_examples,
    load_bitext,
    train_intent_model,
)

# ------------------------------------------------------------------ a tiny synthetic data set

_VOCAB = {
    "track_order": (["where is", "track", "locate", "find", "status of"], ["my parcel", "the package", "my shipment", "the delivery"]),
    "get_refund": (["refund", "reimburse", "return money for", "give back cash for"], ["my purchase", "this jacket", "the skillet", "a broken lamp", "the headphones"]),
    "newsletter_subscription": (["subscribe", "sign up", "join", "unsubscribe from"], ["newsletter", "mailing list", "weekly bulletin", "promo emails", "digest"]),
}


def _dataset() -> list[BitextExample]:
    rows = []
    for intent, (verbs, objects) in _VOCAB.items():
        for verb in verbs:
            for obj in objects:
                rows.append(BitextExample(f"{verb} {obj}", intent))
    return rows


@pytest.fixture(scope="module")
def trained():
    embedder = HashEmbedder(dimension=64)
    model, held = train_intent_model(_dataset(), embedder, holdout=0.2, progress=False)
    embedded_in_training = list(embedder.embedded)
    return model, held, HashEmbedder(dimension=64), embedded_in_training


# ------------------------------------------------------------------ load_bitext


def _write_csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_load_bitext_reads_rows_and_entities(tmp_path):
    path = _write_csv(
        tmp_path / "bitext.csv",
        ["instruction", "intent", "category", "entity_type", "entity_value", "start_offset", "end_offset"],
        [
            ["  where is order 12345  ", "track_order", "ORDER", "order_id", "12345", "15", "20"],
            ["", "track_order", "ORDER", "", "", "", ""],  # empty text: skipped
            ["cancel it", "  ", "ORDER", "", "", "", ""],  # empty intent: skipped
            ["I want a refund", "get_refund", "REFUND", "", "", "", ""],
            ["invoice 85632 please", "get_invoice", "INVOICE", "invoice_number", "85632", "8.0", "oops"],
        ],
    )
    rows = load_bitext(path)
    assert rows == [
        BitextExample("where is order 12345", "track_order", "ORDER", "order_id", "12345", 15, 20),
        BitextExample("I want a refund", "get_refund", "REFUND", "", "", None, None),
        BitextExample("invoice 85632 please", "get_invoice", "INVOICE", "invoice_number", "85632", 8, None),
    ]


def test_load_bitext_minimal_columns(tmp_path):
    path = _write_csv(tmp_path / "min.csv", ["intent", "instruction"], [["complaint", "this is awful"]])
    assert load_bitext(str(path)) == [BitextExample("this is awful", "complaint")]


def test_load_bitext_missing_file_names_the_path(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(BadRequest) as info:
        load_bitext(path)
    assert str(path) in info.value.message
    assert info.value.details == {"path": str(path)}


def test_load_bitext_missing_intent_column(tmp_path):
    path = _write_csv(tmp_path / "bad.csv", ["instruction", "label"], [["hello", "greet"]])
    with pytest.raises(BadRequest, match="missing column.*intent"):
        load_bitext(path)


def test_load_bitext_with_no_labelled_rows(tmp_path):
    path = _write_csv(tmp_path / "empty.csv", ["instruction", "intent"], [["", "x"], ["y", ""]])
    with pytest.raises(BadRequest, match="no labelled rows"):
        load_bitext(path)


def test_load_bitext_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("instruction,intent\ncaf\xe9 order,track_order\n".encode("latin-1"))
    with pytest.raises(BadRequest, match="UTF-8"):
        load_bitext(path)


def test_iter_examples_concatenates(tmp_path):
    a = _write_csv(tmp_path / "a.csv", ["instruction", "intent"], [["one", "x"]])
    b = _write_csv(tmp_path / "b.csv", ["instruction", "intent"], [["two", "y"], ["three", "y"]])
    assert [e.text for e in iter_examples([a, b])] == ["one", "two", "three"]


# ------------------------------------------------------------------ held-out split


def test_is_held_out_is_stable_and_ignores_case_and_spacing():
    texts = [f"message number {i}" for i in range(200)]
    first = [is_held_out(t, 0.2) for t in texts]
    assert first == [is_held_out(t, 0.2) for t in texts]
    assert first == [is_held_out(f"  {t.upper().replace(' ', '   ')}\n", 0.2) for t in texts]
    assert any(first) and not all(first)


def test_is_held_out_fraction():
    texts = [f"synthetic customer message {i} about order {i * 7}" for i in range(2000)]
    assert sum(is_held_out(t, 0.2) for t in texts) / len(texts) == pytest.approx(0.2, abs=0.04)
    assert sum(is_held_out(t, 0.5) for t in texts) / len(texts) == pytest.approx(0.5, abs=0.05)
    assert not any(is_held_out(t, 0.0) for t in texts)
    # nested: what is held out at 0.1 is also held out at 0.2
    assert all(is_held_out(t, 0.2) for t in texts if is_held_out(t, 0.1))


# ------------------------------------------------------------------ character n-grams


def test_analyze_grams_inside_word_boundaries():
    assert CharNgrams.analyze("Ab", (2, 5)) == [" a", "ab", "b ", " ab", "ab ", " ab "]
    assert CharNgrams.analyze("a  B", (2, 2)) == [" a", "a ", " b", "b "]
    assert CharNgrams.analyze("   ") == []


def test_fit_keeps_grams_seen_in_min_df_texts_with_smooth_idf():
    ngrams = CharNgrams.fit(["ab", "ab", "cd"], min_df=2)
    assert set(ngrams.vocabulary) == {" a", "ab", "b ", " ab", "ab ", " ab "}
    assert sorted(ngrams.vocabulary.values()) == list(range(6))
    # every kept gram is in 2 of 3 texts: log((1 + 3) / (1 + 2)) + 1
    np.testing.assert_allclose(ngrams.idf, np.full(6, np.log(4 / 3) + 1), rtol=1e-6)

    all_grams = CharNgrams.fit(["ab", "ab", "cd"], min_df=1)
    assert " cd " in all_grams.vocabulary
    assert all_grams.idf[all_grams.vocabulary[" cd "]] == pytest.approx(np.log(4 / 2) + 1)


def test_transform_rows_are_l2_normalised_and_unknown_grams_ignored():
    ngrams = CharNgrams.fit(["track my order", "track my parcel", "refund my order", "refund please"], min_df=1)
    matrix = ngrams.transform(["track my order", "zzzz qqqq", "", "track zzzz"]).toarray()
    assert matrix.shape == (4, len(ngrams.vocabulary))
    assert matrix.dtype == np.float32
    norms = np.linalg.norm(matrix, axis=1)
    assert norms[0] == pytest.approx(1.0, abs=1e-5)
    assert norms[1] == 0.0 and norms[2] == 0.0  # nothing known / nothing at all
    assert norms[3] == pytest.approx(1.0, abs=1e-5)
    # the unknown word adds nothing: "track zzzz" is exactly "track"
    np.testing.assert_allclose(matrix[3], ngrams.transform(["track"]).toarray()[0], atol=1e-6)


def test_transform_sublinear_tf():
    ngrams = CharNgrams({"ab": 0, "cd": 1}, np.array([1.0, 1.0]), (2, 2))
    row = ngrams.transform(["ab ab ab ab cd"]).toarray()[0]
    # the 'ab' inside " ab " occurs 4 times: 1 + ln 4 against 1 for 'cd'
    expected = np.array([1 + np.log(4), 1.0])
    np.testing.assert_allclose(row, expected / np.linalg.norm(expected), rtol=1e-5)


# ------------------------------------------------------------------ training and evaluation


def test_train_and_evaluate_on_a_tiny_data_set(trained):
    model, held, embedder, embedded_in_training = trained
    data = _dataset()
    assert len(data) == 60
    expected_held = [e for e in data if is_held_out(e.text, 0.2)]
    assert held == expected_held
    assert 0 < len(held) < len(data)
    assert set(model.classes) == set(_VOCAB)
    assert model.embedding_dimension == 64
    assert model.meta["trained_on"] == len(data) - len(held)
    assert model.meta["held_out"] == len(held)
    assert model.meta["holdout_fraction"] == 0.2
    assert model.meta["embedder"] == "fake-hash-embedder"
    # training embedded exactly the rows outside the held-out fraction
    assert embedded_in_training == [e.text for e in data if e not in held]

    figures = evaluate_intents(model, embedder, held)
    assert figures["n"] == len(held)
    assert figures["accuracy"] >= 0.9
    figures_all = evaluate_intents(model, embedder, data)
    assert figures_all["accuracy"] >= 0.95


def test_predictions_rank_and_sum_to_one(trained):
    model, _held, embedder, _ = trained
    texts = ["where is my parcel", "subscribe to the newsletter"]
    predictions = model.predict(texts, embedder.embed(texts), top=3)
    assert [p.intent for p in predictions] == ["track_order", "newsletter_subscription"]
    for p in predictions:
        assert len(p.ranking) == 3
        assert p.ranking[0] == (p.intent, p.confidence)
        probs = [prob for _, prob in p.ranking]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) == pytest.approx(1.0)
    np.testing.assert_allclose(model.probabilities(texts, embedder.embed(texts)).sum(axis=1), 1.0)


def test_wrong_embedding_dimension(trained):
    model, _held, _embedder, _ = trained
    with pytest.raises(ModelLoadError, match="64-dimensional"):
        model.probabilities(["x"], np.zeros((1, 32), dtype=np.float32))


def test_training_needs_two_intents():
    rows = [BitextExample(f"track parcel {i}", "track_order") for i in range(10)]
    with pytest.raises(BadRequest, match="two intents"):
        train_intent_model(rows, HashEmbedder(dimension=16), progress=False)


def test_two_intent_model_predicts_both_classes():
    rows = [e for e in _dataset() if e.intent != "get_refund"]
    embedder = HashEmbedder(dimension=32)
    model, _ = train_intent_model(rows, embedder, holdout=0.0, progress=False)
    assert model.classes == ("newsletter_subscription", "track_order")
    texts = ["track my parcel", "join the newsletter"]
    assert [p.intent for p in model.predict(texts, embedder.embed(texts))] == ["track_order", "newsletter_subscription"]


# ------------------------------------------------------------------ files


def test_save_load_round_trip(trained, tmp_path):
    model, held, embedder, _ = trained
    directory = model.save(tmp_path / "ckpt")
    assert sorted(p.name for p in directory.iterdir()) == ["intents.json", "intents.npz"]
    loaded = IntentModel.load(directory)
    assert loaded.classes == model.classes
    assert loaded.ngrams.vocabulary == model.ngrams.vocabulary
    assert loaded.ngrams.ngram_range == model.ngrams.ngram_range
    np.testing.assert_array_equal(loaded.ngrams.idf, model.ngrams.idf)
    assert {k: v for k, v in loaded.meta.items() if k != "ngram_range"} == model.meta
    assert loaded.embedding_dimension == model.embedding_dimension

    texts = [e.text for e in _dataset()] + ["where is the refund newsletter"]
    embeddings = embedder.embed(texts)
    np.testing.assert_allclose(loaded.probabilities(texts, embeddings), model.probabilities(texts, embeddings), atol=5e-3)
    assert [p.intent for p in loaded.predict(texts, embeddings)] == [p.intent for p in model.predict(texts, embeddings)]


def test_load_missing_directory_names_the_path(tmp_path):
    directory = tmp_path / "nowhere"
    with pytest.raises(ModelLoadError) as info:
        IntentModel.load(directory)
    assert str(directory / "intents.npz") in info.value.message
    assert info.value.details["path"] == str(directory / "intents.npz")


def test_load_missing_json_names_the_path(trained, tmp_path):
    directory = trained[0].save(tmp_path / "ckpt")
    (directory / "intents.json").unlink()
    with pytest.raises(ModelLoadError, match="intents.json"):
        IntentModel.load(directory)


def test_load_truncated_npz(trained, tmp_path):
    directory = trained[0].save(tmp_path / "ckpt")
    npz = directory / "intents.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as info:
        IntentModel.load(directory)
    assert str(directory) in info.value.message
    assert info.value.details["path"] == str(directory)


def test_load_corrupt_json(trained, tmp_path):
    directory = trained[0].save(tmp_path / "ckpt")
    (directory / "intents.json").write_text('{"classes": [', encoding="utf-8")
    with pytest.raises(ModelLoadError) as info:
        IntentModel.load(directory)
    assert str(directory) in info.value.message


def test_load_json_without_vocabulary(trained, tmp_path):
    directory = trained[0].save(tmp_path / "ckpt")
    meta = json.loads((directory / "intents.json").read_text(encoding="utf-8"))
    del meta["vocabulary"]
    (directory / "intents.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="vocabulary"):
        IntentModel.load(directory)


def test_load_inconsistent_shapes(trained, tmp_path):
    directory = trained[0].save(tmp_path / "ckpt")
    meta = json.loads((directory / "intents.json").read_text(encoding="utf-8"))
    meta["classes"] = meta["classes"][:-1]
    (directory / "intents.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="inconsistent"):
        IntentModel.load(directory)


def test_shipped_model_has_the_bitext_intents():
    model = IntentModel.load(DEFAULT_INTENT_MODEL)
    assert len(model.classes) == 27
    assert len(set(model.classes)) == 27
    assert {"contact_human_agent", "track_order", "cancel_order", "get_refund", "complaint"} <= set(model.classes)
    assert model.meta["holdout_fraction"] == 0.2
    # all-MiniLM-L6-v2, then multilingual-e5-small's block (zeros for a message that is not Chinese)
    assert model.embedding_dimension == 768 and "zh: multilingual-e5-small" in model.meta["embedder"]
    # it runs on embeddings of the right shape (no real embedder needed for that)
    p = model.probabilities(["where is my order"], np.zeros((1, 768), dtype=np.float32))
    assert p.shape == (1, 27) and p.sum() == pytest.approx(1.0)


# ------------------------------------------------------------------ figures


def test_classification_figures_hand_computed():
    gold = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "a", "b", "b", "c", "c"]
    figures = classification_figures(gold, predicted)
    assert figures == {
        "n": 6,
        "accuracy": 0.6667,
        "macro_f1": round((0.8 + 0.5 + 0.6667) / 3, 4),  # 0.6556
        "per_intent": {
            "a": {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "support": 3},
            "b": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
            "c": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
        },
    }
    assert figures["macro_f1"] == 0.6556


def test_classification_figures_unseen_prediction_is_a_miss():
    figures = classification_figures(["a", "a"], ["a", "zzz"])
    assert figures["accuracy"] == 0.5
    assert figures["per_intent"] == {"a": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}}
    assert figures["macro_f1"] == 0.6667


def test_classification_figures_empty():
    assert classification_figures([], []) == {"n": 0, "accuracy": 0.0, "macro_f1": 0.0, "per_intent": {}}


# ------------------------------------------------------------------ the pipeline stage


def test_classifier_run_empty_loads_nothing(tmp_path):
    embedder = HashEmbedder()
    classifier = IntentClassifier(embedder, tmp_path / "no-model-here")
    assert classifier.run([]) == []
    assert embedder.embedded == []
    assert classifier._model is None


def test_classifier_loads_lazily_and_embeds_when_not_given(trained, tmp_path):
    model, _held, _, _ = trained
    directory = model.save(tmp_path / "ckpt")
    embedder = HashEmbedder(dimension=64)
    classifier = IntentClassifier(embedder, directory)
    [prediction] = classifier.run(["track the package"])
    assert prediction.intent == "track_order"
    assert embedder.embedded == ["track the package"]
    given = embedder.embed(["sign up newsletter"])
    assert classifier.run(["sign up newsletter"], given)[0].intent == "newsletter_subscription"
    assert embedder.embedded == ["track the package", "sign up newsletter"]  # not embedded again


def test_classifier_missing_model_raises_on_warm_up(tmp_path):
    classifier = IntentClassifier(HashEmbedder(), tmp_path / "missing")
    with pytest.raises(ModelLoadError):
        classifier.warm_up()


def test_classifier_defaults_to_shipped_model():
    assert IntentClassifier(HashEmbedder()).model_dir == DEFAULT_INTENT_MODEL


# ---------------------------------------------------------------- the embedder's query cache


class _CountingModel:
    def __init__(self) -> None:
        self.encoded: list[list[str]] = []

    def encode(self, texts, **kwargs):
        self.encoded.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def _embedder_with(model, cache_size=2):
    from models.embedder import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder("unused", cache_size=cache_size)
    embedder._model, embedder.dimension = model, 2
    return embedder


def test_query_vectors_are_cached_and_bounded():
    model = _CountingModel()
    embedder = _embedder_with(model, cache_size=2)
    first = embedder.embed(["where is my order", "hi"])
    again = embedder.embed(["hi", "where is my order"])
    assert model.encoded == [["where is my order", "hi"]]  # the second call encoded nothing
    assert np.array_equal(first[::-1], again)
    embedder.embed(["third text"])  # evicts the least recently used: "hi"
    embedder.embed(["where is my order"])
    assert model.encoded[-1] == ["third text"]
    embedder.embed(["hi"])
    assert model.encoded[-1] == ["hi"]


def test_bulk_embedding_bypasses_the_cache():
    model = _CountingModel()
    embedder = _embedder_with(model, cache_size=1000)
    texts = [f"passage {i}" for i in range(100)]
    embedder.embed(texts)
    embedder.embed(texts)
    assert len(model.encoded) == 2 and not embedder._cache
