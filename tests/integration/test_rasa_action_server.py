"""The Rasa action server for real: `python -m bot actions` in its own process over a copy of the
sample index, called the way Rasa calls it; and the product recommender over the real sample store."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from platforms import rasa_action_call

from bot.conversations import SQLiteConversationStore
from core.settings import SAMPLE_STORE, Settings
from knowledge_base.recommend import ProductRecommender

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
RETURN_QUESTION = "How many days do I have to return an item?"
LAPTOP_REQUEST = "I need a laptop for school under $800"
STARTUP_SECONDS = 60


def catalog_rows() -> dict[str, dict[str, str]]:
    with (SAMPLE_STORE / "catalog.csv").open(encoding="utf-8") as fh:
        return {row["sku"]: row for row in csv.DictReader(fh)}


def test_laptop_for_school_under_800_over_the_sample_store(sample_answerer):
    recommender = ProductRecommender(sample_answerer.retriever)
    recommender.warm_up()
    found = recommender.run(LAPTOP_REQUEST)
    assert found.constraints.max_price == 800 and found.constraints.categories == ("Laptops",)
    assert found.products
    rows = catalog_rows()
    for product in found.products:
        row = rows[product.sku]  # only catalog products, with the catalog's own figures
        assert (row["title"], row["category"], float(row["price"]), int(row["stock"])) == (
            product.title, product.category, product.price, product.stock,
        )
        assert product.category == "Laptops" and product.price <= 800 and product.stock > 0
    cheapest = min(float(r["price"]) for r in rows.values() if r["category"] == "Laptops")
    none = recommender.run(f"a laptop under ${cheapest - 1:.0f}")
    assert none.products == () and none.unmet == "price"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def action_server(data_dir, tmp_path):
    port = free_port()
    log_path = tmp_path / "actions.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--data-dir", str(data_dir), "actions", "--port", str(port)],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"action server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if http("GET", base + "/health") == (200, {"status": "ok"}):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"action server not up after {STARTUP_SECONDS}s:\n{log_path.read_text()}")
            time.sleep(0.25)
        yield base, process, log_path
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_action_server_answers_recommends_and_hands_off(action_server, data_dir):
    base, process, log_path = action_server

    status, actions = http("GET", base + "/actions")
    assert status == 200
    assert {a["name"] for a in actions} == {
        "action_answer_from_knowledge_base", "action_recommend_products", "action_handoff_to_human",
    }

    status, result = http("POST", base + "/webhook", rasa_action_call("action_answer_from_knowledge_base", RETURN_QUESTION, sender="it-1"))
    assert status == 200, result
    [reply] = result["responses"]
    assert "30 days" in reply["text"]
    custom = reply["custom"]
    assert custom["kind"] == "answer" and custom["confidence"] >= 0.6
    source = custom["sources"][0]
    assert source["document"].startswith("sample_store/") and "30 days" in source["passage"]
    assert result["events"] == [
        {"event": "slot", "timestamp": None, "name": "kb_answer_found", "value": True},
        {"event": "slot", "timestamp": None, "name": "kb_confidence", "value": custom["confidence"]},
        {"event": "slot", "timestamp": None, "name": "kb_source", "value": source["document"]},
    ]

    status, result = http("POST", base + "/webhook", rasa_action_call("action_recommend_products", LAPTOP_REQUEST, sender="it-2"))
    assert status == 200, result
    [reply] = result["responses"]
    products = reply["custom"]["products"]
    assert products and all(p["category"] == "Laptops" and p["price"] <= 800 for p in products)
    assert all(f"(SKU {p['sku']})" in reply["text"] for p in products)
    assert result["events"] == [
        {"event": "slot", "timestamp": None, "name": "recommended_skus", "value": [p["sku"] for p in products]}
    ]

    status, result = http("POST", base + "/webhook", rasa_action_call("action_handoff_to_human", "I want to talk to a person", sender="it-3"))
    assert status == 200, result
    assert Settings().support_hours in result["responses"][0]["text"]
    assert result["events"][-1] == {"event": "pause", "timestamp": None}

    status, result = http("POST", base + "/webhook", rasa_action_call("action_nope", "hi", sender="it-4"))
    assert status == 404 and result["action_name"] == "action_nope"

    process.terminate()
    assert process.wait(timeout=15) == 0
    log = log_path.read_text()
    assert "Traceback" not in log, log

    # The handoff is in the conversation store the agent console reads (GET /api/handoffs).
    store = SQLiteConversationStore(Settings(data_dir=data_dir).database_path)
    await store.open()
    try:
        [waiting] = await store.handoffs()
        assert (waiting.channel, waiting.sender, waiting.handoff_reason) == ("rasa", "it-3", "contact_human_agent")
    finally:
        await store.close()
