"""What the customer wants: a linear intent classifier over two views of the message.

* the sentence embedding (MiniLM, the same model the retriever uses), which carries meaning, and
* character n-gram TF-IDF, which survives the typos customers make ("rtack my ordr").

Trained on Bitext-format CSV files (`python -m bot train intents`). The checkpoint is two small files,
`intents.npz` (numbers only, loaded without pickle) and `intents.json` (classes, vocabulary, how it
was trained), so it ships in the repository and loads offline.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from core.errors import BadRequest, ModelLoadError
from models.embedder import Embedder

DEFAULT_INTENT_MODEL = Path(__file__).parent / "checkpoints" / "intents"
BITEXT_COLUMNS = ("instruction", "intent")
NGRAM_RANGE = (2, 5)


@dataclass(frozen=True, slots=True)
class BitextExample:
    text: str
    intent: str
    category: str = ""
    entity_type: str = ""
    entity_value: str = ""
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    intent: str
    confidence: float
    # The best few (intent, probability) pairs, best first: the dialogue uses the runner-up.
    ranking: tuple[tuple[str, float], ...]


def read_bitext_rows(path: str | Path, required: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a Bitext-format CSV as dicts, or a BadRequest that says what is wrong with the file."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise BadRequest(f"{path} is not a Bitext CSV: missing column(s) {', '.join(missing)}", path=str(path))
            return list(reader)
    except FileNotFoundError:
        raise BadRequest(f"Bitext file not found: {path}", path=str(path)) from None
    except UnicodeDecodeError:
        raise BadRequest(f"{path} is not UTF-8 text", path=str(path)) from None


def load_bitext(path: str | Path) -> list[BitextExample]:
    """Rows of a Bitext customer-support CSV (instruction, intent, and optional entity columns)."""
    examples = []
    for row in read_bitext_rows(path, BITEXT_COLUMNS):
        text, intent = (row.get("instruction") or "").strip(), (row.get("intent") or "").strip()
        if not text or not intent:
            continue
        start, end = _int_or_none(row.get("start_offset")), _int_or_none(row.get("end_offset"))
        examples.append(
            BitextExample(text, intent, (row.get("category") or "").strip(), (row.get("entity_type") or "").strip(),
                          row.get("entity_value") or "", start, end)
        )
    if not examples:
        raise BadRequest(f"{path} has no labelled rows", path=str(path))
    return examples


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def is_held_out(text: str, fraction: float) -> bool:
    """A stable split by the message's own text: the same message is on the same side in every run,
    and duplicates (Bitext repeats some messages) never straddle it."""
    key = re.sub(r"\s+", " ", text.strip().lower()).encode("utf-8")
    return int(hashlib.sha1(key).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


class CharNgrams:
    """Sublinear TF-IDF over character n-grams inside word boundaries, L2-normalised (as sklearn's
    `TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)`), with the vocabulary stored as plain JSON."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, ngram_range: tuple[int, int] = NGRAM_RANGE) -> None:
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.ngram_range = ngram_range

    @staticmethod
    def analyze(text: str, ngram_range: tuple[int, int] = NGRAM_RANGE) -> list[str]:
        lo, hi = ngram_range
        grams = []
        for word in re.sub(r"\s+", " ", text.lower()).split():
            word = f" {word} "
            for n in range(lo, hi + 1):
                grams.extend(word[i : i + n] for i in range(max(1, len(word) - n + 1)) if len(word[i : i + n]) == n)
        return grams

    @classmethod
    def fit(cls, texts: Sequence[str], min_df: int = 2) -> "CharNgrams":
        df: dict[str, int] = {}
        for text in texts:
            for gram in set(cls.analyze(text)):
                df[gram] = df.get(gram, 0) + 1
        kept = sorted(g for g, c in df.items() if c >= min_df)
        vocabulary = {g: i for i, g in enumerate(kept)}
        n = len(texts)
        idf = np.array([math.log((1 + n) / (1 + df[g])) + 1 for g in kept], dtype=np.float32)
        return cls(vocabulary, idf)

    def transform(self, texts: Sequence[str]):
        from scipy.sparse import csr_matrix

        rows, cols, values = [], [], []
        for r, text in enumerate(texts):
            counts: dict[int, int] = {}
            for gram in self.analyze(text, self.ngram_range):
                j = self.vocabulary.get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            idx = np.fromiter(counts, dtype=np.int64)
            vals = (1 + np.log(np.fromiter(counts.values(), dtype=np.float32))) * self.idf[idx]
            vals /= np.linalg.norm(vals)
            rows.extend([r] * len(idx))
            cols.extend(idx.tolist())
            values.extend(vals.tolist())
        return csr_matrix((values, (rows, cols)), shape=(len(texts), len(self.vocabulary)), dtype=np.float32)


