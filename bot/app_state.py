"""What the aiohttp app keeps, under typed keys: set by the app's cleanup contexts (bot.server),
read by its handlers (bot.server, bot.agent_api). What the running dialogue reports (skips, stage
progress, grounding checks) is read off its bot.assembly.OpenDialogue, not copied here."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.assembly import OpenDialogue
from bot.backend import StoreBackend
from bot.dialogue import DialogueService
from core.ports import ConversationStore
from core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("conversation_store", ConversationStore)
BACKEND = web.AppKey("store_backend", StoreBackend)
DIALOGUE = web.AppKey("dialogue", DialogueService)
HEALTH = web.AppKey("health", dict[str, Any])
OPEN_DIALOGUE = web.AppKey("open_dialogue", OpenDialogue)
