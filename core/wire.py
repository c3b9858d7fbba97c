"""Request bodies at the edge: bytes in, a JSON object out, or a 4xx error that says what is wrong.

Nesting is bounded before parsing: Python's parser recurses, so a body nested 30,000 deep would
otherwise end in RecursionError (a 500, or a broken WebSocket) instead of a 400.
"""

from __future__ import annotations

import json

from core.errors import BadRequest, UnsupportedMediaType

# What a client may call a JSON body. Strict channels (platform webhooks) pass ("application/json",).
LENIENT_JSON_TYPES = ("application/json", "application/octet-stream", "text/plain", "")
# Deeper than any payload a channel sends (Slack's blocks nest about 8 levels).
MAX_JSON_DEPTH = 32


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


def decode_json_text(text: str, subject: str = "text", max_depth: int = MAX_JSON_DEPTH) -> object:
    """Any JSON value from `text`, or BadRequest naming `subject` ("request body", "frame"): nested
    too deep, or not JSON."""
    too_deep = BadRequest(f"{subject} is JSON nested deeper than {max_depth} levels", max_depth=max_depth)
    # str.count runs in C: a text with no more brackets than the limit cannot nest past it, so
    # ordinary messages skip the character-by-character scan.
    if text.count("[") + text.count("{") > max_depth and json_depth(text) > max_depth:
        raise too_deep
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{subject} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:  # belt and braces: the depth check should have caught it
        raise too_deep from None


def decode_json_object(raw: bytes, content_type: str, accepted: tuple[str, ...] = LENIENT_JSON_TYPES) -> dict:
    if content_type not in accepted:
        raise UnsupportedMediaType(f"expected application/json, got {content_type or 'no content type'}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    body = decode_json_text(text, "request body")
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body
