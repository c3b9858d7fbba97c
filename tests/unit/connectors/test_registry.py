"""Channels are on when their credentials are set; half a configuration stops the server at start-up."""

from __future__ import annotations

import pytest

from connectors.registry import enabled_connectors
from core.errors import ConfigurationError
from core.settings import Settings


def names(**settings) -> list[str]:
    return [c.name for c in enabled_connectors(Settings(**settings))]


def test_no_credentials_no_channels():
    assert names() == []


def test_each_channel_with_its_credentials():
    assert names(telegram_bot_token="1:x", telegram_secret_token="s") == ["telegram"]
    assert names(slack_signing_secret="s", slack_bot_token="xoxb") == ["slack"]
    meta = dict(meta_app_secret="a", meta_verify_token="v")
    assert names(**meta, whatsapp_access_token="w") == ["whatsapp"]
    assert names(**meta, messenger_page_access_token="p") == ["messenger"]
    assert names(**meta, whatsapp_access_token="w", messenger_page_access_token="p") == ["whatsapp", "messenger"]


@pytest.mark.parametrize(
    "settings, missing",
    [
        (dict(telegram_bot_token="1:x"), "BOT_TELEGRAM_SECRET_TOKEN"),
        (dict(telegram_secret_token="s"), "BOT_TELEGRAM_BOT_TOKEN"),
        (dict(slack_bot_token="xoxb"), "BOT_SLACK_SIGNING_SECRET"),
        (dict(whatsapp_access_token="w"), "BOT_META_APP_SECRET and BOT_META_VERIFY_TOKEN"),
        (dict(messenger_page_access_token="p", meta_app_secret="a"), "BOT_META_VERIFY_TOKEN"),
        (dict(meta_app_secret="a", meta_verify_token="v"), "BOT_WHATSAPP_ACCESS_TOKEN"),
    ],
)
def test_half_a_configuration_is_an_error_naming_what_is_missing(settings, missing):
    with pytest.raises(ConfigurationError, match=missing):
        enabled_connectors(Settings(**settings))


def test_credentials_come_from_the_environment():
    settings = Settings.load(environ={"BOT_SLACK_SIGNING_SECRET": "s", "BOT_SLACK_BOT_TOKEN": "xoxb", "BOT_CHANNEL_RETRY_SECONDS": "5"})
    assert [c.name for c in enabled_connectors(settings)] == ["slack"] and settings.channel_retry_seconds == 5.0
