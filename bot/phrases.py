"""What the dialogue says: small talk, order and refund status, the questions it asks and its
apologies, in the customer's language where it has one.
"""

from __future__ import annotations

import re

from bot.backend import Order
from core.types import Reply
from knowledge_base.text import detect_language

# Whole-message patterns only: "Thanks! And how long do refunds take?" is a question, not small talk.
_END = r"[\s!.,~:)！。，]*$"

_GREETING = re.compile(r"^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening)|你好|您好|嗨)(\s+there)?" + _END, re.I)
_THANKS = re.compile(r"^\s*(thanks?|thank you|thx|ty|cheers|谢谢|多谢)(\s+(a lot|so much|very much|again))?" + _END, re.I)
_BYE = re.compile(r"^\s*(bye|goodbye|see you|再见)" + _END, re.I)

SMALL_TALK = {
    "greeting": {
        "en": "Hi! I'm the Northwind virtual assistant. Ask me about returns, shipping, payment, warranty or your account.",
        "zh": "您好！我是 Northwind 虚拟助手。您可以问我关于退货、配送、付款、保修或账户的问题。",
    },
    "thanks": {"en": "You're welcome! Is there anything else I can help with?", "zh": "不客气！还有什么可以帮您的吗？"},
    "bye": {"en": "Thanks for chatting. Have a great day!", "zh": "感谢您的咨询，祝您愉快！"},
}

TOO_SLOW = {
    "en": "Sorry, I'm answering a lot of customers right now and couldn't find that in time. Please ask again in a moment.",
    "zh": "抱歉，目前咨询的顾客较多，我没能及时找到答案。请稍后再问一次。",
}


def small_talk(text: str) -> Reply | None:
    language = detect_language(text)
    for kind, pattern in (("greeting", _GREETING), ("thanks", _THANKS), ("bye", _BYE)):
        if pattern.match(text) and len(text) < 60:
            return Reply(SMALL_TALK[kind].get(language, SMALL_TALK[kind]["en"]), confidence=1.0, kind="greeting")
    return None


def describe_order(order: Order) -> str:
    items = ", ".join(f"{i.quantity} × {i.title}" if i.quantity > 1 else i.title for i in order.items)
    if order.status == "processing":
        return f"Order {order.order_number} ({items}) was placed on {order.placed_on:%B %-d} and is being prepared; it hasn't shipped yet."
    if order.status == "shipped":
        eta = f" and should arrive by {order.estimated_delivery:%A, %B %-d}" if order.estimated_delivery else ""
        tracking = f" Tracking number: {order.tracking_number}." if order.tracking_number else ""
        return f"Order {order.order_number} ({items}) has shipped with {order.carrier or 'the carrier'}{eta}.{tracking}"
    if order.status == "delivered":
        when = f" on {order.delivered_on:%B %-d}" if order.delivered_on else ""
        return f"Order {order.order_number} ({items}) was delivered{when} to {order.ship_to or 'your address'}."
    if order.status == "cancelled":
        return f"Order {order.order_number} ({items}) was cancelled."
    return f"Order {order.order_number} is {order.status}."


def describe_refund(order: Order) -> str:
    if order.refund_status == "refunded":
        return f"The refund for order {order.order_number} has been issued to your original payment method."
    if order.refund_status == "return_started":
        return (f"A return is open for order {order.order_number}. The refund is issued once the item reaches us and "
                "passes inspection, usually within 3 business days of arrival.")
    return f"There's no refund open for order {order.order_number}. {describe_order(order)}"


ASK_ORDER = {
    "track_order": "Sure, I can check that. What's your order number? It's in your order confirmation e-mail.",
    "cancel_order": "I can help you cancel. What's the order number?",
    "get_refund": "I can start a refund for you. What's the order number?",
    "track_refund": "Let me look up your refund. What's the order number?",
}

OFFER_PERSON = {
    "en": " If you'd rather talk to a person, just say so and I'll pass you to our support team.",
    "zh": " 如果您希望与人工客服交谈，请告诉我，我会为您转接。",
}
