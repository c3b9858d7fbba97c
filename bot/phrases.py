"""What the dialogue says: small talk, order and refund status, the questions it asks and its
apologies, in the customer's language where it has one: each table holds the English text ("en") and
the Simplified Chinese one ("zh"), and a language without a text gets the English one.
"""

from __future__ import annotations

import re
from datetime import date

from bot.backend import RETURN_WINDOW_DAYS, ActionOutcome, Order
from core.types import Reply
from core.wording import in_language
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


_WEEKDAYS_ZH = "一二三四五六日"


def _items(order: Order, language: str) -> str:
    if language == "zh":
        return "、".join(f"{i.title} × {i.quantity}" if i.quantity > 1 else i.title for i in order.items)
    return ", ".join(f"{i.quantity} × {i.title}" if i.quantity > 1 else i.title for i in order.items)


def _day_zh(day: date) -> str:
    return f"{day.month}月{day.day}日"


def describe_order(order: Order, language: str = "en") -> str:
    if language == "zh":
        return _describe_order_zh(order)
    items = _items(order, "en")
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


def _describe_order_zh(order: Order) -> str:
    number, items = order.order_number, _items(order, "zh")
    if order.status == "processing":
        return f"订单 {number}（{items}）于{_day_zh(order.placed_on)}下单，目前正在备货，尚未发货。"
    if order.status == "shipped":
        carrier = f"已由 {order.carrier} 发货" if order.carrier else "已发货"
        day = order.estimated_delivery
        eta = f"，预计{_day_zh(day)}（星期{_WEEKDAYS_ZH[day.weekday()]}）前送达" if day else ""
        tracking = f"物流单号：{order.tracking_number}。" if order.tracking_number else ""
        return f"订单 {number}（{items}）{carrier}{eta}。{tracking}"
    if order.status == "delivered":
        when = f"于{_day_zh(order.delivered_on)}" if order.delivered_on else ""
        return f"订单 {number}（{items}）已{when}送达{order.ship_to or '您的收货地址'}。"
    if order.status == "cancelled":
        return f"订单 {number}（{items}）已取消。"
    return f"订单 {number} 的状态：{order.status}。"


REFUND_STATUS = {
    "refunded": {
        "en": "The refund for order {number} has been issued to your original payment method.",
        "zh": "订单 {number} 的退款已退回您的原支付方式。",
    },
    "return_started": {
        "en": "A return is open for order {number}. The refund is issued once the item reaches us and "
              "passes inspection, usually within 3 business days of arrival.",
        "zh": "订单 {number} 的退货正在处理中。商品寄回并通过检验后即会退款，通常在到货后 3 个工作日内完成。",
    },
    "": {"en": "There's no refund open for order {number}. {order}", "zh": "订单 {number} 目前没有进行中的退款。{order}"},
}


def describe_refund(order: Order, language: str = "en") -> str:
    table = REFUND_STATUS.get(order.refund_status, REFUND_STATUS[""])
    return in_language(table, language).format(number=order.order_number, order=describe_order(order, language))


