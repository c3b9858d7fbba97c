"""Storebot: a customer-service bot that answers from a store's own documents."""

__version__ = "0.1.0"

import os as _os

# Weights come from installed packages or the repository, never from a hub: an air-gapped store
# server must behave exactly like a connected one, so the hub clients are told not to try.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
