"""Reply latency of the default server under concurrent customers, over REST and the widget's WebSocket.

    python bench/http_latency.py [--levels 1 16 64 200] [--messages 5] [--channels rest ws]

Starts the real server (`python -m bot serve`, the default configuration: generator on, SQLite,
local FAISS) in a subprocess over a fresh index of the sample store, warms it up, then for each level
N runs N conversations at once, each sending `--messages` policy questions one after another. Every
message is worded differently (opener x question x closer), so every one is embedded and retrieved
afresh; the 1-conversation level runs 10 conversations one after another, so its percentiles have
50 samples. A request that gets no reply in `--timeout` seconds is a time-out; a non-200 answer or a
reply of kind "error" is an error.

REST figures are the whole reply; WebSocket figures are the first visible text (the first token
frame, or the reply frame when nothing streamed) and the whole reply. "phrasing_skipped" is what the
server's /health counted while the level ran (generation skipped: busy, over budget, abandoned at
its deadline). The last line is JSON, with the server's resident memory (RSS) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "how many days do I have to return an item?",
    "how much is express shipping to Canada?",
    "can I pay with PayPal?",
    "how do I reset my password?",
    "when is customer support open?",
    "can I cancel my order?",
    "is there a warranty on laptops?",
    "how long do refunds take?",
    "do you ship to Europe?",
    "what is your phone number?",
    "can I return a sale item?",
    "do you offer gift wrapping?",
    "how do I change my shipping address?",
    "what payment methods do you accept?",
    "how long does standard shipping take?",
    "can I exchange an item for a different size?",
]
OPENERS = ["", "Hi, ", "Hello, ", "Quick question: ", "Please tell me: ", "Excuse me, ", "Hey there, ",
           "Good morning, ", "Hi again, ", "One more thing: ", "Hello team, ", "Sorry to bother you, "]
CONTEXTS = ["", " I ordered last week.", " It's for a gift.", " I'm in a hurry.", " I'm a new customer.",
            " Asking for my mom.", " This is my first order.", " Just checking."]
CLOSERS = ["", " Thanks.", " Thank you!", " Cheers.", " Thanks a lot.", " Many thanks.", " Thx", " Please.",
           " Thanks in advance.", " Appreciate it."]


def unique_questions():
    """Differently worded messages (16 x 12 x 8 x 10 = 15,360 before any repeats)."""
    for closer, context, opener, question in itertools.product(CLOSERS, CONTEXTS, OPENERS, QUESTIONS):
        text = opener + question + context + closer
        yield text[0].upper() + text[1:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 1)


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.first_visible: list[float] = []
        self.errors = 0
        self.timeouts = 0
        self.kinds: dict[str, int] = {}

    def summary(self, elapsed: float) -> dict:
        answered = len(self.latencies)
        out = {
            "messages": answered + self.errors + self.timeouts,
            "answers": answered,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "p50_ms": percentile(self.latencies, 0.50),
            "p95_ms": percentile(self.latencies, 0.95),
            "p99_ms": percentile(self.latencies, 0.99),
            "answers_per_s": round(answered / elapsed, 1) if elapsed else None,
            "kinds": dict(sorted(self.kinds.items())),
        }
        if self.first_visible:
            out["first_visible_p50_ms"] = percentile(self.first_visible, 0.50)
            out["first_visible_p95_ms"] = percentile(self.first_visible, 0.95)
        return out


def customer_address(sender: str) -> dict[str, str]:
    """Each simulated customer comes from an address of its own, as real customers do: the server
    runs with this machine as a trusted proxy (BOT_TRUSTED_PROXIES), so the per-address limits stay
    on and apply per customer, not to the one machine the bench runs on."""
    n = zlib.crc32(sender.encode())
    return {"X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}


async def rest_conversation(session, base: str, sender: str, texts: list[str], tally: Tally, timeout: float) -> None:
    for text in texts:
        started = time.perf_counter()
        try:
            async with session.post(base + "/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                    headers=customer_address(sender),
                                    timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                body = await response.json(content_type=None)
        except asyncio.TimeoutError:
            tally.timeouts += 1
            continue
        except aiohttp.ClientError:
            tally.errors += 1
            continue
        kind = body[0]["custom"]["kind"] if response.status == 200 and body else f"http_{response.status}"
        tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
        if response.status != 200 or kind == "error":
            tally.errors += 1
            continue
        tally.latencies.append((time.perf_counter() - started) * 1000)


async def ws_conversation(session, base: str, sender: str, texts: list[str], tally: Tally, timeout: float) -> None:
    try:
        ws = await session.ws_connect(base + "/ws", headers=customer_address(sender), timeout=timeout)
        await ws.receive_json(timeout=timeout)  # hello
    except (asyncio.TimeoutError, aiohttp.ClientError):
        tally.errors += len(texts)
        return
    try:
        for text in texts:
            started = time.perf_counter()
            first = None
            try:
                await ws.send_str(json.dumps({"type": "message", "text": text}))
                while True:
                    frame = await ws.receive_json(timeout=timeout)
                    if first is None and frame["type"] in ("token", "reply"):
                        first = (time.perf_counter() - started) * 1000
                    if frame["type"] != "token":
                        break
            except asyncio.TimeoutError:
                tally.timeouts += 1
                continue
            except (aiohttp.ClientError, TypeError, ValueError):
                tally.errors += 1
                return
            kind = frame.get("kind", frame["type"])
            tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
            if frame["type"] != "reply" or kind == "error":
                tally.errors += 1
                continue
            tally.latencies.append((time.perf_counter() - started) * 1000)
            tally.first_visible.append(first if first is not None else tally.latencies[-1])
    finally:
        await ws.close()


async def skipped(session, base: str) -> dict:
    async with session.get(base + "/health") as r:
        return (await r.json()).get("skipped", {}).get("phrasing", {})


def difference(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}


async def run_level(base: str, channel: str, level: int, messages: int, texts, timeout: float, run_id: str) -> dict:
    conversation = rest_conversation if channel == "rest" else ws_conversation
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        before = await skipped(session, base)
        started = time.perf_counter()
        if level == 1:
            # One customer at a time: 10 conversations in a row, for 50 samples.
            for c in range(10):
                await conversation(session, base, f"{run_id}-{channel}-1-{c}", [next(texts) for _ in range(messages)], tally, timeout)
        else:
            await asyncio.gather(*(
                conversation(session, base, f"{run_id}-{channel}-{level}-{c}", [next(texts) for _ in range(messages)], tally, timeout)
                for c in range(level)
            ))
        elapsed = time.perf_counter() - started
        summary = tally.summary(elapsed)
        summary["phrasing_skipped"] = difference(await skipped(session, base), before)
    return summary


async def wait_healthy(base: str, server: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if server.poll() is not None:
                raise SystemExit(f"the server exited with {server.returncode}")
            try:
                async with session.get(base + "/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the server did not become healthy")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 16, 64, 200], help="concurrent conversations")
    parser.add_argument("--messages", type=int, default=5, help="messages per conversation")
    parser.add_argument("--channels", nargs="+", choices=("rest", "ws"), default=["rest", "ws"])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as a time-out")
    args = parser.parse_args()
    port = free_port()
    texts = itertools.cycle(unique_questions())
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "BOT_DATA_DIR": data_dir, "BOT_LOG_LEVEL": "WARNING", "BOT_TRUSTED_PROXIES": "127.0.0.1/32"}
        subprocess.run([sys.executable, "-m", "bot", "ingest", "--quiet"], cwd=ROOT, env=env, check=True, capture_output=True)
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], cwd=ROOT, env=env)
        result: dict = {}
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_healthy(base, server)
            result["rss_mb_idle"] = round(rss_mb(server.pid), 1)
            # Warm-up (not measured): fills the first batches and caches as a few minutes of traffic would.
            await run_level(base, "rest", 4, 5, texts, args.timeout, "warm")
            for channel in args.channels:
                for level in args.levels:
                    result[f"{channel}_{level}"] = await run_level(base, channel, level, args.messages, texts, args.timeout, "bench")
                    print(json.dumps({f"{channel}_{level}": result[f"{channel}_{level}"]}), file=sys.stderr, flush=True)
            result["rss_mb_after"] = round(rss_mb(server.pid), 1)
            result["cpu_count"] = os.cpu_count()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