class IntentModel:
    """Softmax over [char n-gram TF-IDF | sentence embedding] features."""

    def __init__(self, classes: Sequence[str], ngrams: CharNgrams, weights: np.ndarray, bias: np.ndarray, meta: dict | None = None) -> None:
        self.classes = tuple(classes)
        self.ngrams = ngrams
        self.weights = weights.astype(np.float32)  # (n_char + n_embedding, n_classes)
        self.bias = bias.astype(np.float32)
        self.meta = meta or {}

    @property
    def embedding_dimension(self) -> int:
        return self.weights.shape[0] - len(self.ngrams.vocabulary)

    def probabilities(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        n_char = len(self.ngrams.vocabulary)
        if embeddings.shape[1] != self.embedding_dimension:
            raise ModelLoadError(
                f"intent model expects {self.embedding_dimension}-dimensional embeddings, the embedder gives {embeddings.shape[1]}"
            )
        logits = self.ngrams.transform(texts) @ self.weights[:n_char] + embeddings @ self.weights[n_char:] + self.bias
        logits = np.asarray(logits, dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray, top: int = 3) -> list[IntentPrediction]:
        out = []
        for row in self.probabilities(texts, embeddings):
            order = np.argsort(-row)[:top]
            ranking = tuple((self.classes[i], float(row[i])) for i in order)
            out.append(IntentPrediction(ranking[0][0], ranking[0][1], ranking))
        return out

    # ------------------------------------------------------------------ files

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(directory / "intents.npz", weights=self.weights.astype(np.float16), bias=self.bias, idf=self.ngrams.idf)
        meta = {
            **self.meta,
            "classes": list(self.classes),
            "ngram_range": list(self.ngrams.ngram_range),
            "vocabulary": sorted(self.ngrams.vocabulary, key=self.ngrams.vocabulary.__getitem__),
        }
        (directory / "intents.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "IntentModel":
        directory = Path(directory)
        npz, meta_path = directory / "intents.npz", directory / "intents.json"
        for path in (npz, meta_path):
            if not path.is_file():
                raise ModelLoadError(f"intent model file missing: {path} (rebuild with `python -m bot train intents`)", path=str(path))
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with np.load(npz, allow_pickle=False) as arrays:
                weights, bias, idf = arrays["weights"], arrays["bias"], arrays["idf"]
            vocabulary = {g: i for i, g in enumerate(meta["vocabulary"])}
            classes = meta["classes"]
        except Exception as exc:  # truncated zip, bad JSON, missing keys: all mean "this checkpoint is broken"
            raise ModelLoadError(f"cannot load intent model from {directory}: {exc}", path=str(directory)) from exc
        if weights.shape[1] != len(classes) or len(idf) != len(vocabulary) or weights.shape[0] <= len(vocabulary):
            raise ModelLoadError(f"intent model in {directory} is inconsistent (shapes do not match its metadata)", path=str(directory))
        ngrams = CharNgrams(vocabulary, idf, tuple(meta.get("ngram_range", NGRAM_RANGE)))
        return cls(classes, ngrams, weights, bias, {k: v for k, v in meta.items() if k not in ("vocabulary", "classes")})


def train_intent_model(
    examples: Sequence[BitextExample],
    embedder: Embedder,
    *,
    holdout: float = 0.2,
    regularization: float = 10.0,
    progress: bool = True,
) -> tuple[IntentModel, list[BitextExample]]:
    """Fit on the examples outside the held-out fraction; returns the model and the held-out rows."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    train = [e for e in examples if not is_held_out(e.text, holdout)]
    held = [e for e in examples if is_held_out(e.text, holdout)]
    if len({e.intent for e in train}) < 2:
        raise BadRequest("need at least two intents to train on")
    started = time.time()
    texts = [e.text for e in train]
    ngrams = CharNgrams.fit(texts)
    embeddings = embedder.embed(texts, progress=progress)
    features = hstack([ngrams.transform(texts), csr_matrix(embeddings)]).tocsr()
    classifier = LogisticRegression(C=regularization, max_iter=5000)
    classifier.fit(features, [e.intent for e in train])
    classes = list(classifier.classes_)
    weights = classifier.coef_.T if len(classes) > 2 else np.hstack([-classifier.coef_.T, classifier.coef_.T]) / 2
    bias = classifier.intercept_ if len(classes) > 2 else np.array([-classifier.intercept_[0], classifier.intercept_[0]]) / 2
    meta = {
        "embedder": getattr(embedder, "model_name", ""),
        "trained_on": len(train),
        "held_out": len(held),
        "holdout_fraction": holdout,
        "regularization": regularization,
        "seconds": round(time.time() - started, 1),
    }
    return IntentModel(classes, ngrams, np.asarray(weights), np.asarray(bias), meta), held


def evaluate_intents(model: IntentModel, embedder: Embedder, examples: Sequence[BitextExample], progress: bool = False) -> dict:
    """Accuracy, macro F1 and per-intent precision/recall/F1 over the examples' labelled intents.
    A label the model has never seen counts as a miss for that label."""
    texts = [e.text for e in examples]
    predicted = [p.intent for p in model.predict(texts, embedder.embed(texts, progress=progress))]
    gold = [e.intent for e in examples]
    return classification_figures(gold, predicted)


def classification_figures(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    labels = sorted(set(gold))
    per_intent = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}
    n = len(gold)
    accuracy = sum(1 for g, p in zip(gold, predicted) if g == p) / n if n else 0.0
    macro_f1 = sum(v["f1"] for v in per_intent.values()) / len(per_intent) if per_intent else 0.0
    return {"n": n, "accuracy": round(accuracy, 4), "macro_f1": round(macro_f1, 4), "per_intent": per_intent}


class IntentClassifier:
    """The pipeline stage: texts in, IntentPredictions out. Loads in warm_up(), not __init__."""

    def __init__(self, embedder: Embedder, model_dir: str | Path | None = None) -> None:
        self.embedder = embedder
        self.model_dir = Path(model_dir) if model_dir else DEFAULT_INTENT_MODEL
        self._model: IntentModel | None = None

    @property
    def model(self) -> IntentModel:
        if self._model is None:
            self.warm_up()
        assert self._model is not None
        return self._model

    def warm_up(self) -> None:
        if self._model is None:
            self._model = IntentModel.load(self.model_dir)

    def run(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[IntentPrediction]:
        if not texts:
            return []
        if embeddings is None:
            embeddings = self.embedder.embed(list(texts))
        return self.model.predict(list(texts), embeddings)


def iter_examples(paths: Iterable[str | Path]) -> list[BitextExample]:
    out: list[BitextExample] = []
    for path in paths:
        out.extend(load_bitext(path))
    return out
