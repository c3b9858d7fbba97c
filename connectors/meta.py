"""Meta's two messaging platforms, one webhook scheme: the WhatsApp Cloud API and Messenger.

Both verify the webhook with a GET handshake (hub.mode, hub.verify_token, hub.challenge) and sign
every POST with X-Hub-Signature-256 over the raw body; replies go out through the Graph API.
"""

from __future__ import annotations

from typing import Any, Mapping

from connectors.base import InboundMessage, WebhookResult
from connectors.outbound import PlatformClient
from connectors.signatures import MetaSignatureVerifier, verify_subscription
from core.errors import BadRequest


def _entries(payload: dict[str, Any]) -> list[dict[str, Any]]:
    entries = payload.get("entry")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadRequest("body.entry must be a list of objects")
    return entries


def _objects(container: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    items = container.get(key) or []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


class _MetaConnector:
    expected_object = ""

    def __init__(self, app_secret: str, verify_token: str, access_token: str, graph_url: str) -> None:
        self.verifier = MetaSignatureVerifier(app_secret)
        self._verify_token = verify_token
        self._access_token = access_token
        self._graph_url = graph_url.rstrip("/")

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        self.verifier.verify(headers, body)

    def verify_subscription(self, query: Mapping[str, str]) -> str:
        return verify_subscription(query, self._verify_token)

    def parse(self, payload: dict[str, Any]) -> WebhookResult:
        if payload.get("object") != self.expected_object:
            return WebhookResult(ignored=(f"object {payload.get('object')!r}",))
        messages: list[InboundMessage] = []
        ignored: list[str] = []
        for entry in _entries(payload):
            self._read_entry(entry, messages, ignored)
        return WebhookResult(messages=tuple(messages), ignored=tuple(ignored))

    def _read_entry(self, entry: dict[str, Any], messages: list[InboundMessage], ignored: list[str]) -> None:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        # In a header, not the ?access_token= query string: URLs end up in logs.
        return {"Authorization": f"Bearer {self._access_token}"}


class WhatsAppConnector(_MetaConnector):
    name = "whatsapp"
    path = "/webhooks/whatsapp"
    text_limit = 4096
    expected_object = "whatsapp_business_account"

    def _read_entry(self, entry: dict[str, Any], messages: list[InboundMessage], ignored: list[str]) -> None:
        for change in _objects(entry, "changes"):
            value = change.get("value") if isinstance(change.get("value"), dict) else {}
            if change.get("field") != "messages":
                ignored.append(f"field {change.get('field')!r}")
                continue
            phone_number_id = (value.get("metadata") or {}).get("phone_number_id")
            ignored.extend(f"status {s.get('status')!r} of {s.get('id')}" for s in _objects(value, "statuses"))
            for message in _objects(value, "messages"):
                if message.get("type") != "text":
                    ignored.append(f"{message.get('type')!r} message {message.get('id')}")
                    continue
                text = (message.get("text") or {}).get("body") if isinstance(message.get("text"), dict) else None
                wa_id, message_id = message.get("from"), message.get("id")
                if not (isinstance(text, str) and isinstance(wa_id, str) and isinstance(message_id, str) and phone_number_id):
                    raise BadRequest("a WhatsApp text message needs from, id, text.body and metadata.phone_number_id")
                if not text.strip():
                    continue
                address = {"phone_number_id": str(phone_number_id), "to": wa_id, "message_id": message_id}
                messages.append(InboundMessage(self.name, wa_id, text, (f"message:{message_id}",), address))

    async def send(self, client: PlatformClient, address: Mapping[str, Any], text: str) -> None:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": address["to"],
            "type": "text",
            "text": {"preview_url": False, "body": text},
        }
        url = f"{self._graph_url}/{address['phone_number_id']}/messages"
        await client.post_json("whatsapp messages", url, payload, headers=self._headers())


class MessengerConnector(_MetaConnector):
    name = "messenger"
    path = "/webhooks/messenger"
    text_limit = 2000
    expected_object = "page"

    def _read_entry(self, entry: dict[str, Any], messages: list[InboundMessage], ignored: list[str]) -> None:
        for event in _objects(entry, "messaging"):
            message = event.get("message")
            if not isinstance(message, dict):
                # delivery, read, postback, reaction...: not a customer's words.
                ignored.append("event " + ", ".join(k for k in event if k not in ("sender", "recipient", "timestamp")))
                continue
            if message.get("is_echo"):
                ignored.append(f"echo of the page's own message {message.get('mid')}")
                continue
            text = message.get("text")
            if not isinstance(text, str) or not text.strip():
                ignored.append(f"message {message.get('mid')} has no text")
                continue
            psid = (event.get("sender") or {}).get("id") if isinstance(event.get("sender"), dict) else None
            mid = message.get("mid")
            if not (isinstance(psid, str) and isinstance(mid, str)):
                raise BadRequest("a Messenger message needs sender.id and message.mid")
            messages.append(InboundMessage(self.name, psid, text, (f"message:{mid}",), {"recipient_id": psid}))

    async def send(self, client: PlatformClient, address: Mapping[str, Any], text: str) -> None:
        payload = {"recipient": {"id": address["recipient_id"]}, "messaging_type": "RESPONSE", "message": {"text": text}}
        await client.post_json("messenger send", f"{self._graph_url}/me/messages", payload, headers=self._headers())
