"""Storebot: a customer-service bot that answers from a store's own documents.

The top layer: dialogue, conversations, the store back end, the composition root (`bot.assembly`),
the HTTP server and the CLI."""

__version__ = "0.1.0"

import core  # noqa: F401,E402  (the offline environment, before any model library is imported)
