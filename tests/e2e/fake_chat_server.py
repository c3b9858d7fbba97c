"""A tiny stand-in for the bot's HTTP/WebSocket server, used by the browser tests.

It implements exactly the public contract the web widget relies on:

* ``GET /``                -> ``bot/static/index.html`` (the demo store page)
* ``GET /static/{file}``   -> files from ``bot/static/``
* ``GET /ws[?session=<token>]`` -> WebSocket:
    - server -> client first frame: ``{"type": "hello", "session": "<token>", "conversation_id": ... }``
      (the token the client sent back, or a new one; ``conversation_id`` null until the first message)
    - client -> server: ``{"type": "message", "text": "...", "message_id": "..."}``
    - server -> client: ``{"type": "reply", "conversation_id": "...", "text": "...",
      "sources": [{"document", "title", "passage", "score"}], "confidence": 0.74,
      "products": []}``
    - server -> client: ``{"type": "error", "error": "..."}``

Canned behaviour (only the fake server does this; tests that rely on it check
``chat_server.canned``):

* text ``trigger-error``            -> an ``error`` frame
* text containing ``xss``           -> a reply whose text, source title and passage
                                       contain ``<img src=x onerror="window.__xss=1">``
* text containing ``unsure``        -> a reply with no sources and low confidence
* anything else                     -> a few ``token`` frames plus an unknown frame
                                       type (the widget must cope), then a reply
                                       with two sources.

Run standalone:  python tests/e2e/fake_chat_server.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
from pathlib import Path

from aiohttp import WSMsgType, web

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATIC_DIR = REPO_ROOT / "bot" / "static"

XSS_PAYLOAD = '<img src=x onerror="window.__xss=1">'
MAX_MESSAGE_CHARS = 2000
REPLY_DELAY_S = float(os.environ.get("FAKE_CHAT_REPLY_DELAY", "0.3"))

STATIC_DIR_KEY = web.AppKey("static_dir", Path)
LOG_KEY = web.AppKey("log", list)
SOCKETS_KEY = web.AppKey("sockets", set)

_DOCS = {
    "returns": {
        "document": "policies/returns.md",
        "title": "Returns & Refunds Policy",
        "passage": (
            "Unworn items in their original packaging can be returned within 30 days "
            "of delivery for a full refund to the original payment method."
        ),
    },
    "shipping": {
        "document": "policies/shipping.md",
        "title": "Shipping Information",
        "passage": (
            "Standard shipping takes 3-5 business days. Orders over $75 ship free "
            "within the continental United States."
        ),
    },
    "warranty": {
        "document": "policies/warranty.pdf",
        "title": "Lifetime Gear Warranty",
        "passage": (
            "Northwind Outfitters repairs or replaces any gear that fails because of a "
            "manufacturing defect, for the lifetime of the product."
        ),
    },
}


def _canned_reply(text: str, conversation_id: str) -> dict:
    lowered = text.lower()
    if "xss" in lowered:
        return {
            "type": "reply",
            "conversation_id": conversation_id,
            "text": f"Here is some markup: {XSS_PAYLOAD} (it must show as text).",
            "sources": [
                {
                    "document": "evil/<script>.md",
                    "title": f"Evil title {XSS_PAYLOAD}",
                    "passage": f"Evil passage {XSS_PAYLOAD} end.",
                    "score": 0.66,
                }
            ],
            "confidence": 0.5,
            "products": [],
        }
    if "unsure" in lowered:
        return {
            "type": "reply",
            "conversation_id": conversation_id,
            "text": "I'm not sure about that. Let me connect you with a human agent.",
            "sources": [],
            "confidence": 0.12,
            "products": [],
        }
    ranked = sorted(
        _DOCS,
        key=lambda k: (k not in lowered, k not in ("returns", "shipping")),
    )
    first, second = ranked[0], ranked[1]
    return {
        "type": "reply",
        "conversation_id": conversation_id,
        "text": (
            f"According to our {_DOCS[first]['title']}: {_DOCS[first]['passage']} "
            "Anything else I can help with?"
        ),
        "sources": [
            dict(_DOCS[first], score=0.87),
            dict(_DOCS[second], score=0.41),
        ],
        "confidence": 0.74,
        "products": [],
    }


async def index(request: web.Request) -> web.StreamResponse:
    static_dir: Path = request.app[STATIC_DIR_KEY]
    return web.FileResponse(static_dir / "index.html")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "fake": True})


async def message_log(request: web.Request) -> web.Response:
    return web.json_response(request.app[LOG_KEY])


async def ws_handler(request: web.Request) -> web.StreamResponse:
    session = request.query.get("session", "").strip()
    if not re.fullmatch(r"v1\.fake-[0-9a-f]{16}\.fake", session):
        session = f"v1.fake-{secrets.token_hex(8)}.fake"  # a new session, as the real server issues one
    sender = session.split(".")[1]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    request.app[SOCKETS_KEY].add(ws)
    try:
        await _converse(request, ws, sender, session)
    finally:
        request.app[SOCKETS_KEY].discard(ws)
    return ws


async def _converse(request: web.Request, ws: web.WebSocketResponse, sender: str, session: str) -> None:
    conversation_id = f"conv-{sender}"
    started = any(entry["sender"] == sender for entry in request.app[LOG_KEY])
    await ws.send_json({"type": "hello", "session": session, "conversation_id": conversation_id if started else None})

    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            frame = json.loads(msg.data)
        except ValueError:
            await ws.send_json({"type": "error", "error": "Malformed message."})
            continue
        if not isinstance(frame, dict) or frame.get("type") != "message":
            await ws.send_json({"type": "error", "error": "Unsupported frame type."})
            continue
        text = frame.get("text")
        request.app[LOG_KEY].append({"sender": sender, "text": text})
        if not isinstance(text, str) or not text.strip():
            await ws.send_json({"type": "error", "error": "Please type a message first."})
            continue
        if len(text) > MAX_MESSAGE_CHARS:
            await ws.send_json(
                {"type": "error", "error": f"Messages are limited to {MAX_MESSAGE_CHARS} characters."}
            )
            continue
        text = text.strip()
        if text == "trigger-error":
            await asyncio.sleep(REPLY_DELAY_S / 2)
            await ws.send_json(
                {"type": "error", "error": "Sorry, something went wrong on our side (test error)."}
            )
            continue
        await asyncio.sleep(REPLY_DELAY_S)
        reply = _canned_reply(text, conversation_id)
        if reply["sources"] and "xss" not in text.lower():
            # Exercise forward compatibility: streaming tokens + an unknown frame type.
            await ws.send_json({"type": "mystery", "payload": {"x": 1}})
            for word in reply["text"].split(" ")[:4]:
                await ws.send_json({"type": "token", "text": word + " "})
        await ws.send_json(reply)


async def _close_sockets(app: web.Application) -> None:
    # Graceful shutdown (SIGTERM): say goodbye (1001 "going away") instead of letting
    # aiohttp wait for open WebSocket handlers until its shutdown timeout.
    for ws in list(app[SOCKETS_KEY]):
        await ws.close(code=1001, message=b"server shutdown")


def make_app(static_dir: Path) -> web.Application:
    app = web.Application()
    app[STATIC_DIR_KEY] = static_dir
    app[LOG_KEY] = []
    app[SOCKETS_KEY] = set()
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/__fake/log", message_log)
    app.router.add_get("/ws", ws_handler)
    app.router.add_static("/static/", static_dir, show_index=False)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--static-dir", type=Path, default=DEFAULT_STATIC_DIR)
    args = parser.parse_args(argv)
    print(f"fake chat server on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    web.run_app(
        make_app(args.static_dir),
        host=args.host,
        port=args.port,
        print=None,
        reuse_address=True,
        shutdown_timeout=2.0,
    )


if __name__ == "__main__":
    main()
