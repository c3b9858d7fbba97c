"""What the aiohttp app keeps, under typed keys: set by the app's cleanup contexts (bot.server),
read by its handlers (bot.server, bot.agent_api)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.backend import StoreBackend
from bot.dialogue import DialogueService
from core.budget import Progress, SkipCounters
from core.ports import ConversationStore
from core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("conversation_store", ConversationStore)
BACKEND = web.AppKey("store_backend", StoreBackend)
DIALOGUE = web.AppKey("dialogue", DialogueService)
HEALTH = web.AppKey("health", dict[str, Any])
SKIPS = web.AppKey("skips", SkipCounters)
STAGES = web.AppKey("stages", tuple[Progress, ...])
