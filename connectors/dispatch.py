"""From an accepted webhook delivery to a sent reply, in the background.

The platform is acknowledged as soon as the delivery is recorded (Slack wants an answer within 3 s;
every platform retries a slow webhook). Then, per delivery: the dialogue answers, the reply is
recorded, and the connector sends it. A send that fails is retried with backoff by a sweeper, across
restarts; a delivery the process never finished is answered at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Mapping, Sequence

from connectors.base import Connector, InboundMessage, reply_text, split_text
from connectors.deliveries import Delivery, DeliveryLog
from connectors.outbound import DeliveryFailed, PlatformClient
from core.errors import BadRequest, MessageTooLarge, TooManyRequests
from core.types import Exchange, Message

log = logging.getLogger(__name__)

TOO_LONG = (
    "Sorry, that message is too long for me to read ({length} characters; the limit is {limit}). "
    "Could you send the question on its own?"
)


class ChannelDispatcher:
    def __init__(
        self,
        handle: Callable[[Message], Awaitable[Exchange]],
        deliveries: DeliveryLog,
        client: PlatformClient,
        connectors: Sequence[Connector],
        *,
        retry_seconds: float = 30.0,
        max_attempts: int = 8,
        max_concurrent: int = 16,
        keep_days: float = 30.0,
        replay_limit: int = 100,
        replay_max_age_hours: float = 24.0,
        reply_window_hours: float = 24.0,
        dead_letter_probe_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.handle = handle
        self.deliveries = deliveries
        self.client = client
        self.connectors: Mapping[str, Connector] = {c.name: c for c in connectors}
        self.retry_seconds = retry_seconds
        self.max_attempts = max(1, max_attempts)
        self.keep_days = keep_days
        self.replay_limit = replay_limit
        self.replay_max_age_hours = replay_max_age_hours
        self.reply_window_hours = reply_window_hours
        self.dead_letter_probe_seconds = dead_letter_probe_seconds
        self.clock = clock
        self._last_probe = 0.0
        # Channels with dead letters waiting: a send that gets through there revives them.
        self._dead_channels: set[str] = set()
        self._limit = asyncio.Semaphore(max_concurrent)
        self._sender_locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        forgotten = await self.deliveries.forget_before(self.keep_days)
        if forgotten:
            log.info("forgot %d channel deliveries older than %g days", forgotten, self.keep_days)
        # Bounded: at most `replay_limit` deliveries, none older than the reply window. Each is answered
        # as the message it was (same message id), so its customer turn is not stored a second time.
        expired = await self.deliveries.expire_unanswered(self.replay_max_age_hours, self.replay_limit)
        if expired:
            log.warning("%d channel deliveries left unanswered by the last run were too old or too many to answer; "
                        "marked expired", expired)
        for delivery in await self.deliveries.unanswered():
            log.info("answering %s delivery %d left unanswered by the last run", delivery.channel, delivery.delivery_id)
            self._spawn(self._answer(delivery.delivery_id, delivery.channel, delivery.sender, delivery.text, delivery.address))
        await self.deliveries.reschedule_unsent(self.clock())
        self._dead_channels = await self.deliveries.dead_channels()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="channel-retry-sweeper")

    async def stop(self) -> None:
        """Unfinished work stays in the delivery log and is resumed by the next start."""
        tasks = [t for t in (self._sweeper, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sweeper = None

    async def drain(self) -> None:
        """Wait until every delivery accepted so far is answered and sent once (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ work

    async def accept(self, message: InboundMessage) -> bool:
        """Record the delivery and answer it in the background; False for a retry or a replay."""
        delivery_id = await self.deliveries.accept(message)
        if delivery_id is None:
            log.info("%s delivery %s seen before: not answered again", message.channel, message.delivery_keys[0])
            return False
        self._spawn(self._answer(delivery_id, message.channel, message.sender, message.text, message.address))
        return True

    def serves(self, channel: str) -> bool:
        return channel in self.connectors

    async def send_from_agent(self, channel: str, sender: str, text: str) -> int:
        """Send a person's message to a customer, at the address of the customer's last delivery."""
        delivery_id = await self.deliveries.outbound(channel, sender, text)
        delivery = await self.deliveries.get(delivery_id)
        self._spawn(self._send(delivery_id, channel, delivery.address, text, attempts=0))
        return delivery_id

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, delivery_id: int, channel: str, sender: str, text: str, address: dict) -> None:
        # One sender's messages are answered in the order they came; different senders in parallel.
        async with self._limit, self._sender_lock(channel, sender):
            try:
                exchange = await self.handle(Message(channel=channel, sender=sender, text=text,
                                                     message_id=delivery_message_id(delivery_id)))
            except TooManyRequests as exc:
                log.warning("%s delivery %d dropped: %s", channel, delivery_id, exc.message)
                await self.deliveries.finished(delivery_id, "dropped", exc.message)
                return
            except MessageTooLarge as exc:
                answer = TOO_LONG.format(**exc.details)
            except BadRequest as exc:
                await self.deliveries.finished(delivery_id, "dropped", exc.message)
                return
            except Exception:
                # The conversation store is unavailable (a full disk...): the delivery stays
                # `received` and is answered at the next start.
                log.exception("%s delivery %d could not be answered; kept for the next start", channel, delivery_id)
                return
            else:
                if exchange.reply.kind == "silent":
                    await self.deliveries.finished(delivery_id, "silent")  # a person has the conversation
                    return
                answer = reply_text(exchange.reply)
            await self.deliveries.answered(delivery_id, answer)
            await self._send(delivery_id, channel, address, answer, attempts=0)

    async def _send(self, delivery_id: int, channel: str, address: dict, text: str, attempts: int) -> None:
        connector = self.connectors.get(channel)
        if connector is None:
            await self.deliveries.finished(delivery_id, "failed", f"channel {channel} is not enabled")
            return
        try:
            for part in split_text(text, connector.text_limit):
                await connector.send(self.client, address, part)
        except DeliveryFailed as exc:
            attempts += 1
            if exc.retryable and attempts < self.max_attempts:
                delay = max(self.retry_seconds * 2 ** (attempts - 1), exc.retry_after or 0.0)
                await self.deliveries.send_failed(delivery_id, str(exc), self.clock() + delay)
                log.warning("%s delivery %d not sent (%s); retrying in %.0f s", channel, delivery_id, exc, delay)
            elif exc.retryable:
                # The platform is down, not refusing: a dead letter, sent when it answers again.
                await self.deliveries.finished(delivery_id, "dead", str(exc))
                if channel not in self._dead_channels:
                    self._last_probe = self.clock()  # the first probe comes a probe interval later
                self._dead_channels.add(channel)
                log.error("%s delivery %d not sent after %d attempts; kept as a dead letter: %s", channel, delivery_id, attempts, exc)
            else:
                await self.deliveries.finished(delivery_id, "failed", str(exc))
                log.error("%s delivery %d refused by the platform: %s", channel, delivery_id, exc)
            return
        except Exception as exc:  # a bug or a bad stored address: never retried in a loop
            log.exception("%s delivery %d could not be sent", channel, delivery_id)
            await self.deliveries.finished(delivery_id, "failed", f"{type(exc).__name__}: {exc}")
            return
        await self.deliveries.finished(delivery_id, "sent")
        if channel in self._dead_channels:
            await self._revive(channel)

    async def _revive(self, channel: str) -> None:
        self._dead_channels.discard(channel)
        revived, expired = await self.deliveries.revive(channel, self.reply_window_hours)
        if revived or expired:
            log.info("%s answers again: %d dead letter(s) due now, %d past the reply window expired", channel, revived, expired)

    async def _probe_dead_letters(self) -> None:
        """While dead letters wait, try the oldest of each channel again now and then: it getting
        through is how we learn the platform is back when no new message comes."""
        if not self._dead_channels or self.clock() - self._last_probe < self.dead_letter_probe_seconds:
            return
        self._last_probe = self.clock()
        for channel in list(self._dead_channels):
            letters = await self.deliveries.dead(channel, limit=1)
            if not letters:
                self._dead_channels.discard(channel)
                continue
            [oldest] = letters
            self._spawn(self._send(oldest.delivery_id, channel, oldest.address, oldest.reply or "", self.max_attempts - 1))

    async def _sweep_forever(self) -> None:
        interval = min(15.0, max(0.05, self.retry_seconds / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                for delivery in await self.deliveries.claim_due():
                    self._spawn(self._resend(delivery))
                await self._probe_dead_letters()
            except Exception:
                log.exception("channel retry sweep failed")

    async def _resend(self, delivery: Delivery) -> None:
        await self._send(delivery.delivery_id, delivery.channel, delivery.address, delivery.reply or "", delivery.attempts)

    def _sender_lock(self, channel: str, sender: str) -> "_SenderLock":
        return _SenderLock(self._sender_locks, (channel, sender))


def delivery_message_id(delivery_id: int) -> str:
    """The conversation store's message id of a channel delivery: a replay finds the turn it stored."""
    return f"delivery:{delivery_id}"


class _SenderLock:
    """An asyncio.Lock per sender that is forgotten once nobody holds or waits for it."""

    def __init__(self, locks: dict[tuple[str, str], tuple[asyncio.Lock, int]], key: tuple[str, str]) -> None:
        self.locks, self.key = locks, key

    async def __aenter__(self) -> None:
        lock, users = self.locks.get(self.key, (asyncio.Lock(), 0))
        self.locks[self.key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting
            self._leave()
            raise

    async def __aexit__(self, *exc) -> None:
        self.locks[self.key][0].release()
        self._leave()

    def _leave(self) -> None:
        lock, users = self.locks[self.key]
        if users == 1:
            del self.locks[self.key]
        else:
            self.locks[self.key] = (lock, users - 1)
