"""Calls to the platforms' APIs: one shared aiohttp session, a timeout on every call, and retries with
exponential backoff for what is worth retrying (timeouts, connection errors, 429 and 5xx)."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Awaitable, Callable, Mapping

import aiohttp

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """A platform call did not go through. `retryable` says whether sending again later may work
    (the platform was down or slow) or not (a bad token, a chat that blocked the bot)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class PlatformClient:
    """`post_json(name, url, payload)` returns the platform's JSON answer or raises DeliveryFailed.
    `name` ("telegram sendMessage") is what logs and errors show: URLs can carry tokens."""

    def __init__(
        self,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=64),
                headers={"User-Agent": "storebot"},
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_json(self, name: str, url: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Any:
        if self._session is None:
            raise DeliveryFailed(f"{name}: the platform client is not open", retryable=True)
        failure: DeliveryFailed | None = None
        for attempt in range(self.attempts):
            try:
                async with self._session.post(url, json=payload, headers=headers) as response:
                    body = await _read_body(response)
                    if response.status < 400:
                        return body
                    failure = DeliveryFailed(
                        f"{name}: HTTP {response.status} {_describe(body)}",
                        retryable=response.status == 429 or response.status >= 500,
                        retry_after=_retry_after(response.headers, body),
                        status=response.status,
                    )
            except asyncio.TimeoutError:
                failure = DeliveryFailed(f"{name}: no answer within {self.timeout:g} s", retryable=True)
            except aiohttp.ClientError as exc:
                failure = DeliveryFailed(f"{name}: {type(exc).__name__}: {exc}", retryable=True)
            if not failure.retryable or attempt == self.attempts - 1:
                break
            if failure.retry_after is not None and failure.retry_after > self.max_backoff:
                break  # a long pause is the caller's to schedule, not a task sleeping here
            delay = min(self.max_backoff, self.backoff * 2**attempt) * (1 + 0.1 * random.random())
            delay = max(delay, failure.retry_after or 0.0)
            log.info("%s; retrying in %.1f s", failure, delay)
            await self._sleep(delay)
        assert failure is not None
        raise failure


async def _read_body(response: aiohttp.ClientResponse) -> Any:
    raw = await response.read()
    try:
        return await response.json(content_type=None) if raw else None
    except ValueError:
        return raw[:300].decode("utf-8", "replace")


def _describe(body: Any) -> str:
    if isinstance(body, dict):
        # Telegram: {"ok": false, "description"}; Slack: {"ok": false, "error"}; Graph: {"error": {"message"}}.
        error = body.get("description") or body.get("error") or body
        if isinstance(error, dict):
            error = error.get("message") or error
        return str(error)[:300]
    return str(body)[:300]


def _retry_after(headers: Mapping[str, str], body: Any) -> float | None:
    value: Any = headers.get("Retry-After")
    if value is None and isinstance(body, dict) and isinstance(body.get("parameters"), dict):
        value = body["parameters"].get("retry_after")  # Telegram puts it in the body
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
