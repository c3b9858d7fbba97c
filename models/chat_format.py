"""Prompts as a causal LM reads them: the tokenizer's chat template when it has one, a plain
"Customer:/Assistant:" text otherwise (GPT-2); the stop tokens of either. Training (training/lm.py)
encodes its examples with the same functions.
"""

from __future__ import annotations

from typing import Mapping, Sequence

# Plain prompts (a tokenizer without a chat template, e.g. GPT-2) are rendered with these roles.
PLAIN_ROLES = {"system": "", "user": "Customer:", "assistant": "Assistant:"}

PLAIN_STOP = ("\nCustomer:", "\nAssistant:")
Messages = Sequence[Mapping[str, str]]


def as_messages(prompt: str | Messages, system: str | None = None) -> list[dict[str, str]]:
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
    if system is not None and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_prompt(tokenizer, messages: Messages) -> str:
    """The text the model continues: the chat template with the assistant's turn opened, or plain roles."""
    messages = as_messages(messages)
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    parts = []
    for m in messages:
        label = PLAIN_ROLES.get(m["role"], m["role"].capitalize() + ":")
        parts.append(f"{label} {m['content']}".strip() + ("\n" if m["role"] == "system" else ""))
    return "\n".join(parts + [PLAIN_ROLES["assistant"]])


def render_response(tokenizer, messages: Messages, response: str) -> str:
    """What follows `render_prompt(messages)` when the assistant says `response` and ends its turn."""
    messages = as_messages(messages)
    if has_chat_template(tokenizer):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(prompt):
            tail = full[len(prompt):]
            eos = tokenizer.eos_token or ""
            # The turn ends at the end-of-turn token; what a template writes after it is not the reply's.
            return tail[: tail.index(eos) + len(eos)] if eos and eos in tail else tail
        return response + (tokenizer.eos_token or "")
    return " " + response + (tokenizer.eos_token or "\n")


def encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def stop_token_ids(tokenizer, model=None) -> set[int]:
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None) if model is not None else None
    for value in config_eos if isinstance(config_eos, (list, tuple)) else [config_eos]:
        if value is not None:
            ids.add(int(value))
    for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"):
        token_id = tokenizer.convert_tokens_to_ids(token) if token in tokenizer.get_vocab() else None
        if token_id is not None:
            ids.add(int(token_id))
    return ids
