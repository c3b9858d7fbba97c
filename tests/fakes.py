"""Small fakes shared by the unit tests. Imported as `fakes` (tests/unit/conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from typing import Sequence

import numpy as np

from core.errors import ModelLoadError

_TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff]")


class HashEmbedder:
    """Implements the Embedder protocol with hashed bag-of-words vectors: texts that share words are
    similar, unrelated texts are nearly orthogonal. Unit-norm float32, deterministic, no model."""

    def __init__(self, dimension: int = 256, model_name: str = "fake-hash-embedder") -> None:
        self.dimension = dimension
        self.model_name = model_name
        self.warmed_up = 0
        self.embedded: list[str] = []  # every text ever embedded, in call order

    def warm_up(self) -> None:
        self.warmed_up += 1

    def embed(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0] = 1.0
            else:
                out[row] /= norm
        return out


def make_pdf(pages: Sequence[str], title: str | None = None) -> bytes:
    """A real PDF (fpdf2), one page per string."""
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


class ScriptedGenerator:
    """Streams the given pieces; records the calls and how many pieces were taken."""

    def __init__(self, *pieces: str, fail_load: bool = False, fail_run: bool = False):
        self.pieces = pieces
        self.fail_load = fail_load
        self.fail_run = fail_run
        self.calls: list[dict] = []
        self.taken = 0

    def warm_up(self):
        if self.fail_load:
            raise ModelLoadError("generator at /models/x could not be loaded", path="/models/x")

    def stream(self, messages, **options):
        self.calls.append({"messages": messages, **options})
        if self.fail_run:
            raise RuntimeError("out of memory")
        for piece in self.pieces:
            self.taken += 1
            yield piece


# A phrasing of "You can return most items within 30 days of delivery for a full refund." that passes its check.
PHRASED_RETURNS = ("Good ", "news: ", "you ", "can ", "return ", "most ", "items ", "within ", "30 ", "days ", "of ",
                   "delivery ", "for ", "a ", "full ", "refund.")


class LockingGenerator:
    """Like models.generator.CausalLMGenerator: the model's lock is held from the first token to the
    last, and `cancel` stops it before the next token. `hang` blocks before the first token until
    the test releases it (or the call is cancelled); `fail` raises mid-way."""

    def __init__(self, *pieces: str, seconds_per_piece: float = 0.002, hang: bool = False, fail: bool = False) -> None:
        self.pieces = pieces or PHRASED_RETURNS
        self.seconds_per_piece = seconds_per_piece
        self.hang = hang
        self.fail = fail
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.calls = 0
        self.cancelled = 0
        self.path, self.adapter, self.has_adapter = "fake://locking-generator", None, False

    def warm_up(self) -> None:
        pass

    def stream(self, messages, *, max_new_tokens=None, use_adapter=None, cancel: threading.Event | None = None):
        self.calls += 1
        with self.lock:
            for i, piece in enumerate(self.pieces):
                while self.hang and not self.release.is_set():
                    if cancel is not None and cancel.is_set():
                        break
                    time.sleep(0.005)
                if cancel is not None and cancel.is_set():
                    self.cancelled += 1
                    return
                if self.fail and i == 3:
                    raise RuntimeError("CUDA out of memory")
                time.sleep(self.seconds_per_piece)
                yield piece
