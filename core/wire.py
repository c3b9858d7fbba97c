"""Request bodies at the edge: bytes in, a JSON object out, or a 4xx error that says what is wrong."""

from __future__ import annotations

import json

from core.errors import BadRequest, UnsupportedMediaType

# What a client may call a JSON body. Strict channels (platform webhooks) pass ("application/json",).
LENIENT_JSON_TYPES = ("application/json", "application/octet-stream", "text/plain", "")


def decode_json_object(raw: bytes, content_type: str, accepted: tuple[str, ...] = LENIENT_JSON_TYPES) -> dict:
    if content_type not in accepted:
        raise UnsupportedMediaType(f"expected application/json, got {content_type or 'no content type'}")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body
