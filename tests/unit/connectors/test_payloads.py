"""Each connector's translation of its platform's documented webhook payloads into our messages."""

from __future__ import annotations

import pytest
from platforms import (
    messenger_message,
    slack_message_event,
    slack_url_verification,
    telegram_update,
    whatsapp_status,
    whatsapp_text,
)

from connectors.base import reply_text, split_text
from connectors.meta import MessengerConnector, WhatsAppConnector
from connectors.slack import SlackConnector
from connectors.telegram import TelegramConnector
from core.errors import BadRequest
from core.types import Reply, Source

telegram = TelegramConnector("1:token", "secret")
slack = SlackConnector("signing", "xoxb", bot_user_id="U0BOT")
whatsapp = WhatsAppConnector("app", "verify", "token", "https://graph.example/v21.0")
messenger = MessengerConnector("app", "verify", "token", "https://graph.example/v21.0")


def test_telegram_private_message():
    [message] = telegram.parse(telegram_update("Where is my order?")).messages
    assert (message.channel, message.sender, message.text) == ("telegram", "1111111", "Where is my order?")
    assert message.delivery_keys == ("update:10000",) and message.address == {"chat_id": 1111111}


def test_telegram_group_message_is_per_member_and_replies_to_it():
    update = telegram_update("hi", update_id=5)
    update["message"]["chat"] = {"id": -100200300, "type": "supergroup", "title": "Shoppers"}
    [message] = telegram.parse(update).messages
    assert message.sender == "-100200300/1111111"
    assert message.address == {"chat_id": -100200300, "reply_to_message_id": 1365}


@pytest.mark.parametrize("command", ["/start", "/start@NorthwindBot", "/help"])
def test_telegram_client_commands_greet(command):
    assert telegram.parse(telegram_update(command)).messages[0].text == "hello"


def test_telegram_ignores_what_is_not_a_customer_text():
    bot_message = telegram_update("hi")
    bot_message["message"]["from"]["is_bot"] = True
    photo = telegram_update("")
    del photo["message"]["text"]
    for update in ({"update_id": 1, "edited_message": {}}, {"update_id": 2, "my_chat_member": {}}, bot_message, photo):
        result = telegram.parse(update)
        assert result.messages == () and result.ignored


@pytest.mark.parametrize("update", [{}, {"update_id": "1"}, {"update_id": True}, {"update_id": 1, "message": {"text": "x", "chat": {}}}])
def test_telegram_malformed_updates(update):
    with pytest.raises(BadRequest):
        telegram.parse(update)


def test_slack_channel_message_is_answered_in_its_thread():
    [message] = slack.parse(slack_message_event("<@U0BOT> do you ship to Canada?")).messages
    assert message.sender == "T061EG9R6:U2147483697" and message.text == "do you ship to Canada?"
    assert message.address == {"channel": "C2147483705", "thread_ts": "1355517523.000005"}
    assert message.delivery_keys == ("event:Ev08MFMKH6", "message:C2147483705:1355517523.000005")


def test_slack_direct_message_stays_out_of_threads_unless_in_one():
    [direct] = slack.parse(slack_message_event("hi", channel_type="im", channel="D123")).messages
    assert direct.address == {"channel": "D123"}
    [threaded] = slack.parse(slack_message_event("hi", channel_type="im", channel="D123", thread_ts="1.5")).messages
    assert threaded.address == {"channel": "D123", "thread_ts": "1.5"}


def test_slack_handshake_and_ignored_events():
    assert slack.parse(slack_url_verification("abc")).challenge == "abc"
    ignored = [
        slack_message_event("echo", bot_id="B1", subtype="bot_message"),
        slack_message_event("edit", subtype="message_changed"),
        slack_message_event("me", user="U0BOT"),
        slack_message_event("<@U0BOT>"),  # a bare mention: nothing to answer
        {**slack_message_event("x"), "event": {"type": "reaction_added", "user": "U1", "reaction": "thumbsup"}},
        {"type": "app_rate_limited", "team_id": "T1"},
    ]
    for payload in ignored:
        result = slack.parse(payload)
        assert result.messages == () and result.ignored, payload


def test_whatsapp_text_and_statuses():
    [message] = whatsapp.parse(whatsapp_text("Does it come in another color?")).messages
    assert (message.sender, message.text) == ("16505551234", "Does it come in another color?")
    assert message.address["phone_number_id"] == "106540352242922" and message.address["to"] == "16505551234"
    status = whatsapp.parse(whatsapp_status())
    assert status.messages == () and "delivered" in status.ignored[0]
    image = whatsapp_text("x")
    image["entry"][0]["changes"][0]["value"]["messages"][0] = {"from": "1", "id": "wamid.2", "type": "image", "image": {"id": "9"}}
    assert whatsapp.parse(image).messages == ()


def test_messenger_text_echo_and_read():
    [message] = messenger.parse(messenger_message("hello, world!")).messages
    assert (message.sender, message.text, message.address) == ("6789012345678901", "hello, world!", {"recipient_id": "6789012345678901"})
    assert messenger.parse(messenger_message("ours", is_echo=True)).messages == ()
    assert messenger.parse({"object": "instagram", "entry": []}).messages == ()


def test_reply_text_names_its_source():
    source = Source("policies/returns.md", "Returns policy", "You have 30 days...", 1.0, ("Returns policy", "Return window"))
    assert reply_text(Reply("You have 30 days.", sources=(source,))) == "You have 30 days.\n\nSource: Returns policy › Return window"
    assert reply_text(Reply("Hi!")) == "Hi!"
    # A clarifying question already names each candidate's section on its own line.
    question = "I'm not sure which of these you mean:\n• You have 30 days. (Returns policy › Return window)\nWhich one is it?"
    assert reply_text(Reply(question, sources=(source, source), kind="clarify")) == question


def test_split_text_keeps_every_word_within_the_limit():
    text = " ".join(f"Sentence number {i} is here." for i in range(300))
    parts = split_text(text, 200)
    assert all(len(p) <= 200 for p in parts) and " ".join(parts) == text
    assert all(p.endswith(".") for p in parts)  # cut at sentence ends when there are any
    assert split_text("x" * 450, 200) == ["x" * 200, "x" * 200, "x" * 50]
    assert split_text("short", 200) == ["short"]
