"""Small fakes shared by the unit tests. Imported as `fakes` (tests/unit/conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from bot.errors import ModelLoadError

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
