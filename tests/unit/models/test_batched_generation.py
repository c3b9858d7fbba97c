"""Continuous batching (models/batched_generation.py) with the tiny GPT-2 and Llama checkpoints of
conftest.py: streams decoded together give the tokens each gives alone, whenever they join; a stream
that stops leaves the batch; adapter states never mix; a failure reaches every stream and the
engine keeps serving."""

from __future__ import annotations

import threading

import pytest

from models import batched_generation
from models.generator import CausalLMGenerator

PROMPTS = ["Can I return shoes?", "Hi", "Where is my parcel? It has been a week and nothing came.", "Do you ship to Canada?",
           "Thanks!"]


def serial_tokens(directory, prompt: str, limit: int = 12, use_adapter: bool | None = None, **options) -> list[int]:
    generator = CausalLMGenerator(directory, max_new_tokens=limit, repetition_penalty=1.0, system_prompt="You help shoppers.",
                                  **options)
    ids, head = generator.prompt_ids(prompt)
    return list(generator._tokens(ids, head, limit, None, None, use_adapter))


def batched(directory, **options) -> CausalLMGenerator:
    generator = CausalLMGenerator(directory, repetition_penalty=1.0, system_prompt="You help shoppers.", max_batch=8, **options)
    generator.warm_up()
    return generator


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_llama_dir"])
def test_streams_started_together_give_what_each_gives_alone(fixture, request):
    directory = request.getfixturevalue(fixture)
    expected = [serial_tokens(directory, prompt) for prompt in PROMPTS]
    generator = batched(directory)
    engine = generator._engine()
    assert engine is not None
    with engine._wake:  # the engine thread waits until every stream is submitted: one batch of five
        streams = [engine.submit(*generator.prompt_ids(prompt), 12, 0.0, 1.0, False) for prompt in PROMPTS]
    assert [list(stream) for stream in streams] == expected
    assert engine.widest == len(PROMPTS)
    assert sum(len(tokens) for tokens in expected) > 3 * len(PROMPTS)  # a real comparison, not empty streams


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_llama_dir"])
def test_a_stream_joining_a_running_batch_gets_its_own_tokens(fixture, request):
    """Joining mid-way pads the shorter cache on the left; the padding must change nothing."""
    directory = request.getfixturevalue(fixture)
    long_one, late = serial_tokens(directory, PROMPTS[2], limit=40), serial_tokens(directory, PROMPTS[1], limit=12)
    generator = batched(directory)
    engine = generator._engine()
    first = engine.submit(*generator.prompt_ids(PROMPTS[2]), 40, 0.0, 1.0, False)
    tokens = [next(first), next(first)]
    second = engine.submit(*generator.prompt_ids(PROMPTS[1]), 12, 0.0, 1.0, False)
    assert list(second) == late
    assert tokens + list(first) == long_one


def test_public_calls_from_many_threads_match_one_at_a_time(tiny_llama_dir):
    expected = [CausalLMGenerator(tiny_llama_dir, max_new_tokens=16, system_prompt="You help shoppers.").generate(p).text
                for p in PROMPTS]
    generator = CausalLMGenerator(tiny_llama_dir, max_new_tokens=16, system_prompt="You help shoppers.", max_batch=4)
    results: dict[int, str] = {}

    def ask(index: int) -> None:
        results[index] = generator.generate(PROMPTS[index]).text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(PROMPTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [results[i] for i in range(len(PROMPTS))] == expected


def test_a_cancelled_or_closed_stream_leaves_and_the_others_finish(tiny_gpt2_dir):
    generator = batched(tiny_gpt2_dir)
    engine = generator._engine()
    expected = serial_tokens(tiny_gpt2_dir, PROMPTS[0], limit=30)
    cancel = threading.Event()
    with engine._wake:
        kept = engine.submit(*generator.prompt_ids(PROMPTS[0]), 30, 0.0, 1.0, False)
        cancelled = engine.submit(*generator.prompt_ids(PROMPTS[1]), 30, 0.0, 1.0, False, cancel)
        closed = engine.submit(*generator.prompt_ids(PROMPTS[3]), 30, 0.0, 1.0, False)
    next(cancelled)
    cancel.set()
    next(closed)
    closed.close()
    assert len(list(cancelled)) < 29
    assert list(kept) == expected
    # Idle again: no rows, no cache, the model's lock free.
    for _ in range(100):
        if not engine._rows:
            break
        threading.Event().wait(0.01)
    assert engine._rows == [] and engine._cache is None and not generator._lock.locked()


def test_adapter_states_are_never_mixed_in_one_batch(tiny_llama_dir, tiny_llama_adapter):
    with_adapter = serial_tokens(tiny_llama_dir, PROMPTS[0], adapter=tiny_llama_adapter, use_adapter=True)
    without = serial_tokens(tiny_llama_dir, PROMPTS[0], adapter=tiny_llama_adapter, use_adapter=False)
    assert with_adapter != without
    for merge in (False, True):
        generator = batched(tiny_llama_dir, adapter=tiny_llama_adapter, merge_adapter=merge)
        engine = generator._engine()
        ids, head = generator.prompt_ids(PROMPTS[0])
        with engine._wake:
            streams = [engine.submit(ids, head, 12, 0.0, 1.0, use) for use in (True, False, True, False)]
        assert [list(s) for s in streams] == [with_adapter, without, with_adapter, without]
        assert engine.widest == 2


def test_a_failing_step_reaches_every_stream_and_the_engine_serves_on(tiny_gpt2_dir, monkeypatch):
    generator = batched(tiny_gpt2_dir)
    engine = generator._engine()
    ids, head = generator.prompt_ids(PROMPTS[0])
    real_step = engine._step

    def broken() -> None:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(engine, "_step", broken)
    with engine._wake:
        streams = [engine.submit(ids, head, 12, 0.0, 1.0, False) for _ in range(3)]
    for stream in streams:
        with pytest.raises(RuntimeError, match="out of memory"):
            list(stream)
    monkeypatch.setattr(engine, "_step", real_step)
    assert list(engine.submit(ids, head, 12, 0.0, 1.0, False)) == serial_tokens(tiny_gpt2_dir, PROMPTS[0])


def test_a_model_whose_cache_cannot_be_batched_decodes_one_stream_at_a_time(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setattr(batched_generation, "batchable", lambda cache: False)
    generator = batched(tiny_gpt2_dir)
    assert generator._engine() is None
    assert generator.generate(PROMPTS[0], max_new_tokens=12).text == \
        CausalLMGenerator(tiny_gpt2_dir, repetition_penalty=1.0, system_prompt="You help shoppers.").generate(
            PROMPTS[0], max_new_tokens=12).text
