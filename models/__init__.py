"""Inference only: the embedder, the extractive reader, the generator, the intent model, their
ONNX runtime and the shipped checkpoints. Imports core."""

import core  # noqa: F401  (the offline environment, before any model library is imported)
