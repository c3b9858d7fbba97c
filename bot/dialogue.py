"""One customer message in, one reply out: validate, store, understand, act, store.

Routing, in order: a person owns the conversation (stay silent) → a question the bot asked is being
answered (an order number, an e-mail, a yes/no) → small talk → a prompt attack (refused politely) →
a confident intent with its action (orders, refunds, a person) → a shopping request (product
suggestions) → the knowledge base, which also takes everything unsure. A reply that is not an answer
to the bot's question gives way to a new request: a confident other intent, or a question of the
customer's own or words in another language than the question's (bot.customer_text).

Every fixed text is sent in the language of the customer's message (English or Chinese; bot.phrases,
core.wording); a message without words of its own ("12345") takes the language of the question.

With a writer (answering.writing.DialogueWriter), knowledge-base answers are phrased by the generator and
"not found" replies are written by the fine-tuned LM, each checked before it is sent; `on_delta`
receives the checked text as it is generated (the widget's WebSocket streams it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Literal

from answering.grounding import REFUSALS, prompt_attack
from answering.writing import DialogueWriter, Shopping
from bot.backend import Order, StoreBackend
from bot.customer_text import is_no, is_question, is_yes, language_of
from bot.entities import Entities, extract
from bot.follow_ups import in_context, resolve_follow_up, supports
from bot.phrases import (ASK_AGAIN, ASK_EMAIL, ASK_ORDER, KEPT, NOT_FOUND, OFFER_PERSON, TOO_SLOW, confirm_cancel, describe_order,
                         describe_outcome, describe_refund, policy_question, small_talk)
from core.budget import Deadline, ReplyBudgets
from core.errors import AnswerTimeout, BotError
from core.limits import Limiter, MemoryLimiter, RateLimiter, Rule
from core.ports import ConversationStore
from core.redact import mask_cards
from core.slots import PendingQuestion, Slots
from core.types import Exchange, Message, Reply, utcnow
from core.wording import clean_text, handoff_text, in_language, sorry
from knowledge_base.text import detect_language

log = logging.getLogger(__name__)


ORDER_ACTIONS = ("track_order", "cancel_order", "get_refund", "track_refund")
HANDOFF_INTENTS = ("contact_human_agent",)
_ANGER = re.compile(
    r"\b(angry|furious|livid|outraged|disgusted|ridiculous|unacceptable|outrageous|useless|worst|terrible|awful|horrible|"
    r"pathetic|scam|fraud|rip-?off|sick of|fed up|fuck\w*|shit\w*|damn|crap|bloody|lawyer|sue you)\b|!!",
    re.I,
)
_SHOUTED_WORD = re.compile(r"\b[A-Z]{4,}\b")  # case-sensitive on purpose: shouting
# Chinese has no word boundaries for \b; these are matched anywhere (Simplified and Traditional).
_ANGER_ZH = re.compile(r"气死|氣死|太差|差劲|差勁|垃圾|骗子|騙子|骗人|騙人|坑人|受够|受夠|恶心|噁心|无语|無語|离谱|離譜|"
                       r"忍无可忍|忍無可忍|投诉到底|投訴到底|没完|沒完|起诉|起訴|律师|律師|妈的|媽的|！！|!！|！!")


@dataclass(frozen=True, slots=True)
class DialoguePolicy:
    # Below this probability an intent is not acted on; the knowledge base takes the message.
    # Calibrated on held-out Bitext (0.4% of its messages fall below) and SQuAD questions (98.8% do).
    intent_threshold: float = 0.5
    # Consecutive unanswered questions before a person is brought in.
    handoff_after_failures: int = 2
    # Wrong e-mail/order pairs before the bot stops checking and offers a person.
    max_verification_attempts: int = 3
    # Slots (order number, proof of identity, pending questions) are forgotten after this much silence.
    session_idle: timedelta = timedelta(minutes=30)
    # Appended to every handoff message, so customers know when to expect a person.
    support_hours: str = ""
    # Wrong e-mails per order (whoever sends them) before the order is locked for the rest of the window.
    order_proof_failures: int = 5
    order_proof_window: timedelta = timedelta(hours=1)

    @property
    def order_proof_rule(self) -> Rule:
        return Rule.per_window(self.order_proof_failures, self.order_proof_window.total_seconds())


@dataclass(frozen=True, slots=True)
class Understanding:
    intent: str | None
    confidence: float
    entities: Entities = field(default_factory=Entities)


def is_angry(text: str) -> bool:
    return bool(_ANGER.search(text) or _ANGER_ZH.search(text)) or len(_SHOUTED_WORD.findall(text)) >= 2


class DialogueService:
    def __init__(
        self,
        store: ConversationStore,
        answer: Callable[[str], Awaitable[Reply]],
        *,
        understand: Callable[[str], Awaitable[Understanding]] | None = None,
        backend: StoreBackend | None = None,
        policy: DialoguePolicy | None = None,
        limiter: RateLimiter | None = None,
        client_limiter: RateLimiter | None = None,
        limits: Limiter | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_message_chars: int = 2000,
        writer: DialogueWriter | None = None,  # phrased answers and written fallbacks
        shopping: Shopping | None = None,  # product suggestions
        budgets: ReplyBudgets | None = None,
    ) -> None:
        self.store = store
        self.answer = answer
        self.understand = understand
        self.backend = backend
        self.policy = policy or DialoguePolicy()
        self.limiter = limiter  # per conversation key (channel, sender)
        self.client_limiter = client_limiter  # per client address, whatever sender it claims
        self.limits = limits if limits is not None else MemoryLimiter()  # ownership proofs per order
        self.clock = clock
        self.max_message_chars = max_message_chars
        self.writer = writer
        self.shopping = shopping
        self.budgets = budgets or ReplyBudgets()

    async def handle(self, message: Message, on_delta: Callable[[str], Awaitable[None]] | None = None,
                     deadline: Deadline | None = None) -> Exchange:
        """`on_delta`: called with each piece of a generated reply's text as it is written (checked so
        far); the returned Reply's text is what to show in the end. `deadline`: when the reply is due
        (default: the channel's budget); stages that would miss it are skipped or abandoned."""
        deadline = deadline or self.budgets.for_channel(message.channel)
        text = clean_text(message.text, self.max_message_chars)
        # Before anything is stored: the client is told to retry, so nothing is lost.
        if self.client_limiter is not None and message.client:
            self.client_limiter.check(message.client)
        if self.limiter is not None:
            self.limiter.check((message.channel, message.sender))
        text = mask_cards(text)  # a card number typed by a customer is never stored or logged
        message = dataclasses.replace(message, text=text)
        conversation = await self.store.conversation_for(message.channel, message.sender)
        seen = await self.store.find_message(conversation.conversation_id, message.message_id) if message.message_id else None
        if seen is not None and seen[1] is not None:
            # The same message again (a client's retry, a replayed delivery): the stored reply, nothing new stored.
            return Exchange(conversation, Reply.from_stored(seen[1].text, seen[1].payload))
        if seen is not None:
            turn = seen[0]  # stored by a run that stopped before answering: answered now, not stored again
        else:
            # The customer's words are committed before any model runs: a crash loses no message.
            turn = await self.store.append(conversation.conversation_id, "customer", text, {"channel": message.channel},
                                           message_id=message.message_id)
        if conversation.owner == "human":
            # A person has this conversation: the message is kept for them and the bot says nothing.
            return Exchange(conversation, Reply("", kind="silent", metadata={"handoff": {"owner": "human"}}))
        slots = conversation.slots.copy()
        idle_since = conversation.updated_at or conversation.created_at
        if slots != Slots() and self.clock() - idle_since > self.policy.session_idle:
            slots = Slots()
        # Every fixed text is sent in the customer's language; words without one ("12345", an e-mail
        # address) are in the language of the question they answer.
        language = language_of(text, slots.pending.language if slots.pending else "en")
        try:
            reply = await self._route(message, text, slots, on_delta, deadline, language)
        except AnswerTimeout as exc:
            log.warning("no answer within the reply's budget (%s)", exc.message)
            reply = Reply(in_language(TOO_SLOW, language), kind="error", metadata={"route": "timeout"})
        except BotError as exc:
            if exc.http_status >= 500 and exc.http_status != 503:
                log.error("answering failed: %s", exc.message)
            reply = Reply(sorry(language) if exc.http_status != 503 else exc.message, kind="error")
        except Exception:
            log.exception("answering failed")
            reply = Reply(sorry(language), kind="error")
        if reply.kind == "handoff":
            conversation = await self.store.set_owner(conversation.conversation_id, "human", reply.metadata["handoff"]["reason"])
        # The reply and what the bot now remembers are committed together.
        await self.store.append(conversation.conversation_id, "bot", reply.text, reply.custom(),
                                slots=slots if slots != conversation.slots else None, in_reply_to=turn.turn_id)
        return Exchange(conversation, reply)

    # ------------------------------------------------------------------ routing

    async def _route(self, message: Message, text: str, slots: Slots, on_delta=None,
                     deadline: Deadline | None = None, language: str = "en") -> Reply:
        understanding = await self._understand(text)
        entities = understanding.entities
        if entities.destinations:
            slots.destination = entities.destinations[0]

        pending = slots.pending
        if pending:
            reply = await self._continue(message, text, slots, pending, understanding, language)
            if reply is not None:
                return reply.with_text_metadata({"route": "slot_filling"})

        reply = small_talk(text)
        if reply is not None:
            return reply.with_text_metadata({"route": "small_talk"})
        attack = prompt_attack(text)
        if attack:
            # Asked for the bot's instructions, other customers' data or an invented discount: no model
            # sees it; the refusal is polite and says what the bot can do instead.
            return Reply(REFUSALS[attack], confidence=1.0, kind="refusal", metadata={"route": "refusal", "attack": attack})

        intent = understanding.intent if understanding.confidence >= self.policy.intent_threshold else None
        tagged = {"intent": {"name": understanding.intent, "confidence": round(understanding.confidence, 4)}} if understanding.intent else {}
        if intent in HANDOFF_INTENTS:
            return self._handoff("contact_human_agent", slots, {**tagged, "route": "handoff"}, language)
        if intent == "complaint" and is_angry(text):
            return self._handoff("angry_complaint", slots, {**tagged, "route": "handoff"}, language)
        if intent in ORDER_ACTIONS and self.backend is not None:
            if entities.order_number:
                slots.order_number = entities.order_number
            reply = await self._order_action(message, intent, slots, entities, language)
            return reply.with_text_metadata({**tagged, "route": reply.metadata.get("route", "order_action")})
        if self.shopping is not None and self.shopping.is_request(text):
            reply = await self.shopping.suggest(text, slots, on_delta, deadline)
            return reply.with_text_metadata({**tagged, "route": "recommendation"})
        # Policy intents (delivery_options, check_refund_policy, ...) and everything unsure.
        reply = await self._knowledge(text, slots, entities, on_delta, deadline, language)
        return reply.with_text_metadata({**tagged, "route": reply.metadata.get("route", "knowledge_question")})

    async def _understand(self, text: str) -> Understanding:
        entities = extract(text)
        if self.understand is None:
            return Understanding(None, 0.0, entities)
        understood = await self.understand(text)
        return Understanding(understood.intent, understood.confidence, entities)

    async def _continue(self, message: Message, text: str, slots: Slots, pending: PendingQuestion,
                        understanding: Understanding, language: str = "en") -> Reply | None:
        """The bot asked for something last turn; use this message as the answer if it is one."""
        entities = understanding.entities
        action, need = pending.action, pending.need
        if need == "confirm":
            if is_yes(text):
                slots.pending = None
                return await self._order_action(message, action, slots, entities, language, confirmed=True)
            if is_no(text):
                slots.pending = None
                return Reply(in_language(KEPT, language).format(number=pending.order_number), confidence=1.0, kind="order")
        elif need == "order_number" and entities.order_number:
            slots.order_number = entities.order_number
            slots.pending = None
            return await self._order_action(message, action, slots, entities, language)
        elif need == "email" and entities.email:
            slots.pending = None
            slots.order_number = pending.order_number or slots.order_number
            return await self._order_action(message, action, slots, entities, language)
        # Not an answer to the question. A new, confident request replaces it; otherwise ask again, once.
        if understanding.intent and understanding.confidence >= self.policy.intent_threshold and understanding.intent != action:
            slots.pending = None
            return None
        if small_talk(text) is not None:
            return None
        # A question of the customer's own, or words in another language than the question was asked in,
        # with no order number, e-mail or yes/no in them: a new request ("你们支持哪些付款方式？"), routed as any.
        answers = entities.order_number or entities.email or is_yes(text) or is_no(text)
        if not answers and (language != pending.language or is_question(text)):
            slots.pending = None
            return None
        if pending.asked >= 2:
            slots.pending = None
            return None
        slots.pending = dataclasses.replace(pending, asked=pending.asked + 1, language=language)
        return Reply(in_language(ASK_AGAIN[need], language).format(number=pending.order_number), kind="ask", confidence=1.0)

    async def _order_action(self, message: Message, action: str, slots: Slots, entities: Entities,
                            language: str = "en", confirmed: bool = False) -> Reply:
        assert self.backend is not None
        number = entities.order_number or slots.order_number
        if not number:
            slots.pending = PendingQuestion("order_number", action, language=language)
            return Reply(in_language(ASK_ORDER[action], language), kind="ask", confidence=1.0)
        order = await self.backend.find_order(number)
        proof = await self._owns(message, order, number, slots, entities)
        if proof == "locked":
            log.warning("order %s is locked after %d wrong e-mail addresses", number, self.policy.order_proof_failures)
            slots.pending = None
            slots.order_number = None
            return self._handoff("order_locked", slots, {}, language)
        if proof != "yes":
            if proof == "wrong":
                # Same words for "no such order" and "not your order": nobody learns which numbers exist.
                attempts = slots.verification_failures + 1
                slots.verification_failures = attempts
                slots.order_number = None
                if attempts >= self.policy.max_verification_attempts:
                    slots.pending = None
                    return self._handoff("verification_failed", slots, {}, language)
                slots.pending = PendingQuestion("order_number", action, language=language)
                return Reply(in_language(NOT_FOUND, language).format(number=number), kind="ask", confidence=1.0)
            slots.pending = PendingQuestion("email", action, number, language=language)
            return Reply(in_language(ASK_EMAIL, language).format(number=number), kind="ask", confidence=1.0)
        assert order is not None
        slots.order_number = number
        slots.verification_failures = 0
        if action == "track_order":
            return Reply(describe_order(order, language), kind="order", confidence=1.0)
        if action == "track_refund":
            return Reply(describe_refund(order, language), kind="order", confidence=1.0)
        if action == "cancel_order" and not confirmed and order.status == "processing":
            slots.pending = PendingQuestion("confirm", action, number, language=language)
            return Reply(confirm_cancel(order, language), kind="ask", confidence=1.0)
        outcome = await (self.backend.cancel_order(number) if action == "cancel_order" else self.backend.start_refund(number, message.text))
        told = describe_outcome(outcome, language)
        reply = Reply(told, kind="order", confidence=1.0)
        if outcome.policy_question:
            # Cite the rule the action followed, from the store's own policy documents (in the reply's language).
            policy = await self.answer(policy_question(outcome.policy_question, language))
            if policy.kind == "answer" and policy.sources and (language == "en" or detect_language(policy.text) == language):
                reply = Reply(f"{told}\n\n{policy.text}", policy.sources, 1.0, "order")
        return reply

    async def _owns(self, message: Message, order: Order | None, number: str, slots: Slots,
                    entities: Entities) -> Literal["yes", "ask", "wrong", "locked"]:
        """Order details only for its owner: a verified channel identity linked to the order's account
        (a platform's user, an authenticated integration's sender), or the order number together with
        the order's e-mail address (remembered for the conversation, except for anonymous senders, who
        prove it each time). Wrong e-mails count against the order itself, whichever sender or
        session sends them: past the policy's limit the order is locked for the rest of the window."""
        assert self.backend is not None
        owner = order.customer_email.lower() if order is not None else None
        if owner and slots.verified_email == owner and message.trust != "anonymous":
            return "yes"
        if owner and message.trust == "verified" and await self.backend.linked_customer(message.channel, message.sender) == owner:
            return "yes"
        rule, key = self.policy.order_proof_rule, f"order-proof:{number}"
        if self.limits.blocked(key, rule) is not None:
            return "locked"
        if not entities.email:
            return "ask"
        if owner and entities.email == owner:
            if message.trust != "anonymous":
                slots.verified_email = owner
            return "yes"
        # "No such order" counts too: guessing numbers is as much an attack as guessing e-mails.
        self.limits.take(key, rule)
        return "locked" if self.limits.blocked(key, rule) is not None else "wrong"

    async def _knowledge(self, text: str, slots: Slots, entities: Entities, on_delta=None,
                         deadline: Deadline | None = None, language: str = "en") -> Reply:
        question = resolve_follow_up(text, slots, entities)
        contextual = in_context(text, slots) if question == text else None
        if contextual is None:
            reply = await self._answer_within(question, deadline)
        else:
            # Both readings of "what if I paid with PayPal?" are asked; the surer answer wins.
            alone, leaning = await asyncio.gather(self._answer_within(question, deadline), self._answer_within(contextual, deadline))
            reply = alone
            if leaning.kind == "answer" and (alone.kind != "answer" or leaning.confidence > alone.confidence) and supports(leaning, text):
                reply, question = leaning, contextual
        if reply.kind == "answer" and self.writer is not None:
            reply = await self.writer.answer(question, reply, on_delta, deadline)
        slots.last_question = question
        if entities.destinations or slots.destination:
            slots.last_destination = entities.destinations[0] if entities.destinations else slots.destination
        if reply.kind == "not_sure":
            failures = slots.failures + 1
            slots.failures = failures
            if failures >= self.policy.handoff_after_failures:
                return self._handoff("repeated_failure", slots, {}, language)
            written = await self.writer.fallback(question, reply, on_delta, deadline) if self.writer is not None else None
            # A written fallback has passed check_fallback: it says so honestly and offers a person itself.
            reply = written or reply.with_text(reply.text + in_language(OFFER_PERSON, language))
        elif reply.kind == "answer":
            slots.failures = 0
        if question != text:
            reply = reply.with_text(reply.text, resolved_question=question)
        return reply

    async def _answer_within(self, question: str, deadline: Deadline | None) -> Reply:
        """The knowledge base's answer, or AnswerTimeout when it is not ready by the deadline (the
        queued work is dropped: a batcher skips a caller that stopped waiting)."""
        if deadline is None:
            return await self.answer(question)
        try:
            return await asyncio.wait_for(self.answer(question), max(0.0, deadline.remaining()))
        except asyncio.TimeoutError:
            raise AnswerTimeout("retrieval did not finish before the reply's deadline") from None

    def _handoff(self, reason: str, slots: Slots, extra: dict[str, Any], language: str = "en") -> Reply:
        slots.pending = None
        slots.failures = 0
        return Reply(handoff_text(reason, self.policy.support_hours, language), confidence=1.0, kind="handoff",
                     metadata={**extra, "route": "handoff", "handoff": {"reason": reason, "owner": "human"}})
