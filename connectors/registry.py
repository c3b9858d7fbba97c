"""Which channels run: each one whose credentials are set. Half a configuration is an error at
start-up (a channel without its secret would accept anyone's messages), not a silent gap."""

from __future__ import annotations

from connectors.base import Connector
from connectors.meta import MessengerConnector, WhatsAppConnector
from connectors.slack import SlackConnector
from connectors.telegram import TelegramConnector
from core.errors import ConfigurationError
from core.settings import Settings


def enabled_connectors(settings: Settings) -> list[Connector]:
    connectors: list[Connector] = []
    if settings.telegram_bot_token or settings.telegram_secret_token:
        _require(settings, "Telegram", "telegram_bot_token", "telegram_secret_token")
        connectors.append(TelegramConnector(settings.telegram_bot_token, settings.telegram_secret_token, settings.telegram_api_url))
    if settings.slack_signing_secret or settings.slack_bot_token:
        _require(settings, "Slack", "slack_signing_secret", "slack_bot_token")
        connectors.append(SlackConnector(settings.slack_signing_secret, settings.slack_bot_token, settings.slack_api_url))
    meta = (settings.meta_app_secret, settings.meta_verify_token)
    if settings.whatsapp_access_token:
        _require(settings, "WhatsApp", "meta_app_secret", "meta_verify_token")
        connectors.append(WhatsAppConnector(*meta, settings.whatsapp_access_token, settings.meta_graph_url))
    if settings.messenger_page_access_token:
        _require(settings, "Messenger", "meta_app_secret", "meta_verify_token")
        connectors.append(MessengerConnector(*meta, settings.messenger_page_access_token, settings.meta_graph_url))
    if any(meta) and not (settings.whatsapp_access_token or settings.messenger_page_access_token):
        raise ConfigurationError(
            "BOT_META_APP_SECRET / BOT_META_VERIFY_TOKEN are set but neither BOT_WHATSAPP_ACCESS_TOKEN "
            "nor BOT_MESSENGER_PAGE_ACCESS_TOKEN is: no Meta channel can reply"
        )
    return connectors


def _require(settings: Settings, channel: str, *names: str) -> None:
    missing = [f"BOT_{name.upper()}" for name in names if not getattr(settings, name)]
    if missing:
        raise ConfigurationError(f"{channel} is half configured: set {' and '.join(missing)}", missing=missing)
