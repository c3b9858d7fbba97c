"""What must not be kept or logged as typed: card numbers are masked before a message is stored
or logged; e-mail addresses, phone numbers and credentials are redacted from every log line.

Card numbers: 13 to 19 digits, optionally grouped by spaces or dashes, that pass the Luhn check
(so an order number or a phone number is left alone); the last four digits stay, as on a receipt.
"""

from __future__ import annotations

import logging
import re

_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# International or grouped phone numbers: "+1 415 555 0100", "(415) 555-0100", "415-555-0100".
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?!\w)")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_KEYED_CREDENTIAL = re.compile(r"(?i)\b(authorization|token|session|secret|password|api[_-]?key)([\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]+)")
MAX_LOG_CHARS = 2000


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_cards(text: str) -> str:
    """`text` with every card number masked to its last four digits: "•••• 4242"."""

    def mask(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
            return match.group(0)
        return f"•••• {digits[-4:]}"

    return _CARD.sub(mask, text)


def redact(text: str) -> str:
    """For logs: cards masked, e-mails, phone numbers and credentials replaced, length capped."""
    text = mask_cards(text)
    text = _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _KEYED_CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _EMAIL.sub("[e-mail]", text)
    text = _PHONE.sub("[phone]", text)
    if len(text) > MAX_LOG_CHARS:
        text = text[:MAX_LOG_CHARS] + f"… [{len(text) - MAX_LOG_CHARS} more characters cut]"
    return text


class RedactingFilter(logging.Filter):
    """Rewrites every record's message (and traceback text) through `redact`; installed on the root
    logger's handlers by the CLI, so no library's log line carries a customer's data or a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logged as it is rather than lost
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add RedactingFilter to every handler of `logger` (the root logger by default), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
