"""The bottom layer: shared types, errors, settings, budgets, the SQLite helper and the offline
environment. Everything else may import it; it imports nothing of the project."""

import os as _os

# Weights come from installed packages or the repository, never from a hub: an air-gapped store
# server must behave exactly like a connected one, so the hub clients are told not to try. Set here,
# in the package every layer imports first, before any model library is imported.
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
