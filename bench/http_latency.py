"""HTTP round-trip latency of the REST webhook on the sample store, at 1 and 16 concurrent conversations.

    python bench/http_latency.py [--requests 200] [--concurrency 1 16]

Starts the real server (`python -m bot serve`) in a subprocess over a fresh index of the sample
store, warms it up, then sends policy questions, twice per concurrency level:
- "repeated": the same 10 questions over and over (query vectors come from the embedder's cache);
- "unique": every message worded differently ("Hi, ... Thanks."), so every message is embedded.
Last line: JSON with p50/p95 per level and the server's resident memory (RSS) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How many days do I have to return an item?",
    "How much is express shipping to Canada?",
    "Can I pay with PayPal?",
    "How do I reset my password?",
    "When is customer support open?",
    "Can I cancel my order?",
    "Is there a warranty on laptops?",
    "How long do refunds take?",
    "Do you ship to Europe?",
    "What is your phone number?",
]


OPENERS = ["", "Hi, ", "Hello, ", "Quick question: ", "Please tell me: ", "Excuse me, ", "Hey there, ", "Good morning, "]
CLOSERS = ["", " Thanks.", " Thank you!", " Cheers.", " Thanks a lot.", " Many thanks."]
_unique = iter(range(10**9))


def unique_question(i: int) -> str:
    """A differently worded message every call (8 x 6 x 10 = 480 before any repeats)."""
    n = next(_unique)
    question = QUESTIONS[i % len(QUESTIONS)]
    opener, closer = OPENERS[n % len(OPENERS)], CLOSERS[(n // len(OPENERS)) % len(CLOSERS)]
    return opener + (question[0].lower() + question[1:] if opener else question) + closer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def run_level(url: str, concurrency: int, total: int, unique: bool = False) -> dict:
    latencies: list[float] = []
    counter = iter(range(total))

    async def conversation(worker: int, session: aiohttp.ClientSession) -> None:
        for i in counter:
            text = unique_question(i) if unique else QUESTIONS[i % len(QUESTIONS)]
            body = {"sender": f"bench-{concurrency}-{worker}-{'u' if unique else 'r'}", "message": text}
            started = time.perf_counter()
            async with session.post(url, json=body) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append((time.perf_counter() - started) * 1000)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(conversation(w, session) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "throughput_rps": round(len(latencies) / elapsed, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "BOT_DATA_DIR": data_dir, "BOT_LOG_LEVEL": "WARNING",
               # Each benchmark conversation sends hundreds of messages: the per-sender limit would only measure 429s.
               "BOT_RATE_LIMIT_PER_MINUTE": "0"}
        subprocess.run([sys.executable, "-m", "bot", "ingest", "--quiet"], cwd=ROOT, env=env, check=True, capture_output=True)
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], cwd=ROOT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session:
                for _ in range(240):
                    try:
                        async with session.get(base + "/health") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.5)
            result: dict = {"rss_mb_idle": round(rss_mb(server.pid), 1)}
            await run_level(base + "/webhooks/rest/webhook", 4, 40)  # warm-up, not measured
            for level in args.concurrency:
                for mode in ("repeated", "unique"):
                    result[f"concurrency_{level}_{mode}"] = await run_level(
                        base + "/webhooks/rest/webhook", level, args.requests, unique=mode == "unique"
                    )
            result["rss_mb_after"] = round(rss_mb(server.pid), 1)
            result["cpu_count"] = os.cpu_count()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
