"""A cross-encoder reranker: reads the question and one passage together and scores how well the
passage answers it. Trained here (`python -m bot train reranker`) from the shipped reader's encoder;
loaded offline from a checkpoint directory (fp16 safetensors), run on the CPU in batches."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from core.errors import ModelLoadError

log = logging.getLogger(__name__)

DEFAULT_RERANKER = Path(__file__).resolve().parent / "checkpoints" / "reranker"


class CrossEncoderReranker:
    def __init__(self, model_dir: Path | str = DEFAULT_RERANKER, max_length: int | None = None, batch_size: int = 32,
                 runtime: str = "onnx") -> None:
        self.model_dir = Path(model_dir)
        # "onnx": ONNX Runtime on CPU (checked against PyTorch at export); "torch" otherwise or when it cannot serve.
        self.runtime = runtime
        self._session = None
        self.max_length = max_length
        self.batch_size = batch_size
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            if not (self.model_dir / "config.json").is_file():
                raise ModelLoadError(f"no reranker checkpoint at {self.model_dir} (config.json missing)", path=str(self.model_dir))
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
                model = AutoModelForSequenceClassification.from_pretrained(str(self.model_dir)).float()
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"reranker checkpoint at {self.model_dir} could not be loaded: {exc}", path=str(self.model_dir)) from None
            model.eval()
            if self.runtime == "onnx":
                from models import onnx_runtime

                why = onnx_runtime.unavailable_reason("cpu")
                if why is None:
                    self._session = onnx_runtime.OnnxSession(onnx_runtime.export(self.model_dir, "sequence-classification"))
                else:
                    log.info("reranker runs on PyTorch: %s", why)
            meta = self.model_dir / "reranker.json"
            if self.max_length is None:
                self.max_length = int(json.loads(meta.read_text()).get("max_length", 256)) if meta.is_file() else 256
            self._model = model

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """A relevance logit per (question, passage) pair: higher is more likely to answer it."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        self.warm_up()
        import torch

        # Similar lengths together: a batch is padded to its longest pair only.
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        out = np.zeros(len(pairs), dtype=np.float32)
        with torch.inference_mode():
            for first in range(0, len(order), self.batch_size):
                chunk = order[first: first + self.batch_size]
                encoded = self._tokenizer([pairs[i][0] for i in chunk], [pairs[i][1] for i in chunk], truncation="longest_first",
                                          max_length=self.max_length, padding=True, return_tensors="pt")
                if self._session is not None:
                    feed = {name: encoded.get(name, torch.zeros_like(encoded["input_ids"])).numpy() for name in ("input_ids", "attention_mask", "token_type_ids")}
                    logits = self._session.run(feed)[0][:, 0]
                else:
                    logits = self._model(**encoded).logits[:, 0].float().numpy()
                out[chunk] = logits
        return out