ASK_ORDER = {
    "track_order": {
        "en": "Sure, I can check that. What's your order number? It's in your order confirmation e-mail.",
        "zh": "好的，我来帮您查询。请问您的订单号是多少？订单号可以在订单确认邮件中找到。",
    },
    "cancel_order": {"en": "I can help you cancel. What's the order number?", "zh": "我可以帮您取消订单。请问订单号是多少？"},
    "get_refund": {"en": "I can start a refund for you. What's the order number?", "zh": "我可以为您办理退款。请问订单号是多少？"},
    "track_refund": {"en": "Let me look up your refund. What's the order number?", "zh": "我来帮您查询退款进度。请问订单号是多少？"},
}
ASK_EMAIL = {
    "en": "To keep your orders private, please tell me the e-mail address you used for order {number}.",
    "zh": "为了保护您的订单隐私，请告诉我您下订单 {number} 时使用的邮箱地址。",
}
NOT_FOUND = {
    "en": "I couldn't find an order {number} for that e-mail address. Please check the order number and "
          "the e-mail in your order confirmation, then send me the order number again.",
    "zh": "我没有找到与该邮箱地址对应的订单 {number}。请核对订单确认邮件中的订单号和邮箱地址，然后把订单号再发给我。",
}
CONFIRM_CANCEL = {
    "en": "Order {number} ({items}, ${total:.2f}) hasn't shipped yet, so it can be cancelled. Shall I cancel it? Please answer yes or no.",
    "zh": "订单 {number}（{items}，${total:.2f}）尚未发货，可以取消。要为您取消这个订单吗？请回答“是”或“否”。",
}
KEPT = {"en": "OK, I've left order {number} as it is.", "zh": "好的，订单 {number} 保持不变，没有取消。"}
# Asked again when the reply was not an answer, by what the bot is waiting for.
ASK_AGAIN = {
    "order_number": {
        "en": "I need the order number to look that up. It's the number in your order confirmation e-mail, for example 12345.",
        "zh": "我需要订单号才能为您查询。订单号在您的订单确认邮件中，例如 12345。",
    },
    "email": {
        "en": "Please type the e-mail address you used for order {number}, so I can check it's yours.",
        "zh": "请输入您下订单 {number} 时使用的邮箱地址，以便我确认这是您的订单。",
    },
    "confirm": {"en": "Please answer yes or no: cancel order {number}?", "zh": "请回答“是”或“否”：要取消订单 {number} 吗？"},
}

OFFER_PERSON = {
    "en": " If you'd rather talk to a person, just say so and I'll pass you to our support team.",
    "zh": " 如果您希望与人工客服交谈，请告诉我，我会为您转接。",
}


def confirm_cancel(order: Order, language: str = "en") -> str:
    titles = ("、" if language == "zh" else ", ").join(i.title for i in order.items)
    return in_language(CONFIRM_CANCEL, language).format(number=order.order_number, items=titles, total=order.total)


# What an order action did (bot.backend.ActionOutcome.reason), for languages other than the back end's
# English; an outcome without a reason, or one not listed here, is told in the back end's own words.
OUTCOMES_ZH = {
    "cancelled": "已完成：订单 {number} 已取消。您支付的 ${total:.2f} 将退回您的原支付方式。",
    "already_cancelled": "订单 {number} 已经取消了。",
    "already_shipped": "订单 {number} 已经发货，无法再取消。包裹送达后，您可以办理退货。",
    "already_delivered": "订单 {number} 已经送达，无法再取消。您可以办理退货。",
    "already_refunded": "订单 {number} 已经退款。",
    "return_in_progress": "订单 {number} 已有一个正在处理的退货申请。",
    "nothing_to_refund": "订单 {number} 已取消，没有需要退款的费用。",
    "not_delivered": "订单 {number} 尚未送达。到货后您可以退货并获得退款；如果您不想收货，我可以帮您看看这个订单是否还能取消。",
    "outside_window": "订单 {number} 的送达时间已超过 {window} 天的退货期限，因此我无法在这里为您办理退款。",
    "return_started": "已为订单 {number} 办理退货。我们会通过邮件向您发送预付费退货标签；商品寄回并通过检验后，将为您退款 ${total:.2f}。",
}
# The back end's policy questions, asked in Chinese so that a Chinese reply cites a Chinese policy.
POLICY_QUESTIONS_ZH = {
    "Can I cancel my order after it has shipped?": "订单发货后还能取消吗？",
    "How long does a refund take to appear after a cancellation?": "取消订单后，退款多久能到账？",
    "How long do refunds take?": "退款需要多长时间？",
    "How many days do I have to return an item?": "退货期限是多少天？",
    "When is my refund processed?": "退款什么时候处理？",
}


def describe_outcome(outcome: ActionOutcome, language: str = "en") -> str:
    text = OUTCOMES_ZH.get(outcome.reason) if language == "zh" else None
    if text is None:
        return outcome.message
    return text.format(number=outcome.order.order_number, total=outcome.order.total, window=RETURN_WINDOW_DAYS)


def policy_question(question: str, language: str = "en") -> str:
    return POLICY_QUESTIONS_ZH.get(question, question) if language == "zh" else question
