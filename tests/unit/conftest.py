"""Unit-test fixtures. The shared fakes come from tests/fakes.py (tests/conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import pytest
import torch
from fakes import HashEmbedder

from bot.conversations import SQLiteConversationStore


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
async def store(tmp_path):
    """The real SQLite conversation store, in a fresh file."""
    store = SQLiteConversationStore(tmp_path / "conversations.sqlite3")
    await store.open()
    yield store
    await store.close()


# ---------------------------------------------------------------------- tiny checkpoints (models/, training/)

WORDS = ("you have thirty days from delivery to return an item refunds take five business days the "
         "warranty covers two years of defects how many do i what is long can we ship canada europe").split()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A BertForQuestionAnswering directory small enough to train in seconds."""
    from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-reader")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS)), "?", ".", ","]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)})
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertForQuestionAnswering(config).save_pretrained(directory)
    return directory




# ---------------------------------------------------------------------- tiny causal LMs (models/generator.py)

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LM_CORPUS = [
    "You have thirty days from delivery to return an item. Refunds take five business days.",
    "I'm sorry, I couldn't find that in our store's information. Would you like me to connect you with our team?",
    "Customer: how long do I have to return an item? Assistant: You have 30 days to return it.",
    "Here are some options that are in stock: Corvid Go 14 Laptop (SKU NW-LAP-0001) for $549.00.",
    "I'd be glad to help you cancel your order. Please share your order number and our support team will help.",
    "system user assistant Question Fact Answer Request Products Thanks for reaching out",
] * 3


def _byte_level_tokenizer(special: list[str], eos: str, chat_template: str | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(LM_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=eos, pad_token=eos)
    if chat_template:
        fast.chat_template = chat_template
    return fast


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory):
    """A GPT-2 checkpoint directory built from a config (byte-level BPE, no chat template, random weights)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    directory = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = _byte_level_tokenizer(["<|endoftext|>"], "<|endoftext|>", None)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=32, n_layer=2, n_head=2, bos_token_id=eos, eos_token_id=eos)
    GPT2LMHeadModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A Llama checkpoint directory (the SmolLM2 architecture, tiny) with a ChatML chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = _byte_level_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "<|im_end|>", CHATML)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=512, eos_token_id=eos, pad_token_id=eos, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_llama_adapter(tiny_llama_dir, tmp_path_factory):
    """A LoRA adapter on the tiny Llama whose weights are not zero, so it changes what is generated."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                           LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"]))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    directory = tmp_path_factory.mktemp("tiny-llama-lora")
    model.save_pretrained(directory)
    return directory
